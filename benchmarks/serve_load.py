"""Load on `facelake serve`: requests/s and latency with 1, 8 and 64 concurrent clients.

    python benchmarks/serve_load.py ../shared/eval/deepface [--seconds 15] [--clients 1 8 64]

Starts the server (signed requests, the default queue of 64), then from this process (the
client, on loopback) keeps N boto3 clients busy with detect_faces on the photos for
--seconds each, and search_faces_by_image against a collection of them. Beside it, the same
photos through facelake.operations.call in-process with as many threads as the server runs
operations at once: the throughput the server is measured against. Also the server's memory
(RSS) after the first 1,000 requests and at the end. ``--soak N``: only N detect_faces requests
from 8 clients, the server's RSS after every 1,000.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config

from common import machine

KEY, SECRET = "AKIDBENCH", "bench-secret"


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) / 1024


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def drive(make_call, clients: int, seconds: float) -> dict:
    latencies, failures = [], [0]
    stop = time.time() + seconds

    def worker(k: int):
        call = make_call(k)
        while time.time() < stop:
            t = time.perf_counter()
            try:
                call()
                latencies.append(time.perf_counter() - t)
            except Exception:
                failures[0] += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    started = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - started
    lat = sorted(latencies)
    return {"requests": len(lat), "failed": failures[0], "rps": len(lat) / elapsed,
            "p50_ms": 1000 * lat[len(lat) // 2] if lat else None,
            "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None}


def soak(detect, pid: int, counter: list, total: int) -> None:
    """RSS of the server process after every 1,000 of ``total`` requests (8 clients)."""
    failed, mark, rows = [0], [1000], []
    lock = threading.Lock()

    def worker(k: int):
        call = detect(k)
        while counter[0] < total:
            try:
                call()
            except Exception:
                failed[0] += 1
            with lock:
                if counter[0] >= mark[0]:
                    rows.append((mark[0], rss_mb(pid)))
                    print(f"after {mark[0]} requests: RSS {rows[-1][1]:.0f} MB", flush=True)
                    mark[0] += 1000

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"failed: {failed[0]}; RSS after 1,000: {rows[0][1]:.0f} MB, after {rows[-1][0]}: {rows[-1][1]:.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("photos", type=Path)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 8, 64])
    ap.add_argument("--soak", type=int, default=0, metavar="N",
                    help="only the memory check: N detect_faces requests from 8 clients, RSS every 1,000")
    args = ap.parse_args()
    photos = [p.read_bytes() for p in sorted(args.photos.glob("*.jpg")) if p.stat().st_size <= 5 * 1024 * 1024]
    tmp = Path(tempfile.mkdtemp())
    (tmp / "keys").write_text(f"{KEY} {SECRET}\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("facelake")
    server = subprocess.Popen([str(exe), "serve", "--port", str(port), "--keys", str(tmp / "keys"), "--store",
                               str(tmp / "store")], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            urllib.request.urlopen(url + "/health").close()
            break
        except OSError:
            time.sleep(0.2)
    cfg = Config(retries={"max_attempts": 1}, max_pool_connections=max(args.clients) + 4, read_timeout=300)
    clients = [boto3.client("rekognition", endpoint_url=url, region_name="us-east-1", aws_access_key_id=KEY,
                            aws_secret_access_key=SECRET, config=cfg) for _ in range(max(args.clients))]
    rekog = clients[0]
    rekog.create_collection(CollectionId="bench")
    for i, data in enumerate(photos):
        rekog.index_faces(CollectionId="bench", Image={"Bytes": data}, ExternalImageId=f"p{i}")
    pid = children(server.pid)[0] if children(server.pid) else server.pid
    counter = [0]

    def detect(k):
        def call():
            counter[0] += 1
            clients[k].detect_faces(Image={"Bytes": photos[counter[0] % len(photos)]})
        return call

    def search(k):
        def call():
            counter[0] += 1
            clients[k].search_faces_by_image(CollectionId="bench", Image={"Bytes": photos[counter[0] % len(photos)]})
        return call

    if args.soak:
        soak(detect, pid, counter, args.soak)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        return
    drive(detect, 8, 1000 / 15)  # warm: about 1,000 requests
    after_1000 = rss_mb(pid)
    served = counter[0]
    print(f"# facelake serve load, {len(photos)} deepface photos, {args.seconds:.0f} s per row ({machine()})")
    print("| operation | clients | requests | req/s | p50 ms | p99 ms | failed |")
    print("|---|---|---|---|---|---|---|")
    for name, fn in (("detect_faces", detect), ("search_faces_by_image", search)):
        for n in args.clients:
            r = drive(fn, n, args.seconds)
            print(f"| {name} | {n} | {r['requests']} | {r['rps']:.1f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | "
                  f"{r['failed']} |")
    print(f"server RSS after {served} requests: {after_1000:.0f} MB; after {counter[0]}: {rss_mb(pid):.0f} MB")
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=60)

    # the same work in-process, as many operations at once as the server runs (its --threads: cores)
    from facelake.context import Context
    from facelake.operations import call

    ctx = Context(store_uri=str(tmp / "store"))
    call(ctx, "DetectFaces", {"Image": {"Bytes": photos[0]}})
    done = [0]
    stop = time.time() + args.seconds

    def inproc():
        while time.time() < stop:
            done[0] += 1
            call(ctx, "DetectFaces", {"Image": {"Bytes": photos[done[0] % len(photos)]}})

    started = time.time()
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        for f in [pool.submit(inproc) for _ in range(os.cpu_count() or 1)]:
            f.result()
    print(f"in-process detect_faces with {os.cpu_count()} threads: {done[0] / (time.time() - started):.1f} req/s")


if __name__ == "__main__":
    main()
