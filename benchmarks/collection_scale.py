"""A face collection at scale: search latency, recall@10 against exact search, index build, memory.

    python benchmarks/collection_scale.py ../../shared/eval [--faces 1000000] [--queries 200] [--join 10000]
        [--sweep NPROBES:EF:REFINE,...] [--profile] [--rows-per-partition N]

Vectors: the real descriptors of every face in deepface/ and dlib_faces/, plus synthetic
vectors drawn from a Gaussian with the real vectors' mean and covariance, up to --faces.
Queries: the real descriptors first, then synthetic ones; all of them searched once, untimed,
before the settings are timed (the first searches after the build read the index from disk).
Exact answers come from numpy over all vectors. With --sweep, the settings take turns on each
query. Also times the exact batch join (blocked
matrix products) of --join query faces against the whole collection.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from common import machine

from facelake.settings import INDEX_SETTINGS, SEARCH_SETTINGS
from facelake.store.collections import CollectionStore
from facelake.models.analyzer import FaceAnalyzer
from facelake.models.images import load
from facelake.schemas.collections import COLLECTION_FACES
from facelake.models.matching import nearest, pairs_within


def real_vectors(eval_dir: Path) -> np.ndarray:
    analyzer = FaceAnalyzer()
    out = []
    for p in sorted(list((eval_dir / "deepface").glob("*.jpg")) + list((eval_dir / "dlib_faces").glob("*.jpg"))):
        out += [f.embedding for f in analyzer.analyze(load(str(p)))]
    return np.array(out, np.float32)


def rows(vectors: np.ndarray, start: int) -> pa.Table:
    """Collection rows as bulk indexing writes them: distinct ids, hashes, names and boxes, one
    model version. Lance encodes a column of one repeated value so that reading one row of it
    costs more: with every box the same (as this script wrote them before 2026-12-03), taking
    the 10 rows a search finds cost 5.2 ms for the box column alone against 0.8 ms for real boxes."""
    n = len(vectors)
    rng = np.random.default_rng(start)
    ids = [f"{i:08x}-0000-0000-0000-000000000000" for i in range(start, start + n)]
    box = pa.StructArray.from_arrays([pa.array(rng.uniform(0.05, 0.6, n).astype(np.float32)) for _ in range(4)],
                                     names=["width", "height", "left", "top"])
    names = [f"IMG_{i:07d}.jpg" for i in range(start, start + n)]
    return pa.Table.from_pydict({
        "face_id": ids, "image_id": ids, "content_sha256": [f"{i:064x}" for i in range(start, start + n)],
        "external_image_id": names, "source_uri": [f"s3://photos/library/{name}" for name in names],
        "user_id": [None] * n, "bounding_box": box,
        "confidence": pa.array(rng.uniform(90, 100, n).astype(np.float32)), "model_version": ["dlib-resnet-v1"] * n,
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), 128),
        "captured_at": pa.nulls(n, COLLECTION_FACES.field("captured_at").type)}, schema=COLLECTION_FACES)


def profile(store: CollectionStore, queries: np.ndarray) -> None:
    """Where a search's time goes, the variants taking turns on each query (SEARCH_SETTINGS):
    store.nearest (what SearchFaces calls), LanceDB's query on a table opened per search (what
    store.nearest did before 2026-12-06), Lance with the table kept open and every column, with
    face_id alone, and with no column (the index search and re-rank alone)."""
    from facelake.store.collections import FACE_FIELDS, vector_indexed

    s = SEARCH_SETTINGS
    nn = lambda q: {"column": "vector", "q": q, "k": 10, "nprobes": s["nprobes"], "ef": s["ef"],
                    "refine_factor": s["refine"]}

    def lancedb_query(q):
        table = store.table("scale")
        query = table.search(q).metric("l2").limit(10)
        if vector_indexed(table):
            query = query.nprobes(s["nprobes"]).ef(s["ef"]).refine_factor(s["refine"])
        return query.select([*FACE_FIELDS, "_distance"]).to_list()

    ds = store.dataset("scale")
    variants = {
        "store.nearest (SearchFaces)": lambda q: store.nearest("scale", q, 10, max_distance=10.0),
        "LanceDB query, table opened per search (before)": lancedb_query,
        "Lance, dataset kept open, every column": lambda q: ds.to_table(columns=[*FACE_FIELDS, "_distance"], nearest=nn(q)),
        "Lance, face_id only": lambda q: ds.to_table(columns=["face_id", "_distance"], nearest=nn(q)),
        "Lance, no column (index search and re-rank)": lambda q: ds.to_table(columns=["_distance"], nearest=nn(q)),
    }
    lat = {name: [] for name in variants}
    for q in queries:
        for name, f in variants.items():
            t = time.perf_counter()
            f(q)
            lat[name].append((time.perf_counter() - t) * 1000)
    for name, ms in lat.items():
        print(f"profile {name}: p50 {np.percentile(ms, 50):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("eval_dir", type=Path)
    ap.add_argument("--faces", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--join", type=int, default=10_000)
    ap.add_argument("--sweep", default="", help="extra search settings to try, e.g. 12:128:0,16:160:2 (nprobes:ef:refine)")
    ap.add_argument("--profile", action="store_true",
                    help="also time, query by query in turn, the parts of a search and the LanceDB query used before 2026-12-06")
    ap.add_argument("--rows-per-partition", type=int, help="the index's IVF partition size (default: INDEX_SETTINGS')")
    args = ap.parse_args()
    if args.rows_per_partition:
        INDEX_SETTINGS["rows_per_partition"] = args.rows_per_partition
    real = real_vectors(args.eval_dir)
    rng = np.random.default_rng(0)
    mean, cov = real.mean(0), np.cov(real.T)
    synthetic = rng.multivariate_normal(mean, cov, size=args.faces - len(real)).astype(np.float32)
    data = np.concatenate([real, synthetic])
    print(f"# collection at scale ({machine()}): {len(data)} faces ({len(real)} real), "
          f"index IVF_HNSW_SQ {INDEX_SETTINGS}")
    with tempfile.TemporaryDirectory() as tmp:
        store = CollectionStore(tmp)
        store.create("scale", "dlib-resnet-v1")
        table = store.table("scale")
        t = time.perf_counter()
        for s in range(0, len(data), 200_000):
            table.add(rows(data[s:s + 200_000], s))
        print(f"write: {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        store.ensure_index("scale", force=True)
        print(f"index build: {time.perf_counter() - t:.1f} s")
        queries = np.concatenate([real, synthetic[: max(0, args.queries - len(real))]])[: args.queries]
        exact_idx, _ = nearest(queries, data, 10)
        settings = [dict(SEARCH_SETTINGS)] + [{"nprobes": int(a), "ef": int(b), "refine": int(c)} for a, b, c in
                                              (x.split(":") for x in args.sweep.split(",") if x)]
        for q in queries:  # a warm-up pass, not timed: the first searches after the build read the index from disk
            store.nearest("scale", q, 10, max_distance=10.0)
        # the settings take turns on each query (this VM's speed drifts by the minute: a setting
        # timed after another would be compared with a different machine)
        lat, recall = np.zeros((len(settings), len(queries))), np.zeros((len(settings), len(queries)))
        for j, (q, exact) in enumerate(zip(queries, exact_idx)):
            for i, setting in enumerate(settings):
                SEARCH_SETTINGS.update(setting)
                t = time.perf_counter()
                hits = store.nearest("scale", q, 10, max_distance=10.0)
                lat[i, j] = (time.perf_counter() - t) * 1000
                got = {int(r["face_id"][:8], 16) for r, _ in hits}
                recall[i, j] = len(set(exact.tolist()) & got) / 10
        for i, setting in enumerate(settings):
            print(f"search {setting} (k=10, {len(queries)} queries): p50 {np.percentile(lat[i], 50):.1f} ms, "
                  f"p99 {np.percentile(lat[i], 99):.1f} ms, recall@10 {recall[i].mean():.3f}")
        SEARCH_SETTINGS.update(settings[0])
        if args.profile:
            profile(store, queries)
        joinq = data[rng.choice(len(data), args.join, replace=False)]
        t = time.perf_counter()
        n_pairs = sum(len(p) for p in pairs_within(joinq, data, 0.6))
        print(f"batch join, exact: {args.join} queries x {len(data)} faces in {time.perf_counter() - t:.1f} s, "
              f"{n_pairs} pairs within distance 0.6")
        print(f"peak memory (max RSS): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
