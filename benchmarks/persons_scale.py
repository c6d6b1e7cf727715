"""facelake group at library scale, on synthetic descriptors in a real collection.

    python persons_scale.py [--faces 100000 1000000] [--add 1000]

Synthetic persons fitted to deepface's labelled photos (persons.py): descriptors scattered
around each person's centre with the real within-person distance (mean 0.394 between two
photos of one person), centres spread to give the real between-person distance (mean 0.875);
2% of persons have a look-alike whose centre lies 0.53 from theirs (the closest real pair,
person06/person07, is 0.532 apart); person sizes follow a Zipf law and one very frequent
person holds 5% of all faces. For each size: the faces are written to a LanceDB collection and
indexed as bulk indexing leaves them (its ANN index and the B-tree on face_id),
then in a fresh process ``facelake group`` runs (time and peak memory of that process), then
``--add`` faces (half of existing persons, half of new ones) are added and grouped
incrementally (time; then whether each copy of an existing face joined that face's person,
the new persons' pairwise precision and recall, and a rerun with nothing new, which must change
nothing). Accuracy against the synthetic truth: pairwise precision and recall, BCubed F.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid

import numpy as np
import pyarrow as pa

from common import machine

WITHIN, BETWEEN, LOOKALIKE = 0.394, 0.875, 0.53
DIM = 128


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sigma_w = WITHIN / np.sqrt(2 * DIM)
    sigma_b = np.sqrt(BETWEEN ** 2 - WITHIN ** 2) / np.sqrt(2 * DIM)
    persons = max(2, n // 20)
    sizes = rng.zipf(1.6, persons).clip(1, 5000).astype(float)
    sizes[0] = 0
    sizes = np.maximum(1, (sizes / sizes.sum() * n * 0.95).astype(int))
    sizes[0] = int(n * 0.05)  # one very frequent person
    centres = rng.normal(0, sigma_b, (persons, DIM))
    for a in rng.choice(np.arange(1, persons), max(1, persons // 50), replace=False):  # look-alikes
        b = a - 1
        step = rng.normal(0, 1, DIM)
        centres[b] = centres[a] + step / np.linalg.norm(step) * LOOKALIKE
    labels = np.repeat(np.arange(persons), sizes)[:n]
    x = (centres[labels] + rng.normal(0, sigma_w, (len(labels), DIM))).astype(np.float32)
    return x, labels


def pair_scores(pred: np.ndarray, truth: np.ndarray) -> dict:
    """Pairwise precision/recall and BCubed F from the contingency of groups and persons
    (unassigned faces are groups of one)."""
    pred = np.where(pred >= 0, pred, -1 - np.arange(len(pred)))
    _, p = np.unique(pred, return_inverse=True)
    _, t = np.unique(truth, return_inverse=True)
    cell, n_ij = np.unique(p.astype(np.int64) * (t.max() + 1) + t, return_counts=True)
    a, b = np.bincount(p), np.bincount(t)
    pairs = lambda c: (c * (c - 1) / 2).sum()  # noqa: E731
    tp = pairs(n_ij)
    pi, ti = cell // (t.max() + 1), cell % (t.max() + 1)
    bp = (n_ij ** 2 / a[pi]).sum() / len(pred)
    br = (n_ij ** 2 / b[ti]).sum() / len(pred)
    return {"precision": tp / pairs(a), "recall": tp / pairs(b), "bcubed_f": 2 * bp * br / (bp + br)}


def write_faces(store, collection: str, x: np.ndarray) -> list[str]:
    from facelake.schemas.collections import COLLECTION_FACES

    ids = [str(uuid.uuid4()) for _ in range(len(x))]
    table = store.table(collection)
    for s in range(0, len(x), 100_000):
        e = min(len(x), s + 100_000)
        cols = {name: pa.nulls(e - s, COLLECTION_FACES.field(name).type) for name in COLLECTION_FACES.names}
        cols["face_id"] = pa.array(ids[s:e], pa.string())
        cols["image_id"] = pa.array([str(uuid.uuid4()) for _ in range(e - s)], pa.string())
        cols["vector"] = pa.FixedSizeListArray.from_arrays(pa.array(x[s:e].ravel()), DIM)
        table.add(pa.table(cols, schema=COLLECTION_FACES))
    return ids


def child(step: str, store_uri: str, n: int, add: int) -> None:
    """One step in its own process, so its peak memory is its own; prints a JSON line."""
    from facelake.models.grouping import GroupSettings
    from facelake.pipelines.group import group
    from facelake.store.collections import CollectionStore

    store = CollectionStore(store_uri)
    out: dict = {}
    # the group step makes no descriptors itself, so its process's peak memory is the grouping's
    x, truth = synthetic(n) if step != "group" else (None, None)
    if step == "group":
        t = time.time()
        grouped = group(store, "lib", GroupSettings())
        out = {"seconds": time.time() - t, **{k: grouped.summary[k] for k in ("persons", "grouped_faces")}}
    elif step == "setup":
        store.create("lib", "synthetic")
        ids = write_faces(store, "lib", x)
        store.ensure_index("lib")  # as bulk indexing does: the ANN index and the B-tree on face_id
        np.save(f"{store_uri}/ids.npy", np.array(ids))
    elif step == "add":
        rng = np.random.default_rng(1)
        source = rng.choice(len(x), add // 2, replace=False)
        old = x[source] + rng.normal(0, WITHIN / np.sqrt(2 * DIM), (add // 2, DIM))
        fresh, fresh_truth = synthetic(add - add // 2, seed=7)
        added = write_faces(store, "lib", np.vstack([old, fresh]).astype(np.float32))
        store.ensure_index("lib")  # as bulk indexing does after adding faces (not timed: indexing's work)
        del x
        t = time.time()
        grouped = group(store, "lib", GroupSettings())
        out = {"seconds": time.time() - t, **{k: grouped.summary[k] for k in ("persons", "faces_changed")}}
        # the added faces: a copy of a face should join that face's person; new persons' faces
        # should group among themselves and with no one else
        ids = np.load(f"{store_uri}/ids.npy")
        by_id = dict(zip(*store.columns("lib", ["face_id", "user_id"]).to_pydict().values()))
        pairs = [(by_id[ids[s]], by_id[f]) for s, f in zip(source, added)]
        out["copies_joined"] = sum(a is not None and a == b for a, b in pairs) / len(pairs)
        names = {u: i for i, u in enumerate(sorted({u for u in by_id.values() if u}))}
        pred = np.array([names.get(by_id[f], -1) for f in added[len(source):]])
        scores = pair_scores(pred, fresh_truth)
        out["new_precision"], out["new_recall"] = scores["precision"], scores["recall"]
        before = {by_id[f] for f in ids} - {None}
        out["new_with_old"] = int(sum(1 for f in added[len(source):] if by_id[f] in before))
        t = time.time()
        again = group(store, "lib", GroupSettings())  # nothing new: nothing may change
        out["rerun_seconds"], out["rerun_changed"] = time.time() - t, again.summary["faces_changed"]
    elif step == "score":
        ids = np.load(f"{store_uri}/ids.npy")
        owners = store.table("lib").to_arrow().select(["face_id", "user_id"]).to_pydict()
        by_id = dict(zip(owners["face_id"], owners["user_id"]))
        names = {u: i for i, u in enumerate(sorted({u for u in by_id.values() if u}))}
        pred = np.array([names.get(by_id[f], -1) for f in ids])
        out = pair_scores(pred, truth)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--faces", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--add", type=int, default=1000)
    ap.add_argument("--child", nargs=4, metavar=("STEP", "STORE", "N", "ADD"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        step, uri, n, add = args.child
        return child(step, uri, int(n), int(add))
    print(f"# facelake group on synthetic persons ({machine()})\n")
    print("| faces | group s | peak RSS MB | persons | pairwise precision | pairwise recall | BCubed F | "
          f"+{args.add} faces s | faces changed | copies joined their face's person | new persons P / R | "
          "new faces put with an old person | rerun s | rerun changed |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in args.faces:
        uri = tempfile.mkdtemp(prefix="facelake-persons-")

        def step(name):
            r = subprocess.run([sys.executable, __file__, "--child", name, uri, str(n), str(args.add)],
                               capture_output=True, text=True, check=True)
            return json.loads(r.stdout.strip().splitlines()[-1])

        step("setup")
        g = step("group")
        s = step("score")
        a = step("add")
        print(f"| {n:,} | {g['seconds']:.1f} | {g['peak_rss_mb']:.0f} | {g['persons']:,} | {s['precision']:.4f} | "
              f"{s['recall']:.4f} | {s['bcubed_f']:.4f} | {a['seconds']:.1f} | {a['faces_changed']} | "
              f"{a['copies_joined']:.3f} | {a['new_precision']:.3f} / {a['new_recall']:.3f} | {a['new_with_old']} | "
              f"{a['rerun_seconds']:.1f} | {a['rerun_changed']} |", flush=True)


if __name__ == "__main__":
    main()
