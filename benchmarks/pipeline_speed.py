"""The detect job's images/s with 1 and 2 worker processes, against the per-image API loop.

    python benchmarks/pipeline_speed.py ../../shared/eval/deepface [--images 500]

The folder's photos are copied (repeated) into a temporary library of at least --images files.
API loop: load + FaceAnalyzer.analyze per image, one process, onnxruntime on all cores.
Pipeline: ``facelake detect LIBRARY --output TMP`` (in-process runner, then --workers 2),
timed end to end: start-up, matching, reading, analysis and the Parquet commit.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import machine, photo_library, photos

from facelake.models.analyzer import FaceAnalyzer
from facelake.models.images import load
from facelake.pipelines import detect


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path)
    ap.add_argument("--images", type=int, default=500)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lib = Path(tmp) / "library"
        files = photo_library(photos(args.folder), args.images, lib)
        print(f"# pipeline speed ({machine()}), {len(files)} images from {args.folder}")

        analyzer = FaceAnalyzer()
        analyzer.analyze(load(str(files[0])))
        start = time.perf_counter()
        for f in files:
            analyzer.analyze(load(str(f)))
        loop = len(files) / (time.perf_counter() - start)
        print(f"API loop: {loop:.2f} images/s")

        for workers in (1, 2):
            out = Path(tmp) / f"out{workers}"
            start = time.perf_counter()
            summary = detect.run([str(lib), "--output", str(out), "--workers", str(workers), "--no-progress"])
            rate = summary["images"] / (time.perf_counter() - start)
            assert summary["reconciled"] and summary["images"] == len(files), summary
            print(f"pipeline, {workers} worker(s): {rate:.2f} images/s ({rate / loop:.2f}x the API loop), "
                  f"{summary['faces']} faces")


if __name__ == "__main__":
    main()
