"""The exact library join: every pair within distance 0.6 (similarity 80) of Q query faces
against N faces, by models.matching.pairs_within, beside numpy's own sgemm rate on this machine.

    python benchmarks/join_speed.py ../../shared/eval [--faces 1000000] [--queries 10000]

Vectors as in collection_scale.py: the real descriptors of every face in deepface/ and
dlib_faces/, plus Gaussian draws with their mean and covariance, up to --faces; the queries are
drawn from them. GFLOP/s counts the join's matrix product (2 x Q x N x 128 flops) over its wall
time; sgemm is numpy's float32 matrix product of 4096 x 128 by 128 x 65536 blocks.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np

from collection_scale import real_vectors
from common import machine

from facelake.models.matching import pairs_within


def sgemm_rate(rounds: int = 5) -> float:
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((4096, 128), dtype=np.float32), rng.standard_normal((128, 65536), dtype=np.float32)
    a @ b
    t = time.perf_counter()
    for _ in range(rounds):
        a @ b
    return 2 * 4096 * 128 * 65536 * rounds / (time.perf_counter() - t) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("eval_dir", type=Path)
    ap.add_argument("--faces", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=10_000)
    args = ap.parse_args()
    real = real_vectors(args.eval_dir)
    rng = np.random.default_rng(0)
    synthetic = rng.multivariate_normal(real.mean(0), np.cov(real.T), size=args.faces - len(real)).astype(np.float32)
    data = np.concatenate([real, synthetic])
    del synthetic
    queries = data[rng.choice(len(data), args.queries, replace=False)]
    rate = sgemm_rate()
    t = time.perf_counter()
    n_pairs = sum(len(p) for p in pairs_within(queries, data, 0.6))
    seconds = time.perf_counter() - t
    print(f"# exact join ({machine()}): {args.queries} queries x {len(data)} faces in {seconds:.1f} s, "
          f"{n_pairs} pairs within 0.6; {2 * args.queries * len(data) * 128 / seconds / 1e9:.0f} GFLOP/s "
          f"(numpy sgemm here: {rate:.0f} GFLOP/s); peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
