"""Decoding speed of PyAV, decord and OpenCV on the same H.264 files, read the way facelake's
video job reads them (models/video.py): every frame decoded and its luma used, every 6th frame
(5 fps of 29.97) as RGB of at most 1280 px, and each frame range started by a seek.

    ../.venv/bin/python video_decode.py [--seconds 60 20] [--out-dir /tmp/facelake-video-bench]
        [--libs pyav opencv decord]
    /tmp/decord-venv/bin/python video_decode.py   # a venv with decord==0.6.0 numpy av opencv-python-headless

It makes its clips with PyAV (libx264, yuv420p, preset veryfast, crf 23, 30000/1001 fps): a pan
and zoom over samples/astronaut.jpg under a moving noise texture, 1280x720 and 1920x1080, of
--seconds each (kept in --out-dir and reused). A library that cannot be imported is skipped
with a note, so it runs in the project's virtualenv (PyAV, OpenCV) as in one that also has
decord. Each figure is the median of 3 rounds, taken in turn over all the runs; frames per
CPU-second count the CPU time of all the process's threads (time.process_time). Seeks are
checked by pixels: the frame a library returns for frame N is looked up among the frames its
own sequential decode gives around N; a frame past a clip's end is n/a.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import math
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from itertools import islice
from pathlib import Path
from typing import TypeVar

import av
import numpy as np

from common import machine

RATE = Fraction(30000, 1001)
SAMPLE_EVERY = 6  # about settings.VIDEO_FPS (5) of 29.97 fps: the frames the face models see
MAX_SIDE = 1280  # settings.VIDEO_DECODE_MAX_SIDE
BATCH = 8  # settings.IMAGES_PER_BATCH
SEEK_FRAMES = (900, 1500)
SEEK_WINDOW = 15  # frames either side of a seek target that its returned frame is matched against
RANDOM_FRAMES = 8  # sampled frames that decord fetches in random order, each round
ROUNDS = 3
PHOTO = Path(__file__).resolve().parents[1] / "samples" / "astronaut.jpg"
LIBRARIES = {"pyav": "av", "opencv": "cv2", "decord": "decord"}
K = TypeVar("K")
R = TypeVar("R")


def make_clip(path: Path, width: int, height: int, seconds: float) -> None:
    """An H.264 clip of a pan and zoom over the astronaut photo, with a noise texture sliding
    across it so that it does not compress to nothing."""
    with av.open(str(PHOTO)) as c:
        side = 2 * width
        photo = next(c.decode(video=0)).reformat(width=side, height=side, format="rgb24").to_ndarray()
    noise = np.random.default_rng(0).integers(-16, 17, (2 * height, 2 * width, 3), dtype=np.int16)
    part = path.with_suffix(".part.mp4")
    with av.open(str(part), "w") as out:
        vs = out.add_stream("libx264", rate=RATE, options={"preset": "veryfast", "crf": "23"})
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        for i in range(round(seconds * RATE)):
            t = i / float(RATE)
            cw = round(side * (0.7 + 0.25 * math.sin(2 * math.pi * t / 7)))
            ch = cw * height // width
            x = round((side - cw) / 2 * (1 + math.sin(2 * math.pi * t / 11)))
            y = round((side - ch) / 2 * (1 + math.cos(2 * math.pi * t / 13)))
            crop = av.VideoFrame.from_ndarray(np.ascontiguousarray(photo[y:y + ch, x:x + cw]), format="rgb24")
            rgb = crop.reformat(width=width, height=height).to_ndarray().astype(np.int16)
            dx, dy = (7 * i) % width, (3 * i) % height
            rgb += noise[dy:dy + height, width - dx:2 * width - dx]
            frame = av.VideoFrame.from_ndarray(np.clip(rgb, 0, 255).astype(np.uint8), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode())
    part.rename(path)


def describe(path: Path) -> tuple[str, int]:
    """A line on a clip's frames, size, bit rate and key frames; and its frame count."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        start, tb = vs.start_time or 0, Fraction(vs.time_base)
        keys = sorted(round((p.pts - start) * tb * RATE) for p in c.demux(vs) if p.size and p.is_keyframe)
        n, seconds = vs.frames, float(vs.duration * tb)
    size = path.stat().st_size
    return (f"{path.name}: {vs.width}x{vs.height}, {n} frames, {size / 1e6:.1f} MB "
            f"({size * 8 / seconds / 1e6:.1f} Mb/s), key frames at {keys}"), n


def scaled(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, MAX_SIDE / max(width, height))
    return round(width * scale), round(height * scale)


def batches(indices: list[int]) -> Iterator[list[int]]:
    for i in range(0, len(indices), BATCH):
        yield indices[i:i + BATCH]


def digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


# PyAV, as facelake's models/video.py reads: the planes as coded, RGB only on sampled frames.

def pyav_frames(container: av.container.InputContainer, threads: int) -> Iterator[av.VideoFrame]:
    """The decoded frames, on ``threads`` threads; 0: thread_type AUTO, as facelake decodes."""
    vs = container.streams.video[0]
    if threads:
        vs.thread_count = threads
    else:
        vs.thread_type = "AUTO"
    return container.decode(vs)


def plane(p: av.video.plane.VideoPlane) -> np.ndarray:
    return np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, :p.width]


def pyav_decode(path: str, threads: int = 0) -> int:
    with av.open(path) as c:
        return sum(1 for _ in pyav_frames(c, threads))


def pyav_luma(path: str) -> int:
    with av.open(path) as c:
        n = 0
        for n, f in enumerate(pyav_frames(c, 0), 1):
            plane(f.planes[0])
        return n


def pyav_sampled(path: str, width: int, height: int) -> int:
    with av.open(path) as c:
        n = 0
        for n, f in enumerate(pyav_frames(c, 0), 1):
            if (n - 1) % SAMPLE_EVERY == 0:
                f.reformat(width=width, height=height, format="rgb24").to_ndarray()
        return n


def pyav_bytes(f: av.VideoFrame) -> bytes:
    return b"".join(np.ascontiguousarray(plane(p)).tobytes() for p in f.planes)


def pyav_sequential(path: str) -> Iterator[bytes]:
    with av.open(path) as c:
        yield from map(pyav_bytes, pyav_frames(c, 0))


def pyav_seek(path: str, target: int) -> tuple[int, bytes]:
    """facelake's seek: to the key frame at or before the target's pts, then decode forward."""
    with av.open(path) as c:
        vs = c.streams.video[0]
        start, tb, rate = vs.start_time or 0, Fraction(vs.time_base), Fraction(vs.average_rate)
        c.seek(start + math.floor(target / rate / tb), stream=vs, backward=True, any_frame=False)
        for f in pyav_frames(c, 0):
            n = round((f.pts - start) * tb * rate)
            if n >= target:
                return n, pyav_bytes(f)
    raise EOFError(f"{path}: nothing from frame {target}")


# OpenCV: grab() decodes; retrieve() (read() = grab + retrieve) converts to BGR at full size.

def cv_capture(path: str, threads: int = 0):
    import cv2

    return cv2.VideoCapture(path, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, threads] if threads else [])


def cv_decode(path: str, threads: int = 0) -> int:
    cap, n = cv_capture(path, threads), 0
    while cap.grab():
        n += 1
    return n


def cv_luma(path: str) -> int:
    import cv2

    cap, n = cv_capture(path), 0
    while (img := cap.read()[1]) is not None:
        cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        n += 1
    return n


def cv_sampled(path: str, width: int, height: int) -> int:
    import cv2

    cap, n = cv_capture(path), 0
    while cap.grab():
        if n % SAMPLE_EVERY == 0:
            rgb = cv2.cvtColor(cap.retrieve()[1], cv2.COLOR_BGR2RGB)
            if rgb.shape[:2] != (height, width):
                rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
        n += 1
    return n


def cv_sequential(path: str) -> Iterator[bytes]:
    cap = cv_capture(path)
    while (img := cap.read()[1]) is not None:
        yield img.tobytes()


def cv_seek(path: str, target: int) -> tuple[int, bytes]:
    import cv2

    cap = cv_capture(path)
    cap.set(cv2.CAP_PROP_POS_FRAMES, target)
    ok, img = cap.read()
    if not ok:
        raise EOFError(f"{path}: nothing from frame {target}")
    return round(cap.get(cv2.CAP_PROP_POS_FRAMES)) - 1, img.tobytes()


# decord: every frame comes out as RGB (at width x height when given).

def dec_reader(path: str, threads: int = 0, width: int = -1, height: int = -1):
    from decord import VideoReader, cpu

    return VideoReader(path, ctx=cpu(0), width=width, height=height, num_threads=threads)


def dec_decode(path: str, threads: int = 0) -> int:
    vr = dec_reader(path, threads)
    for _ in range(len(vr)):
        vr.next()
    return len(vr)


def dec_luma(path: str) -> int:
    import cv2

    vr = dec_reader(path)
    for _ in range(len(vr)):
        cv2.cvtColor(vr.next().asnumpy(), cv2.COLOR_RGB2GRAY)
    return len(vr)


def dec_sampled(path: str, width: int, height: int) -> int:
    vr = dec_reader(path, 0, width, height)
    for chunk in batches(list(range(0, len(vr), SAMPLE_EVERY))):
        vr.get_batch(chunk).asnumpy()
    return len(vr)


def dec_random(path: str, width: int, height: int) -> int:
    vr = dec_reader(path, 0, width, height)
    sampled = range(0, len(vr), SAMPLE_EVERY)
    picks = random.Random(0).sample(sampled, min(RANDOM_FRAMES, len(sampled)))
    for chunk in batches(picks):
        vr.get_batch(chunk).asnumpy()
    return len(picks)


def dec_sequential(path: str) -> Iterator[bytes]:
    vr = dec_reader(path)
    for _ in range(len(vr)):
        yield vr.next().asnumpy().tobytes()


def dec_seek(path: str, target: int) -> tuple[None, bytes]:
    """decord reports no frame number: only the pixels tell which frame came."""
    vr = dec_reader(path)
    vr.seek_accurate(target)
    return None, vr.next().asnumpy().tobytes()


def patterns(path: str, width: int, height: int) -> list[tuple[str, str, Callable[[], int]]]:
    """(library, pattern, run) for the speed table; run returns the frames it counts."""
    w, h = scaled(width, height)
    c = f"c. all decoded, every {SAMPLE_EVERY}th to RGB {w}x{h}"
    return [
        ("pyav", "a. decode, thread_type AUTO", lambda: pyav_decode(path)),
        ("pyav", "a. decode, thread_count 1", lambda: pyav_decode(path, 1)),
        ("opencv", "a. grab(), default threads", lambda: cv_decode(path)),
        ("opencv", "a. grab(), 1 thread", lambda: cv_decode(path, 1)),
        ("decord", "a. next(), num_threads 0 (auto)", lambda: dec_decode(path)),
        ("decord", "a. next(), num_threads 1", lambda: dec_decode(path, 1)),
        ("pyav", "b. luma plane (frombuffer)", lambda: pyav_luma(path)),
        ("opencv", "b. read() + BGR2GRAY", lambda: cv_luma(path)),
        ("decord", "b. next().asnumpy() + RGB2GRAY", lambda: dec_luma(path)),
        ("pyav", f"{c}: reformat().to_ndarray()", lambda: pyav_sampled(path, w, h)),
        ("opencv", f"{c}: grab/retrieve + cvtColor + resize", lambda: cv_sampled(path, w, h)),
        ("decord", f"{c}: get_batch of sampled, in order", lambda: dec_sampled(path, w, h)),
        ("decord", f"c'. {RANDOM_FRAMES} sampled frames in random order (frames fetched)",
         lambda: dec_random(path, w, h)),
    ]


SEEKERS = {"pyav": (pyav_seek, pyav_sequential), "opencv": (cv_seek, cv_sequential),
           "decord": (dec_seek, dec_sequential)}


def timed(runs: dict[K, Callable[[], R]]) -> dict[K, tuple[float, float, R]]:
    """Median CPU and wall seconds of ROUNDS runs of each, and its last result. The rounds go
    over all the runs in turn, so that load from other processes falls on every library alike;
    a run that needs a library that is not importable is left out, with a note."""
    times: dict[K, list[tuple[float, float]]] = {key: [] for key in runs}
    results: dict[K, R] = {}
    for _ in range(ROUNDS):
        for key, run in runs.items():
            if key not in times:
                continue
            c0, w0 = time.process_time(), time.perf_counter()
            try:
                results[key] = run()
            except ImportError as e:
                print(f"{key}: skipped ({e})")
                del times[key]
                continue
            times[key].append((time.process_time() - c0, time.perf_counter() - w0))
    return {key: (statistics.median(c for c, _ in t), statistics.median(w for _, w in t), results[key])
            for key, t in times.items()}


def seek_verdict(lib: str, path: str, target: int, claimed: int | None, data: bytes) -> str:
    """Which frame a seek to ``target`` gave: the one whose pixels match in the library's own
    sequential decode, and the number the library claims."""
    lo = target - SEEK_WINDOW
    sequential = SEEKERS[lib][1](path)
    near = {digest(b): n for n, b in enumerate(islice(sequential, lo, target + SEEK_WINDOW + 1), lo)}
    got = near.get(digest(data))
    if got == target:
        verdict = "OK"
    elif got is None:
        verdict = f"WRONG: no frame within ±{SEEK_WINDOW}"
    else:
        verdict = f"WRONG: frame {got}"
    return verdict if claimed is None else f"{verdict}, claims {claimed}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, nargs=2, default=(60, 20), metavar=("S720", "S1080"),
                    help="length of the 1280x720 and the 1920x1080 clip")
    ap.add_argument("--out-dir", type=Path, default=Path("/tmp/facelake-video-bench"))
    ap.add_argument("--libs", nargs="+", choices=list(LIBRARIES), default=list(LIBRARIES))
    args = ap.parse_args()

    libs = []
    for lib in args.libs:
        try:
            module = importlib.import_module(LIBRARIES[lib])
            libs.append(lib)
            print(f"{lib}: {getattr(module, '__version__', '?')}")
        except ImportError as e:
            print(f"{lib}: skipped, not importable ({e})")
    print(machine())

    args.out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for (w, h), seconds in zip(((1280, 720), (1920, 1080)), args.seconds):
        path = args.out_dir / f"h264_{h}p_{seconds:g}s.mp4"
        if not path.exists():
            make_clip(path, w, h, seconds)
        text, frame_count = describe(path)
        files[f"{h}p"] = (path, w, h, frame_count)
        print(text)

    speed: dict[tuple[str, str], dict[str, tuple[float, float]]] = {}
    seeks: dict[tuple[str, int], dict[str, str]] = {}
    for label, (path, w, h, frame_count) in files.items():
        t0, load = time.perf_counter(), os.getloadavg()[0]
        runs = {(lib, pattern): run for lib, pattern, run in patterns(str(path), w, h) if lib in libs}
        for (lib, pattern), (cpu, wall, n) in timed(runs).items():
            speed.setdefault((lib, pattern), {})[label] = (n / cpu, n / wall)
            print(f"{label} {lib} {pattern}: {n} frames, {n / cpu:.0f}/CPU-s, {n / wall:.0f}/wall-s")
        targets = [t for t in SEEK_FRAMES if t < frame_count]
        for lib in libs:
            for t in (t for t in SEEK_FRAMES if t >= frame_count):
                seeks.setdefault((lib, t), {})[label] = f"n/a ({frame_count} frames)"
        runs = {(lib, t): (lambda s=SEEKERS[lib][0], t=t: s(str(path), t)) for lib in libs for t in targets}
        for (lib, t), (cpu, wall, (claimed, data)) in timed(runs).items():
            cell = f"{1000 * cpu:.0f} / {1000 * wall:.0f} ms, {seek_verdict(lib, str(path), t, claimed, data)}"
            seeks.setdefault((lib, t), {})[label] = cell
            print(f"{label} {lib} seek {t}: {cell}")
        print(f"{label}: {time.perf_counter() - t0:.0f} s in all; load average {load:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after")

    labels = list(files)
    print("\n| library | pattern | " + " | ".join(f"{l} frames/CPU-s | {l} frames/wall-s" for l in labels) + " |")
    print("|---|---|" + "---:|---:|" * len(labels))
    for (lib, pattern), by_file in speed.items():
        cells = [f"{by_file[l][0]:.0f} | {by_file[l][1]:.0f}" if l in by_file else "– | –" for l in labels]
        print(f"| {lib} | {pattern} | " + " | ".join(cells) + " |")
    print(f"\nd. open + seek to frame N + first frame (CPU / wall ms, median of {ROUNDS}); "
          "the frame returned, matched by pixels against the library's own sequential decode:\n")
    print("| library | N | " + " | ".join(labels) + " |")
    print("|---|---:|" + "---|" * len(labels))
    for (lib, target), by_file in seeks.items():
        print(f"| {lib} | {target} | " + " | ".join(by_file.get(l, "–") for l in labels) + " |")


if __name__ == "__main__":
    main()
