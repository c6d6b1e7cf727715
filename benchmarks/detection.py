"""Detection recall and false positives on dlib's example faces (hand-drawn boxes).

    python benchmarks/detection.py ../shared/eval/dlib_faces [--no-peer]

A ground-truth box is found when a detection overlaps it at IoU >= 0.5 (and, since annotation
styles differ, at >= 0.3); a detection that overlaps no ground-truth box at IoU >= 0.3 is a
false positive. Beside it, face_recognition's HOG detector (upsample 1) on the same photos;
dlib's detector was probably trained on these boxes, so its figures flatter it.
"""

from __future__ import annotations

import argparse
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from common import iou, machine

from facelake.models.analyzer import FaceAnalyzer
from facelake.models.images import load


NO_FACE = ("dogs.jpg",)


def ground_truth(folder: Path) -> dict[str, list[tuple[float, float, float, float]]]:
    truth: dict[str, list] = {}
    for xml in ("training.xml", "testing.xml"):
        for image in ET.parse(folder / xml).getroot().iter("image"):
            boxes = truth.setdefault(image.get("file"), [])
            for b in image.iter("box"):
                if b.get("ignore") == "1":
                    continue
                x, y, w, h = (float(b.get(k)) for k in ("left", "top", "width", "height"))
                boxes.append((x, y, x + w, y + h))
    for name in NO_FACE:  # photos with no human face count for false positives
        if (folder / name).exists():
            truth.setdefault(name, [])
    return truth  # bald_guys.jpg and Tom_Cruise_avp_2014_4.jpg carry no boxes: left out


def score(truth, found) -> dict[str, float]:
    tp50 = tp30 = fp = total = 0
    for name, gt in truth.items():
        det = found[name]
        total += len(gt)
        tp50 += sum(any(iou(g, d) >= 0.5 for d in det) for g in gt)
        tp30 += sum(any(iou(g, d) >= 0.3 for d in det) for g in gt)
        fp += sum(not any(iou(g, d) >= 0.3 for g in gt) for d in det)
    return {"boxes": total, "recall@0.5": tp50 / total, "recall@0.3": tp30 / total, "false_positives": fp}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path)
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args()
    truth = ground_truth(args.folder)
    analyzer = FaceAnalyzer()
    ours = {}
    for name in truth:
        img = load(str(args.folder / name))
        ours[name] = [tuple(f.box) for f in analyzer.analyze(img, embed=False)]
    print(f"# detection on {args.folder} ({machine()}), {len(truth)} photos")
    print("facelake:", {k: round(v, 3) for k, v in score(truth, ours).items()})
    if not args.no_peer:
        import face_recognition as fr

        theirs = {}
        for name in truth:
            rgb = np.asarray(load(str(args.folder / name)).rgb)
            theirs[name] = [(l, t, r, b) for t, r, b, l in fr.face_locations(rgb)]
        print("face_recognition (HOG):", {k: round(v, 3) for k, v in score(truth, theirs).items()})


if __name__ == "__main__":
    main()
