"""Landmark accuracy on dlib's hand-placed 68-point landmarks, facelake vs face_recognition.

    python benchmarks/landmarks.py ../../shared/eval/dlib_faces [--no-peer]

Rekognition's landmark types that have a counterpart among the iBUG 68 points are compared
(eye corners, eyelids and eye centres, eyebrow ends, nose tip and sides, mouth corners, lips'
top and bottom, chin), each error divided by the inter-ocular distance (outer eye corners).
The peer is face_recognition's 68-point model (dlib's, trained on iBUG 300-W; these photos'
landmarks may be among its training data, so its figure flatters it).
"""

from __future__ import annotations

import argparse
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from common import iou, machine

from facelake.models.analyzer import FaceAnalyzer
from facelake.models.images import load

# Rekognition type -> iBUG 68 indices (averaged when several)
IBUG = {"leftEyeLeft": [36], "leftEyeRight": [39], "rightEyeLeft": [42], "rightEyeRight": [45],
        "leftEyeUp": [37, 38], "leftEyeDown": [40, 41], "rightEyeUp": [43, 44], "rightEyeDown": [46, 47],
        "eyeLeft": list(range(36, 42)), "eyeRight": list(range(42, 48)),
        "leftEyeBrowLeft": [17], "leftEyeBrowRight": [21], "rightEyeBrowLeft": [22], "rightEyeBrowRight": [26],
        "nose": [30], "noseLeft": [31], "noseRight": [35], "mouthLeft": [48], "mouthRight": [54],
        "mouthUp": [51], "mouthDown": [57], "chinBottom": [8]}


SPLITS = ("training", "testing")  # facemesh.LANDMARK_POINTS were picked on "training"


def ground_truth(folder: Path):
    for split in SPLITS:
        for image in ET.parse(folder / f"{split}_with_face_landmarks.xml").getroot().iter("image"):
            for box in image.iter("box"):
                pts = np.zeros((68, 2))
                for part in box.iter("part"):
                    pts[int(part.get("name"))] = (float(part.get("x")), float(part.get("y")))
                x, y, w, h = (float(box.get(k)) for k in ("left", "top", "width", "height"))
                yield split, image.get("file"), (x, y, x + w, y + h), pts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path)
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args()
    analyzer = FaceAnalyzer()
    peer = None if args.no_peer else __import__("face_recognition")
    cache = {}
    ours = {s: {k: [] for k in IBUG} for s in SPLITS}
    theirs = {s: [] for s in SPLITS}
    for split, name, box, gt in ground_truth(args.folder):
        if name not in cache:
            img = load(str(args.folder / name))
            cache[name] = (img, analyzer.analyze(img, embed=False),
                           peer.face_landmarks(img.rgb, model="large") if peer else None,
                           [(l, t, r, b) for t, r, b, l in peer.face_locations(img.rgb)] if peer else None)
        img, faces, peer_lms, peer_boxes = cache[name]
        iod = np.linalg.norm(gt[36] - gt[45])
        face = max(faces, key=lambda f: iou(f.box, box), default=None)
        if face is not None and iou(face.box, box) > 0.3:
            for k, idx in IBUG.items():
                ours[split][k].append(np.linalg.norm(np.array(face.landmarks[k]) - gt[idx].mean(0)) / iod)
        if peer_boxes:
            j = max(range(len(peer_boxes)), key=lambda i: iou(peer_boxes[i], box))
            if iou(peer_boxes[j], box) > 0.3:
                lm = peer_lms[j]
                # face_recognition's dict back to iBUG order (its lips repeat and reverse points)
                flat = np.array(lm["chin"] + lm["left_eyebrow"] + lm["right_eyebrow"] + lm["nose_bridge"]
                                + lm["nose_tip"] + lm["left_eye"] + lm["right_eye"] + lm["top_lip"][:7]
                                + lm["bottom_lip"][1:6] + lm["top_lip"][7:12][::-1] + lm["bottom_lip"][8:11][::-1], float)
                if len(flat) == 68:
                    theirs[split].append(np.mean([np.linalg.norm(flat[idx].mean(0) - gt[idx].mean(0)) / iod
                                           for idx in IBUG.values()]))
    print(f"# landmarks on {args.folder} ({machine()})")
    for split in SPLITS:
        per = {k: float(np.mean(v)) for k, v in ours[split].items()}
        print(f"{split}: facelake mean error {np.mean(list(per.values())):.3f} of the inter-ocular distance "
              f"({len(ours[split]['nose'])} faces)"
              + (f"; face_recognition (dlib 68-point) {np.mean(theirs[split]):.3f} ({len(theirs[split])} faces)"
                 if theirs[split] else ""))
        print("  by type: " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(per.items(), key=lambda kv: kv[1])))


if __name__ == "__main__":
    main()
