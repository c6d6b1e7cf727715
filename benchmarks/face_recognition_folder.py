"""The peer as a command: face_recognition's documented loop over every photo of a folder.

    python benchmarks/face_recognition_folder.py ../../shared/eval/deepface

load_image_file, face_locations (HOG, upsample 1), face_encodings (5-point model), one process
(face_recognition has no parallel mode), printing images, faces and images/s. For timing whole
commands side by side with `facelake detect` (farm-bench --vs), start-up included.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import face_recognition as fr


def main() -> None:
    folder = Path(sys.argv[1])
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    start, faces = time.perf_counter(), 0
    for f in files:
        rgb = fr.load_image_file(str(f))
        faces += len(fr.face_encodings(rgb, fr.face_locations(rgb)))
    took = time.perf_counter() - start
    print(f"face_recognition: {len(files)} images, {faces} faces, {len(files) / took:.2f} images/s")


if __name__ == "__main__":
    main()
