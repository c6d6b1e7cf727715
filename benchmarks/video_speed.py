"""Video job speed at 720p, in multiples of real time, start-up included.

    python benchmarks/video_speed.py ../shared/eval/deepface [--minutes 2] [--long-minutes 10] [--work DIR]

Makes a 720p 29.97 fps video of ``--minutes`` (the standard labelled plan of tests/videos.py,
repeated) and times ``facelake video`` on it as a user runs it (a fresh process each time):
segments alone, faces at 5 fps, and faces + search + segments, each with --workers 1 and 2;
then a ``--long-minutes`` video with --workers 2. "cores busy" is the machine's CPU use over the
run (from /proc/stat, so every worker process counts; 2.0 = both cores busy the whole run): run
it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from videos import make_video, photos_with_faces, standard_plan  # noqa: E402

FACELAKE = str(Path(sys.executable).with_name("facelake"))


def build(path: Path, deepface: Path, minutes: float) -> float:
    """The video (made once), its duration in seconds."""
    ids: dict[str, list[Path]] = {}
    for row in csv.DictReader(open(deepface / "identities.csv")):
        ids.setdefault(row["identity"], []).append(deepface / row["file"])
    photos = photos_with_faces({who: ids[who][:3] for who in sorted(ids)[:4]})
    plan = standard_plan(photos)
    repeats = max(1, round(minutes * 60 / 27))
    if not path.exists():
        make_video(path, plan * repeats)
    return json.loads(Path(f"{path}.json").read_text())["frames"] * 1001 / 30000


def machine_busy() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine so far (/proc/stat)."""
    values = [int(v) for v in open("/proc/stat").readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def timed(args: list[str]) -> tuple[float, float, dict]:
    """(wall seconds, cores busy on average over the run, summary) of one job run: the machine's
    CPU use, so every worker process counts (run it on an otherwise idle machine)."""
    busy0, total0 = machine_busy()
    started = time.time()
    out = subprocess.run([FACELAKE, "video", *args, "--no-progress"], capture_output=True, text=True, check=True)
    wall = time.time() - started
    busy1, total1 = machine_busy()
    cores = (busy1 - busy0) / max(total1 - total0, 1) * os.cpu_count()
    return wall, cores * wall, json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("deepface", type=Path)
    ap.add_argument("--minutes", type=float, default=2)
    ap.add_argument("--long-minutes", type=float, default=10)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "video-speed")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    clip = args.work / f"clip-{args.minutes:g}min.mp4"
    duration = build(clip, args.deepface, args.minutes)
    store = args.work / "store"
    subprocess.run([FACELAKE, "index", str(args.deepface), "--collection", "eval", "--store", str(store), "--create",
                    "--no-progress"], capture_output=True, check=True)
    runs = {"segments": ["--segments", "SHOT,TECHNICAL_CUE"], "faces 5 fps": ["--faces"],
            "faces + search + segments": ["--faces", "--segments", "SHOT,TECHNICAL_CUE", "--search", "eval",
                                          "--store", str(store)]}
    print(f"video: {clip.name}, {duration:.0f} s, 1280x720, 29.97 fps")
    print("| run | workers | wall s | x real time | cores busy |\n|---|---|---|---|---|")
    for name, extra in runs.items():
        for workers in (1, 2):
            wall, cpu, _ = timed([str(clip), "--output", str(args.work / "out"), "--workers", str(workers), *extra])
            print(f"| {name} | {workers} | {wall:.1f} | {duration / wall:.1f} | {cpu / wall:.2f} |", flush=True)
    if args.long_minutes:
        long = args.work / f"long-{args.long_minutes:g}min.mp4"
        duration = build(long, args.deepface, args.long_minutes)
        wall, cpu, summary = timed([str(long), "--output", str(args.work / "out-long"), "--workers", "2", "--faces",
                                    "--segments", "SHOT,TECHNICAL_CUE"])
        print(f"| long video {duration / 60:.1f} min, faces + segments | 2 | {wall:.1f} | {duration / wall:.1f} | "
              f"{cpu / wall:.2f} |")


if __name__ == "__main__":
    main()
