"""Train the Eyeglasses / Sunglasses / Beard / Mustache / FaceOccluded classifiers.

    python models/export/train_accessories.py ../shared/eval [--out models/weights/accessories_v1.npz]

Data: the "tune" half of benchmarks/data/attribute_labels.csv (real faces, labelled by hand),
each face also drawn over several times with glasses, sunglasses, beards, mustaches and
occluders (export/draw_accessories.py; mask textures from insightface==2.1's wheel, fetched
with pip). The held-out half is never read here. Each attribute is an L2-regularised logistic
regression on its region's features (models/accessories.py); the regularisation is chosen by
5-fold cross-validation grouped by person, and the output is calibrated by Platt scaling on
the out-of-fold scores. Deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE), str(ROOT / "benchmarks")]

import draw_accessories as draw  # noqa: E402
import export_all  # noqa: E402
from common import image_bytes  # noqa: E402

from facelake.models import accessories as acc  # noqa: E402
from facelake.models.analyzer import FaceAnalyzer  # noqa: E402
from facelake.models.geometry import apply, similarity_transform  # noqa: E402
from facelake.models.images import decode  # noqa: E402

# member -> (label column, block rows, block columns) of models/accessories.py's features
REGIONS = {
    "Eyeglasses": ((3, 8), (0, acc.BLOCKS_X)),
    "Sunglasses": ((3, 8), (0, acc.BLOCKS_X)),
    "Beard": ((7, acc.BLOCKS_Y), (1, acc.BLOCKS_X - 1)),  # the outer columns hold background and ears
    "Mustache": ((7, 10), (2, 9)),
    "FaceOccluded": ((0, acc.BLOCKS_Y), (0, acc.BLOCKS_X)),
}
COLUMNS = {"Eyeglasses": "eyeglasses", "Beard": "beard", "Mustache": "mustache", "FaceOccluded": "face_occluded"}
LAMBDAS = (1.0, 10.0, 100.0, 1000.0, 3000.0, 10000.0)
COMPONENTS = 300  # principal components of a region's features the regression sees
REAL_WEIGHT = 10.0  # a real face's sample weight relative to a drawn one
VERSION = "accessories-v1"


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


def fit_logistic(z: np.ndarray, y: np.ndarray, lam: float, weight: np.ndarray,
                 iters: int = 25) -> tuple[np.ndarray, float]:
    """Weighted L2-regularised logistic regression by Newton's method; returns (w, b)."""
    n, k = z.shape
    x = np.hstack([z, np.ones((n, 1))])
    reg = lam * np.eye(k + 1)
    reg[-1, -1] = 0.0  # the bias is not shrunk
    w = np.zeros(k + 1)
    for _ in range(iters):
        p = sigmoid(x @ w)
        grad = x.T @ (weight * (p - y)) + reg @ w
        hess = (x * (weight * p * (1 - p))[:, None]).T @ x + reg + 1e-6 * np.eye(k + 1)
        w -= np.linalg.solve(hess, grad)
    return w[:-1], float(w[-1])


def platt(logits: np.ndarray, y: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """Platt scaling p = sigmoid(a * logit + b), fitted by Newton's method on Platt's smoothed
    targets ((N+ + 1) / (N+ + 2) and 1 / (N- + 2)), which keep it finite on separable scores."""
    pos = float((weight * y).sum() / weight.mean())
    neg = float((weight * (1 - y)).sum() / weight.mean())
    target = np.where(y == 1, (pos + 1) / (pos + 2), 1 / (neg + 2))
    a, b = 1.0, 0.0
    for _ in range(50):
        p = sigmoid(a * logits + b)
        g = np.array([(weight * (p - target) * logits).sum(), (weight * (p - target)).sum()])
        s = weight * p * (1 - p)
        h = np.array([[(s * logits ** 2).sum(), (s * logits).sum()], [(s * logits).sum(), s.sum()]]) + 1e-6 * np.eye(2)
        a, b = np.array([a, b]) - np.linalg.solve(h, g)
    return float(a), float(b)


def load_faces(eval_dir: Path, split: str) -> list[dict]:
    """Labelled faces of one split: 4x canonical crop, mesh points in it, labels, person."""
    rows = csv.DictReader(open(ROOT / "benchmarks" / "data" / "attribute_labels.csv"))
    labels = [r for r in rows if r["split"] == split]
    identities = {r["file"]: r["identity"] for r in csv.DictReader(open(eval_dir / "deepface" / "identities.csv"))}
    analyzer = FaceAnalyzer()
    wheels: dict = {}
    images: dict = {}
    out = []
    for lab in labels:
        key = (lab["source"], lab["file"])
        if key not in images:
            img = decode(image_bytes(eval_dir, *key, wheels))
            images[key] = (img, analyzer.analyze(img, embed=False))
        img, faces = images[key]
        c = np.array([float(lab["center_x"]) * img.width, float(lab["center_y"]) * img.height])
        face = min(faces, key=lambda f: np.linalg.norm((f.box[:2] + f.box[2:]) / 2 - c))
        mesh = face.mesh.points
        m = similarity_transform(acc.canonical_points(mesh), acc.CANONICAL * draw.S)
        out.append({"crop": acc.aligned_face(img.rgb, mesh, draw.S), "pts": apply(m, mesh[:, :2]), "labels": lab,
                    "person": identities.get(lab["file"], f"{lab['file']}@{lab['center_x']}")})
    return out


def mask_textures() -> list[np.ndarray]:
    wheel = {}
    return [decode(image_bytes(None, "insightface==2.1", f"mask_{c}.jpg", wheel)).rgb
            for c in ("black", "blue", "green", "white")]


def variants(face: dict, rng: np.random.Generator, masks: list[np.ndarray]) -> list[tuple[np.ndarray, dict]]:
    """The face as it is and with drawn accessories, each with its labels (True/False/None)."""
    lab = face["labels"]

    def real(col):
        return {"Y": True, "N": False}.get(lab[col])

    base = {m: real(c) for m, c in COLUMNS.items()}
    base["Sunglasses"] = False if base["Eyeglasses"] is not None else None  # no real sunglasses in the set
    img, pts = face["crop"], face["pts"]
    out = [(img, base)]
    for _ in range(2):
        out.append((draw.glasses(img, pts, rng, sun=False), {**base, "Eyeglasses": True, "Sunglasses": False}))
    out.append((draw.glasses(img, pts, rng, sun=True), {**base, "Eyeglasses": True, "Sunglasses": True}))
    if base["Beard"] is False:
        with_m = bool(rng.random() < 0.7)
        out.append((draw.beard(img, pts, rng, with_m), {**base, "Beard": True, "Mustache": with_m or base["Mustache"]}))
    if base["Mustache"] is False:
        out.append((draw.mustache(img, pts, rng), {**base, "Mustache": True}))
    if base["Beard"] is False:
        out.append((draw.beard(img, pts, rng, True, density=(0.1, 0.25)), base))  # light stubble
    for _ in range(2):
        out.append((draw.occluder(img, pts, rng, masks), {**base, "FaceOccluded": True}))
    if base["Beard"] is False:
        both = draw.beard(draw.glasses(img, pts, rng, sun=bool(rng.random() < 0.3)), pts, rng, True)
        out.append((both, {**base, "Eyeglasses": True, "Sunglasses": None, "Beard": True, "Mustache": True}))
    return out


def to_sample(img: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """Features of a 4x crop at the canonical size; with ``rng``, degraded and flipped at random."""
    small = cv2.resize(img, (acc.WIDTH, acc.HEIGHT), interpolation=cv2.INTER_AREA)
    if rng is not None:
        if rng.random() < 0.75:
            small = draw.degrade(small, rng)
        if rng.random() < 0.5:
            small = small[:, ::-1].copy()
    return acc.features(small)


def samples(faces: list[dict], repeats: int, rng: np.random.Generator):
    """Features, labels, cross-validation fold (faces grouped by person) and drawn-or-real of
    every training sample."""
    persons = sorted({f["person"] for f in faces})
    fold_of = {p: i % 5 for i, p in enumerate(rng.permutation(persons))}
    masks = mask_textures()
    x, labels, folds, synthetic = [], [], [], []
    for face in faces:
        for r in range(repeats):
            for k, (img, lab) in enumerate(variants(face, rng, masks)):
                if k == 0 and r > 0:
                    x.append(to_sample(img, rng))  # the real face, degraded and flipped
                else:
                    x.append(to_sample(img, rng if r > 0 or k > 0 else None))
                labels.append(lab)
                folds.append(fold_of[face["person"]])
                synthetic.append(k > 0)
    return np.stack(x), labels, np.array(folds), np.array(synthetic)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("eval_dir", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "models" / "weights" / "accessories_v1.npz")
    ap.add_argument("--repeats", type=int, default=3, help="random drawings of each variant per face")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    faces = load_faces(args.eval_dir, "tune")
    x, labels, folds, synthetic = samples(faces, args.repeats, rng)
    print(f"{len(faces)} tune faces -> {len(x)} samples ({synthetic.sum()} with drawings)")
    weights = train(x, labels, folds, synthetic)
    save(weights, args.out)


def train(x, labels, folds, synthetic) -> dict[str, np.ndarray]:
    """Per attribute: standardise its region's features, project on their top principal
    components, fit the logistic regression there (regularisation by 5-fold cross-validation
    grouped by person), calibrate by Platt scaling on the out-of-fold scores, and fold the
    projection back into one weight vector over the region's features."""
    weights: dict[str, np.ndarray] = {"version": np.array(VERSION)}
    for member, (rows, cols) in REGIONS.items():
        known = np.array([lab[member] is not None for lab in labels])
        y = np.array([bool(lab[member]) for lab in labels], float)[known]
        idx = acc.region_index(rows, cols)
        xs = x[known][:, idx].astype(np.float64)
        mean, scale = xs.mean(0), xs.std(0) + 1e-3
        z = (xs - mean) / scale
        basis = np.linalg.svd(z, full_matrices=False)[2][:COMPONENTS].T
        zr = z @ basis
        syn, fold = synthetic[known], folds[known]
        # positives and negatives weigh the same in total; a real face REAL_WEIGHT drawn ones
        wt = np.where(y == 1, 0.5 / max(y.sum(), 1), 0.5 / max((1 - y).sum(), 1)) * np.where(syn, 1.0, REAL_WEIGHT)
        wt = wt / wt.mean()
        best = None
        for lam in LAMBDAS:
            oof = np.zeros(len(y))
            for f in range(5):
                w, b = fit_logistic(zr[fold != f], y[fold != f], lam, wt[fold != f])
                oof[fold == f] = zr[fold == f] @ w + b
            p = sigmoid(oof)
            loss = -(wt * (y * np.log(p + 1e-9) + (1 - y) * np.log(1 - p + 1e-9))).sum() / wt.sum()
            real_acc = ((p[~syn] >= 0.5) == y[~syn]).mean()
            print(f"  {member:12s} lambda {lam:7.0f}: out-of-fold weighted log loss {loss:.3f}, "
                  f"real-face accuracy {real_acc:.3f}")
            if best is None or loss < best[0]:
                best = (loss, lam, oof)
        _, lam, oof = best
        w, b = fit_logistic(zr, y, lam, wt)
        a, c = platt(oof, y, wt)
        print(f"  {member:12s} chose lambda {lam}; {int(y.sum())} positives / {len(y)} "
              f"({int(y[~syn].sum())} of them real); Platt a={a:.3f} b={c:.3f}")
        weights.update({f"{member}/index": idx.astype(np.int32), f"{member}/mean": mean.astype(np.float32),
                        f"{member}/scale": scale.astype(np.float32), f"{member}/w": (basis @ w).astype(np.float32),
                        f"{member}/b": np.float32(b), f"{member}/platt": np.array([a, c], np.float32)})
    return weights


def save(weights: dict[str, np.ndarray], out: Path) -> None:
    """Write the weights and their manifest entry."""
    np.savez_compressed(out, **weights)
    export_all.record("accessories", {
        "family": "facelake-accessories", "version": VERSION, "file": out.name,
        "source": "trained by models/export/train_accessories.py (benchmarks/data/attribute_labels.csv, "
                  "tune half, with drawn accessories; mask textures from insightface==2.1)",
        "path": "-", "license": "Apache-2.0 (facelake's own; trained on the photos listed in benchmarks)",
        "inputs": {"features": "models/accessories.py: HOG, cell brightness and chroma of a 96x112 canonical crop"},
        "outputs": {"<member>/w, b, platt": "logistic weights and calibration per attribute"}}, out)

if __name__ == "__main__":
    main()
