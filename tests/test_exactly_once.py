"""Nothing lost, nothing doubled: re-runs, concurrent runs, and real runs killed with SIGKILL at
every step of their commit and at moments of their pipeline, then recovered.

A kill leaves OUT in one of two correct states once recovered (the next run, or
``facelake repair``): as before the run (killed before its intent record was written) or as
after it (killed later: the commit rolls forward). Every input's rows exactly once, either way.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from conftest import SAMPLES
from facelake.pipelines import detect, index, launcher
from facelake.store.collections import CollectionStore

TABLES = ("images", "faces", "errors")
KILL_REPORT: dict[str, dict] = {}


def snapshot(out: Path) -> dict[str, list[str]]:
    """Each table's rows (run_id left out), sorted: equal snapshots hold the same rows."""
    snap = {}
    for table in TABLES:
        rows = ds.dataset(str(out / table), format="parquet").to_table().drop(["run_id"]).to_pylist()
        snap[table] = sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)
    return snap


def check_once(out: Path) -> None:
    """Every input in exactly one row of exactly one of images / errors; faces match face_count."""
    images = ds.dataset(str(out / "images"), format="parquet").to_table().to_pylist()
    errors = ds.dataset(str(out / "errors"), format="parquet").to_table().to_pylist()
    faces = ds.dataset(str(out / "faces"), format="parquet").to_table().to_pylist()
    uris = [r["uri"] for r in images] + [r["uri"] for r in errors]
    assert len(uris) == len(set(uris)), sorted(uris)
    for img in images:
        assert sum(f["uri"] == img["uri"] for f in faces) == img["face_count"], img["uri"]
    assert len({(f["face_id"], f["uri"]) for f in faces}) == len(faces)  # one photo's copies share face_ids
    assert not (out / "_staging").exists() and not (out / "_commits").exists() and not (out / "_lease.json").exists()


def lost_and_doubled(got: dict, want: dict) -> tuple[int, int]:
    from collections import Counter

    lost = doubled = 0
    for table in TABLES:
        g, w = Counter(got[table]), Counter(want[table])
        lost += sum((w - g).values())
        doubled += sum((g - w).values())
    return lost, doubled


@pytest.fixture(scope="module")
def library(tmp_path_factory, insightface_images):
    root = tmp_path_factory.mktemp("lib")
    (root / "one").mkdir()
    (root / "two").mkdir()
    (root / "one" / "a.jpg").write_bytes((SAMPLES / "astronaut.jpg").read_bytes())
    (root / "one" / "b.jpg").write_bytes((SAMPLES / "cat.jpg").read_bytes())
    (root / "one" / "bad.jpg").write_bytes(b"not a photo at all\n" * 20)
    (root / "two" / "c.jpg").write_bytes((SAMPLES / "astronaut-exif-rotated.jpg").read_bytes())
    (root / "two" / "t1.jpg").write_bytes(insightface_images["t1.jpg"])
    (root / "three").mkdir()
    (root / "three" / "d.png").write_bytes(insightface_images["Tom_Hanks_54745.png"])
    return root


def rerun_args(library: Path) -> list[str]:
    """The run that is killed: it supersedes rows of both earlier runs' files, and adds a photo."""
    return [str(library / "one" / "a.jpg"), str(library / "one" / "bad.jpg"), str(library / "two" / "c.jpg"),
            str(library / "three" / "d.png")]


def test_rerunning_the_same_command_changes_nothing(library, tmp_path):
    out = tmp_path / "out"
    first = detect.run([str(library), "--output", str(out), "--no-progress"])
    before = snapshot(out)
    second = detect.run([str(library), "--output", str(out), "--no-progress"])
    assert snapshot(out) == before  # the rows of each image replaced by the newer run's, not appended
    check_once(out)
    assert first["images"] == second["images"] == 5 and first["errors"] == second["errors"] == 1
    runs = {r["run_id"] for r in ds.dataset(str(out / "images"), format="parquet").to_table().to_pylist()}
    assert runs == {second["run_id"]}
    # --skip-existing keeps its meaning: nothing read again, nothing replaced
    third = detect.run([str(library), "--output", str(out), "--no-progress", "--skip-existing"])
    assert third["skipped"] == 5 and third["images"] == 0 and snapshot(out) == before


def test_an_input_moves_from_errors_to_images_when_it_is_fixed(library, tmp_path):
    lib = tmp_path / "lib"
    shutil.copytree(library / "one", lib)
    out = tmp_path / "out"
    detect.run([str(lib), "--output", str(out), "--no-progress"])
    (lib / "bad.jpg").write_bytes((SAMPLES / "astronaut.jpg").read_bytes())
    detect.run([str(lib / "bad.jpg"), "--output", str(out), "--no-progress"])
    check_once(out)
    uris = {r["uri"] for r in ds.dataset(str(out / "images"), format="parquet").to_table().to_pylist()}
    assert str(lib / "bad.jpg") in uris
    assert ds.dataset(str(out / "errors"), format="parquet").count_rows() == 0


def test_a_second_run_into_the_same_out_is_refused_while_one_works(library, tmp_path):
    """A run holds OUT's lease while it works (here this test process holds it, as a live run
    would); a second run is refused with a clear message and changes nothing."""
    from facelake.store.commit import Lease

    out = tmp_path / "out"
    detect.run([str(library / "one"), "--output", str(out), "--no-progress"])
    before = snapshot(out)
    with Lease(str(out), "someone-else"):
        second = subprocess.run([sys.executable, "-m", "facelake.cli", "detect", str(library), "--output", str(out),
                                 "--no-progress"], capture_output=True, text=True, timeout=300)
        assert second.returncode == 1 and "is being written by run someone-else" in second.stderr
        assert "Traceback" not in second.stderr and snapshot(out) == before
    check_once(out)
    assert detect.run([str(library), "--output", str(out), "--no-progress"])["images"] == 5


def run_killed(args: list[str], out: Path, failpoint: str | None = None, after: float | None = None,
               job: str = "detect") -> int:
    env = {**os.environ, "FACELAKE_FAILPOINT": failpoint or ""}
    proc = subprocess.Popen([sys.executable, "-m", "facelake.cli", job, *args, "--output", str(out), "--no-progress"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if after is not None:
        try:
            proc.wait(timeout=after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    return proc.wait(timeout=300)


def commit_steps(job: str, copy_base, args_for, tmp: Path) -> list[str]:
    """The commit's failpoints for this re-run, from the intent record of a run killed just after writing it."""
    probe = tmp / "probe"
    copy_base(probe)
    assert run_killed(args_for(probe), probe, "after-intent", job=job) == -signal.SIGKILL
    (intent_file,) = (probe / "_commits").glob("*.json")
    intent = json.loads(intent_file.read_text())
    steps = ["before-intent", "after-intent"]
    steps += ["after-collection"] if intent.get("collection") else []
    steps += [f"after-add-{k}" for k in range(len(intent["adds"]))]
    steps += [f"after-delete-{k}" for k in range(len(intent["deletes"]))]
    return steps + ["after-summary", "after-staging"]


def kill_everywhere(job: str, copy_base, args_for, before: dict, after: dict, tmp: Path, check=None) -> dict:
    """Kill the re-run at every step of its commit and at moments of its pipeline; recover;
    check that OUT holds the state before or after the run, exactly; run it again."""
    run = (detect if job == "detect" else index).run
    points = [("failpoint", s) for s in commit_steps(job, copy_base, args_for, tmp)]
    points += [("seconds", t) for t in (0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 7.0)]
    assert before != after
    report = {"kill_points": 0, "lost": 0, "doubled": 0, "states": {"before": 0, "after": 0}}
    for k, (kind, where) in enumerate(points):
        out = tmp / f"k{k}"
        copy_base(out)
        run_killed(args_for(out), out, job=job, **({"failpoint": where} if kind == "failpoint" else {"after": where}))
        launcher.repair(str(out))
        got = snapshot(out)
        state = "before" if got == before else "after"  # either correct state, nothing in between
        lost, doubled = lost_and_doubled(got, before if state == "before" else after)
        report["lost"] += lost
        report["doubled"] += doubled
        report["states"][state] += 1
        assert (lost, doubled) == (0, 0), (kind, where, lost, doubled)
        if kind == "failpoint":  # killed before its intent record: the old state; after it: the new
            assert state == ("before" if where == "before-intent" else "after"), where
        check_once(out)
        if check:
            check(out)
        run([*args_for(out), "--output", str(out), "--no-progress"])  # the same command again
        assert snapshot(out) == after, (kind, where)
        check_once(out)
        if check:
            check(out)
        report["kill_points"] += 1
    return report


def test_detect_killed_at_every_step_loses_and_doubles_nothing(library, tmp_path):
    base = tmp_path / "base"
    detect.run([str(library / "one"), "--output", str(base), "--no-progress"])
    detect.run([str(library / "two"), "--output", str(base), "--no-progress"])
    expected = tmp_path / "expected"
    shutil.copytree(base, expected)
    detect.run([*rerun_args(library), "--output", str(expected), "--no-progress"])
    report = kill_everywhere("detect", lambda out: shutil.copytree(base, out), lambda out: rerun_args(library),
                             snapshot(base), snapshot(expected), tmp_path)
    KILL_REPORT["detect"] = report
    print("detect:", report)
    assert report["kill_points"] >= 20 and report["lost"] == report["doubled"] == 0
    assert report["states"]["before"] and report["states"]["after"]


def test_index_killed_at_every_step_loses_and_doubles_nothing(library, tmp_path):
    """The same for the index job, whose commit also merges into a collection: the collection
    ends with each face once, whatever the kill."""

    def store(out: Path) -> Path:
        return out.parent / f"{out.name}-store"

    def args_for(out: Path, sources=None) -> list[str]:
        return [*(sources or rerun_args(library)), "--collection", "lib", "--store", str(store(out)), "--create"]

    base = tmp_path / "base"
    index.run([*args_for(base, [str(library / "one")]), "--output", str(base), "--no-progress"])
    index.run([*args_for(base, [str(library / "two")]), "--output", str(base), "--no-progress"])
    expected = tmp_path / "expected"
    shutil.copytree(base, expected)
    shutil.copytree(store(base), store(expected))
    index.run([*args_for(expected), "--output", str(expected), "--no-progress"])

    def faces(out: Path) -> list[str]:
        return sorted(CollectionStore(str(store(out))).table("lib").to_arrow().column("face_id").to_pylist())

    want = faces(expected)
    assert len(faces(base)) == 8 and len(want) == 9  # the re-run adds d.png's face

    def check(out: Path) -> None:  # each face once: the state before the run, or after it
        assert faces(out) in (faces(base), want)

    def copy_base(out: Path) -> None:
        shutil.copytree(base, out)
        shutil.copytree(store(base), store(out))

    report = kill_everywhere("index", copy_base, args_for, snapshot(base), snapshot(expected), tmp_path, check)
    KILL_REPORT["index"] = report
    print("index:", report)
    assert report["kill_points"] >= 20 and report["lost"] == report["doubled"] == 0


def test_an_index_run_killed_in_its_commit_lands_its_new_faces(library, tmp_path):
    """Killed after its intent record, before the collection merge: recovery merges the faces."""
    out, store = tmp_path / "out", tmp_path / "store"
    args = ["--collection", "lib", "--store", str(store), "--create"]
    index.run([str(library / "one"), *args, "--output", str(out), "--no-progress"])
    assert run_killed([str(library / "two"), *args], out, "after-intent", job="index") == -signal.SIGKILL
    assert CollectionStore(str(store)).info("lib")["face_count"] == 1
    assert launcher.repair(str(out))["rolled_forward"]
    assert CollectionStore(str(store)).info("lib")["face_count"] == 1 + 1 + 6
    check_once(out)
