"""The detect and index jobs on Beam's portable runners beside the default runner: time and
identical tables.

    python benchmarks/portable_runners.py ../../shared/eval/deepface [--worker-env .cache/beam-worker]
        [--prism .cache/prism/prism] [--rounds 2]

Runners: FnApiRunner (in process, 1 and 2 worker processes); PortableRunner against Beam's
Python job service; PrismRunner (Beam's Go runner). The portable ones use an SDK worker pool
in a separate environment without facelake, which each job stages as a wheel
(cluster/local_services.py). Each run is timed end to end as a user runs it (job submission,
worker start and wheel install, analysis, commit); tables are compared with the default run's
(every column but run_id; embeddings within 1e-5). Medians over --rounds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import machine, photos

from facelake.pipelines import detect, index
from facelake.store.collections import CollectionStore

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "cluster"))
import local_services  # noqa: E402


def tables(out: Path) -> dict[str, pd.DataFrame]:
    keys = {"images": ["uri"], "faces": ["face_id", "uri"], "errors": ["uri"]}
    return {name: pd.read_parquet(out / name).drop(columns="run_id").sort_values(key).reset_index(drop=True)
            for name, key in keys.items() if (out / name).exists()}


def collection(store: Path) -> dict[str, pd.DataFrame]:
    return {"collection": CollectionStore(str(store)).table("lib").to_pandas().sort_values("face_id")
            .reset_index(drop=True)}


def same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> bool:
    if a.keys() != b.keys():
        return False
    for name in a:
        x, y = a[name], b[name]
        if list(x.columns) != list(y.columns) or len(x) != len(y):
            return False
        for column in x.columns:
            if column in ("embedding", "vector"):
                if not np.allclose(np.stack(x[column]), np.stack(y[column]), atol=1e-5, rtol=0):
                    return False
            elif x[column].map(repr).tolist() != y[column].map(repr).tolist():
                return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path)
    ap.add_argument("--worker-env", type=Path, default=ROOT / ".cache" / "beam-worker")
    ap.add_argument("--prism", type=Path, default=ROOT / ".cache" / "prism" / "prism")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="portable-bench-"))
    wheel = local_services.build_wheel(tmp / "wheel")
    print(f"# portable runners ({machine()}), {len(photos(args.folder))} photos from {args.folder}, medians of {args.rounds} rounds")
    with local_services.running(args.worker_env.resolve(), tmp) as ports:
        runners = {"FnApiRunner, 1 worker": [], "FnApiRunner, --workers 2": ["--workers", "2"],
                   "PortableRunner (Python job service)": local_services.job_options("PortableRunner", ports, wheel),
                   "PrismRunner": local_services.job_options("PrismRunner", ports, wheel, args.prism.resolve())}
        for job in ("detect", "index"):
            reference = None
            for name, options in runners.items():
                seconds, identical, summary = [], True, {}
                for r in range(args.rounds):
                    out = tmp / f"{job}-{len(seconds)}-{abs(hash(name))}-{r}"
                    start = time.perf_counter()
                    if job == "detect":
                        summary = detect.run([str(args.folder), "--output", str(out), "--no-progress", *options])
                        got = tables(out)
                    else:
                        summary = index.run([str(args.folder), "--collection", "lib", "--store", str(out), "--create",
                                             "--no-progress", *options])
                        got = collection(out)
                    seconds.append(time.perf_counter() - start)
                    reference = got if reference is None else reference
                    identical = identical and same(reference, got)
                print(f"{job:6s} {name:38s} {statistics.median(seconds):6.1f} s  images {summary['images']}  "
                      f"faces {summary['faces']}  errors {summary['errors']}  worker processes "
                      f"{summary['worker_processes']}  tables identical to FnApiRunner's: {identical}", flush=True)


if __name__ == "__main__":
    main()
