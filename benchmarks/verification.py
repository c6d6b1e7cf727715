"""Face verification and descriptor parity on deepface's labelled photos, facelake vs face_recognition.

    python benchmarks/verification.py ../shared/eval/deepface [--no-peer]

For each of the 61 identity-labelled photos, the largest face's descriptor from facelake and
from face_recognition (same dlib ResNet, dlib's own HOG detector and alignment). Reports:
accuracy on the 280 labelled pairs of face-recognition-pivot.csv at the default threshold
(similarity 80 = distance 0.6) and at the best threshold, beside the four deepface peers'
best-threshold accuracy from that file; ROC AUC and TAR at FAR 1e-2 over all pairs of the 61
photos; and the distance between facelake's and face_recognition's descriptor of the same face.
"""

from __future__ import annotations

import argparse
import csv
import itertools
from pathlib import Path

import numpy as np

from common import FaceRecognitionPeer, best_threshold_accuracy, iou, machine, roc_auc, tar_at_far

from facelake.models.analyzer import FaceAnalyzer
from facelake.models.images import load

DEFAULT_DISTANCE = 0.6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("deepface", type=Path)
    ap.add_argument("--no-peer", action="store_true", help="skip face_recognition")
    args = ap.parse_args()
    ids = {r["file"]: r["identity"] for r in csv.DictReader(open(args.deepface / "identities.csv"))}
    analyzer = FaceAnalyzer()
    peer = None if args.no_peer else FaceRecognitionPeer()
    ours, theirs, parity, missing = {}, {}, [], []
    for name in sorted(ids):
        img = load(str(args.deepface / name))
        faces = analyzer.analyze(img)
        if faces:
            ours[name] = faces[0].embedding
        else:
            missing.append(name)
        if peer:
            rgb = np.asarray(load(str(args.deepface / name)).rgb)
            boxes, encs = peer.faces(rgb)
            if encs:
                areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]
                theirs[name] = encs[int(np.argmax(areas))]
            # parity: every face both found, matched by box overlap (in decoded pixels)
            for f in faces:
                box = f.box * img.scale
                best = max(range(len(boxes)), key=lambda i: iou(box, boxes[i]), default=None)
                if best is not None and iou(box, boxes[best]) > 0.3:
                    parity.append(float(np.linalg.norm(f.embedding - encs[best])))

    print(f"# verification on {args.deepface} ({machine()})")
    print(f"photos: {len(ids)}, facelake found no face in: {missing or 'none'}")
    pivot = list(csv.DictReader(open(args.deepface / "face-recognition-pivot.csv")))
    same = np.array([r["decision"] == "Yes" for r in pivot])
    names = [(Path(r["file_x"]).name, Path(r["file_y"]).name) for r in pivot]
    for label, emb in (("facelake", ours), ("face_recognition", theirs)):
        if not emb:
            continue
        d = np.array([np.linalg.norm(emb[a] - emb[b]) if a in emb and b in emb else 9.0 for a, b in names])
        acc = float(((d < DEFAULT_DISTANCE) == same).mean())
        best, t = best_threshold_accuracy(-d, same)
        print(f"{label}: pairs {len(pivot)}, accuracy at distance 0.6 (similarity 80): {acc:.3f}, "
              f"best-threshold accuracy {best:.3f} (distance {-t:.3f})")
    for col in ("VGG-Face_cosine", "Facenet_cosine", "OpenFace_cosine", "DeepFace_cosine"):
        d = np.array([float(r[col]) for r in pivot])
        print(f"  peer {col.split('_')[0]} (pivot CSV) best-threshold accuracy {best_threshold_accuracy(-d, same)[0]:.3f}")
    for label, emb in (("facelake", ours), ("face_recognition", theirs)):
        if not emb:
            continue
        pairs = [(a, b) for a, b in itertools.combinations(sorted(ids), 2)]
        d = np.array([np.linalg.norm(emb[a] - emb[b]) if a in emb and b in emb else 9.0 for a, b in pairs])
        s = np.array([ids[a] == ids[b] for a, b in pairs])
        print(f"{label}: all {len(pairs)} pairs ({s.sum()} same): ROC AUC {roc_auc(-d, s):.4f}, "
              f"TAR@FAR1e-2 {tar_at_far(-d, s, 1e-2):.3f}, TAR@FAR1e-3 {tar_at_far(-d, s, 1e-3):.3f}")
    if parity:
        p = np.array(parity)
        print(f"parity with face_recognition, same face ({len(p)} faces): distance median {np.median(p):.4f}, "
              f"p90 {np.percentile(p, 90):.4f}, max {p.max():.4f}")


if __name__ == "__main__":
    main()
