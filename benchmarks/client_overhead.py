"""What facelake.client() (a botocore client with a local transport) adds to DetectFaces.

    python benchmarks/client_overhead.py ../shared/eval/deepface [--rounds 5]

Per photo, interleaved in each round: A = the work itself (decode, analyze, FaceDetail shapes,
called as the operation function), B = the same request through ``facelake.client()``
(botocore's validation, events, and the local answer). Reports the medians over rounds of the
per-pass time, and B's overhead over A; also botocore's cost alone, timed on a stubbed call
(what the client costs when the analysis is free).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from botocore.stub import Stubber

import facelake
from facelake.context import Context
from facelake.faces import detect_faces

from common import machine


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("photos", type=Path)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    photos = [p.read_bytes() for p in sorted(args.photos.glob("*.jpg")) if p.stat().st_size <= 5 * 1024 * 1024]
    client = facelake.client()
    ctx = Context()
    for data in photos[:2]:  # load every model before timing
        client.detect_faces(Image={"Bytes": data})
    direct, through_client = [], []
    for _ in range(args.rounds):
        a = b = 0.0
        for data in photos:
            t = time.perf_counter()
            detect_faces(ctx, Image={"Bytes": data})
            a += time.perf_counter() - t
            t = time.perf_counter()
            client.detect_faces(Image={"Bytes": data})
            b += time.perf_counter() - t
        direct.append(a)
        through_client.append(b)
    a, b = statistics.median(direct), statistics.median(through_client)
    n = len(photos)
    with Stubber(client) as stubber:
        calls = 2000
        for _ in range(calls):
            stubber.add_response("detect_faces", {"FaceDetails": []}, {"Image": {"Bytes": photos[0]}})
        t = time.perf_counter()
        for _ in range(calls):
            client.detect_faces(Image={"Bytes": photos[0]})
        stub_ms = (time.perf_counter() - t) / calls * 1000
    print(f"# client overhead, DetectFaces on {n} photos x {args.rounds} rounds ({machine()})")
    print(f"operation called directly: {a / n * 1000:.2f} ms/photo (median of rounds)")
    print(f"through facelake.client(): {b / n * 1000:.2f} ms/photo")
    print(f"overhead: {(b - a) / n * 1000:+.2f} ms/photo = {100 * (b - a) / a:+.2f}% "
          f"(rounds: direct {', '.join(f'{x / n * 1000:.1f}' for x in direct)}; "
          f"client {', '.join(f'{x / n * 1000:.1f}' for x in through_client)})")
    print(f"botocore alone (stubbed call, {calls} calls): {stub_ms:.3f} ms/call")


if __name__ == "__main__":
    main()
