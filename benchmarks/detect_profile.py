"""Where the detect job's time goes: one `facelake detect` run, start-up included, under cProfile.

    python detect_profile.py ../../shared/eval/deepface [--repeat 1]

One local worker (so every stage runs in the profiled thread), the folder's photos --repeat
times (copies under a temporary folder). Each function's own time (cProfile's tottime) goes to
one stage, by where the function lives; the stages add up to the profiled run. cProfile slows
Python code more than native code, so Python-heavy stages read a little high.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

from common import machine, photo_library, photos

STAGES = [  # (stage, test on (file, function name)); the first that matches takes the function
    ("model calls (onnxruntime)", lambda f, n: "onnxruntime" in n or "/onnxruntime/" in f),
    ("5-point alignment and chips (models/shape5.py, dlib_face.py)",
     lambda f, n: f.endswith(("models/shape5.py", "models/dlib_face.py"))),
    ("image decoding (Pillow, models/images.py)",
     lambda f, n: "ImagingDecoder" in n or "/PIL/" in f or f.endswith("models/images.py")),
    ("imports (start-up)", lambda f, n: "importlib" in f or n in ("<built-in method marshal.loads>",
                                                                  "<built-in method builtins.compile>")
     or "_imp." in n),
    ("other facelake code (detection pre/post-processing, mesh, attributes, rows)", lambda f, n: "/work/" in f
     and "/site-packages/" not in f),
    ("Apache Beam (runner, coders, bundles)", lambda f, n: "/apache_beam/" in f),
    ("Parquet writes and commit (pyarrow, fsspec)", lambda f, n: "/pyarrow/" in f or "/fsspec/" in f),
    ("native calls outside models (OpenCV, numpy)", lambda f, n: f == "~"),
    ("everything else (Python's standard library, other packages)", lambda f, n: True),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    originals = photos(args.folder)
    n = len(originals) * args.repeat
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "photos")
        photo_library(originals, n, src)
        profile = cProfile.Profile()
        start = time.perf_counter()
        profile.enable()
        from facelake.cli import main as facelake

        code = facelake(["detect", str(src), "--output", str(Path(tmp, "out")), "--no-progress"])
        profile.disable()
        wall = time.perf_counter() - start
    assert code == 0, "the detect run failed"
    stats = pstats.Stats(profile).stats
    spent = {stage: 0.0 for stage, _ in STAGES}
    for (file, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.items():
        stage = next(s for s, test in STAGES if test(file, name))
        spent[stage] += tottime
    total = sum(spent.values())
    print(f"# facelake detect, {n} photos, one worker, under cProfile ({machine()}): {wall:.2f} s wall, "
          f"{total:.2f} s profiled")
    print("\n| stage | s | share | ms a photo |\n|---|---|---|---|")
    for stage, s in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"| {stage} | {s:.2f} | {s / total:.0%} | {1000 * s / n:.1f} |")


if __name__ == "__main__":
    main()
