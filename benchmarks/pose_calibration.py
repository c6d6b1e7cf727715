"""Raw head pitch and yaw of the largest face in each photo, to calibrate PITCH_OFFSET_DEG.

    python benchmarks/pose_calibration.py ../shared/eval/deepface

Prints the median pose over the photos (mostly frontal portraits) and the median Laplacian
variance of the mesh crops (the scale of the Sharpness mapping). A calibrated build reads a
median pitch near 0.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from facelake.models import facemesh
from facelake.models.analyzer import FaceAnalyzer
from facelake.models.images import load


def main() -> None:
    folder = Path(sys.argv[1])
    analyzer = FaceAnalyzer()
    poses, lap = [], []
    for f in sorted(folder.glob("*.jpg")):
        faces = analyzer.analyze(load(str(f)), embed=False)
        if faces:
            poses.append([faces[0].pose[k] for k in ("Yaw", "Pitch", "Roll")])
            gray = cv2.cvtColor(faces[0].mesh.crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
            lap.append(cv2.Laplacian(gray, cv2.CV_32F).var())
    p = np.array(poses)
    print(f"{len(p)} faces; median yaw {np.median(p[:, 0]):.1f}, pitch {np.median(p[:, 1]):.1f} "
          f"(offset in use {facemesh.PITCH_OFFSET_DEG}), roll {np.median(p[:, 2]):.1f}")
    print("Laplacian variance percentiles 10/50/90:", np.percentile(lap, [10, 50, 90]).round(0))


if __name__ == "__main__":
    main()
