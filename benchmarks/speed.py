"""Images per second for detect + landmarks + embed, facelake vs face_recognition, in one run.

    python benchmarks/speed.py ../shared/eval/deepface [--repeat 1] [--no-peer]

Both read the same JPEG files from disk. facelake: decode (reduced-size JPEG decoding for large
photos), detect, mesh (30 landmarks, pose, quality), align (dlib 5 points + chip), embed; one
process, onnxruntime using all cores. face_recognition: load_image_file, face_locations (HOG,
upsample 1), face_encodings (5-point model), its documented default loop.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import machine, photos

from facelake.models.analyzer import FaceAnalyzer
from facelake.models.images import load


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args()
    labelled = args.folder / "identities.csv"  # deepface's folder: time the 61 labelled photos
    if labelled.exists():
        files = [args.folder / line.split(",")[0] for line in labelled.read_text().splitlines()[1:]]
    else:
        files = photos(args.folder)
    files = files * args.repeat
    analyzer = FaceAnalyzer()
    analyzer.analyze(load(str(files[0])))  # load the models outside the clock
    analyzer.timings.clear()
    decode = 0.0
    faces = 0
    start = time.perf_counter()
    for f in files:
        t = time.perf_counter()
        img = load(str(f))
        decode += time.perf_counter() - t
        faces += len(analyzer.analyze(img))
    ours = time.perf_counter() - start
    n = len(files)
    print(f"# speed on {args.folder} ({machine()}), {n} images")
    print(f"facelake: {n / ours:.2f} images/s, {faces} faces, {1000 * ours / n:.0f} ms/image")
    stages = {"decode": decode, **analyzer.timings}
    print("  ms/image by stage: " + ", ".join(f"{k} {1000 * v / n:.1f}" for k, v in stages.items()))
    if args.no_peer:
        return
    import face_recognition as fr

    start = time.perf_counter()
    peer_faces = 0
    for f in files:
        rgb = fr.load_image_file(str(f))
        locs = fr.face_locations(rgb)
        peer_faces += len(fr.face_encodings(rgb, locs))
    theirs = time.perf_counter() - start
    print(f"face_recognition: {n / theirs:.2f} images/s, {peer_faces} faces, {1000 * theirs / n:.0f} ms/image")
    print(f"speed-up: {theirs / ours:.1f}x")


if __name__ == "__main__":
    main()
