"""Run the detect, index, search and compare-libraries jobs on a photo folder, or compare two such runs.

    python benchmarks/job_outputs.py run PHOTOS OUT        # e.g. ../shared/eval/deepface bench-out/before
    python benchmarks/job_outputs.py compare OUT_A OUT_B   # same rows, same columns, equal values?

For refactors that must not change any output: run it before and after, then compare. Run ids,
timings and file names differ between runs and are ignored; everything else must be equal.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

IGNORED = {"run_id"}
# table -> columns that identify a row
KEYS = {"images": ["uri"], "faces": ["face_id"], "errors": ["uri"], "matches": ["face_id", "rank"],
        "pairs": ["face_id_a", "face_id_b"], "collection": ["face_id"]}


def facelake(*args: str) -> None:
    exe = Path(sys.executable).with_name("facelake")
    subprocess.run([str(exe), *args, "--no-progress"] if args[0] != "compare-libraries" else [str(exe), *args],
                   check=True, stdout=subprocess.DEVNULL)


def run(photos: str, out: str) -> None:
    o = Path(out)
    facelake("detect", photos, "--output", str(o / "detect"), "--attributes", "ALL")
    facelake("index", photos, "--collection", "lib", "--store", str(o / "store"), "--create", "--output",
             str(o / "index"))
    facelake("search", photos, "--collection", "lib", "--store", str(o / "store"), "--output", str(o / "search"))
    facelake("compare-libraries", str(o / "detect"), "--output", str(o / "compare"))
    import lancedb

    lancedb.connect(str(o / "store")).open_table("lib").to_arrow().to_pandas().to_parquet(o / "collection.parquet")


def tables(out: Path) -> dict:
    found = {f"{job}/{t}": out / job / t for job in ("detect", "index", "search", "compare")
             for t in KEYS if (out / job / t).is_dir()}
    found["collection"] = out / "collection.parquet"
    return found


def load(path: Path, table: str):
    df = pq.read_table(path).to_pandas()
    df = df.drop(columns=[c for c in IGNORED if c in df.columns])
    return df.sort_values(KEYS[table.rsplit("/", 1)[-1]]).reset_index(drop=True)


def compare(a: str, b: str) -> int:
    ta, tb = tables(Path(a)), tables(Path(b))
    bad = 0
    if set(ta) != set(tb):
        print("tables differ:", sorted(set(ta) ^ set(tb)))
        bad += 1
    for name in sorted(set(ta) & set(tb)):
        da, db = load(ta[name], name), load(tb[name], name)
        if list(da.columns) != list(db.columns):
            print(f"{name}: columns differ: {list(da.columns)} vs {list(db.columns)}")
            bad += 1
            continue
        if len(da) != len(db):
            print(f"{name}: {len(da)} rows vs {len(db)}")
            bad += 1
            continue
        diff = [c for c in da.columns if da[c].map(repr).tolist() != db[c].map(repr).tolist()]
        print(f"{name}: {len(da)} rows, {len(da.columns)} columns, " + (f"DIFFERENT: {diff}" if diff else "identical"))
        bad += bool(diff)
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("run", "compare"):
        sys.exit(__doc__)
    if sys.argv[1] == "run":
        run(sys.argv[2], sys.argv[3])
    else:
        sys.exit(compare(sys.argv[2], sys.argv[3]))
