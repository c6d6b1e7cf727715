"""Exactly-once tables: a run's staged files join OUT's tables in one commit that rolls forward.

The protocol is a storage engine's write-ahead log, on plain Parquet folders:

1. Workers stage data files under ``OUT/_staging/<run>/<table>/``; the pipeline's last step
   lists the files of the bundles that succeeded in ``OUT/_staging/<run>/_manifest.json``
   (an orphan file of a retried bundle is never listed, so never committed).
2. ``prepare``: every row already in the job's tables whose key (its input's uri) is an input
   of this run is superseded: each file holding such rows is rewritten without them into the
   run's staging. All new content exists before anything a reader sees changes.
3. The intent record ``OUT/_commits/<run>.json``, written atomically, lists what the commit
   does: files to move into the tables, files to delete, the collection merge, the summary.
4. ``apply`` does it, every step idempotent: merge into the collection, move the new files in,
   delete the superseded ones, write ``OUT/runs/<run>.json``, remove the staging; removing the
   intent record completes the commit.

``recover`` (at the start of every run, and ``facelake repair OUT``) applies every intent
record left by a killed run and removes the staging of runs that never wrote one. A ``Lease``
(``OUT/_lease.json``, refreshed while the run works) keeps a second run out of an OUT meanwhile.

What a reader sees: after a run or a repair, each input's rows exactly once. While a killed
run's commit is not yet recovered, the rows of that run's inputs may show twice (the new file is
in place, the superseded one not yet deleted); nothing is ever missing.

``FACELAKE_FAILPOINT=<step>`` (test hook) kills the process with SIGKILL at that step.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time

import fsspec
import pyarrow as pa
import pyarrow.compute as pc

from facelake.schemas.tables import TABLES

from .collections import CollectionStore
from .tables import full_uri, join, read_columns, remove, staging_folder, table_files, write_parquet

LEASE_TTL = 60.0  # seconds a lease lasts without a heartbeat


def failpoint(step: str) -> None:
    """Die here, as a killed process would, when FACELAKE_FAILPOINT names this step."""
    if os.environ.get("FACELAKE_FAILPOINT") == step:
        os.kill(os.getpid(), signal.SIGKILL)


def _fs(uri: str):
    return fsspec.core.url_to_fs(uri)


def _is_local(fs) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol in ("file", "local")


def write_atomic(uri: str, data: bytes) -> None:
    """A file readers see whole or not at all (rename on local disks; one PUT on object stores)."""
    fs, path = _fs(uri)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    if _is_local(fs):
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    else:
        fs.pipe_file(path, data)


def create_exclusive(uri: str, data: bytes) -> bool:
    """Create a file only if it does not exist; False if it does (O_EXCL, or S3's If-None-Match)."""
    fs, path = _fs(uri)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    try:
        if _is_local(fs):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        else:
            fs.pipe_file(path, data, mode="create")
    except FileExistsError:
        return False
    except OSError as e:  # S3 answers a failed precondition with 412
        if "PreconditionFailed" in str(e) or "412" in str(e):
            return False
        raise
    return True


def read_json(uri: str):
    fs, path = _fs(uri)
    with fs.open(path, "rb") as f:
        return json.loads(f.read())


# --- 1. the manifest of staged files -----------------------------------------------------------------

def manifest_path(output: str, run_id: str) -> str:
    return join(staging_folder(output, run_id), "_manifest.json")


def write_manifest(entries: list[tuple[str, str]], output: str, run_id: str) -> None:
    """``entries``: (table, staged file) of every bundle that succeeded."""
    staged: dict[str, list[str]] = {}
    for table, path in entries:
        staged.setdefault(table, []).append(path)
    write_atomic(manifest_path(output, run_id), json.dumps({k: sorted(v) for k, v in staged.items()}).encode())


def read_manifest(output: str, run_id: str) -> dict[str, list[str]]:
    return read_json(manifest_path(output, run_id))


# --- 2. and 3. prepare the commit and write its intent record ------------------------------------------

def commits_folder(output: str) -> str:
    return join(output, "_commits")


def intent_path(output: str, run_id: str) -> str:
    return join(commits_folder(output), f"{run_id}.json")


def prepare(output: str, run_id: str, staged: dict[str, list[str]], tables: tuple[str, ...], key: str,
            keys: set[str], summary: dict, collection: dict | None = None) -> dict:
    """Stage what the commit needs and write its intent record; returns the intent.

    ``tables``: the tables the job writes; in them, rows whose ``key`` column is in ``keys``
    are superseded by this run's. ``collection``: {"store", "id"} to merge ``staged["collection"]``
    into."""
    adds, deletes = [], []
    key_array = pa.array(sorted(keys), pa.string())
    for table in tables:
        new = staged.get(table, [])
        for i, src in enumerate(new):
            adds.append((src, join(output, table, f"{run_id}-{i:05d}.parquet")))
        kept = 0
        for old in table_files(output, table):
            hit = pc.is_in(read_columns(old, [key]).column(key), value_set=key_array)
            if not pc.any(hit).as_py():
                kept += 1
                continue
            deletes.append(old)  # read whole only when it holds superseded rows
            rest = read_columns(old, None).filter(pc.invert(pc.fill_null(hit, False)))
            if rest.num_rows:
                src = join(staging_folder(output, run_id), "_rewrite", table, old.rsplit("/", 1)[-1])
                write_parquet(rest, src)
                adds.append((src, join(output, table, old.rsplit("/", 1)[-1].removesuffix(".parquet")
                                       + f"-{run_id}.parquet")))
                kept += 1
        if not new and not kept:  # readers always find every table: one empty file with its schema
            src = join(staging_folder(output, run_id), "_empty", f"{table}.parquet")
            write_parquet(TABLES[table].empty_table(), src)
            adds.append((src, join(output, table, f"{run_id}-00000.parquet")))
    intent = {"run_id": run_id, "adds": adds, "deletes": deletes, "summary": summary,
              "collection": ({**collection, "files": staged.get("collection", [])} if collection else None)}
    failpoint("before-intent")
    write_atomic(intent_path(output, run_id), json.dumps(intent, default=str).encode())
    failpoint("after-intent")
    return intent


# --- 4. apply ----------------------------------------------------------------------------------------

def apply(output: str, intent: dict) -> None:
    """Carry out an intent record; safe to repeat from any point it was stopped at."""
    fs, _ = _fs(output)
    coll = intent.get("collection")
    if coll:
        files = [f for f in coll["files"] if fs.exists(_fs(f)[1])]
        if files:  # merge-insert on face_id: a repeated merge adds nothing
            inserted = CollectionStore(coll["store"]).merge_staged(coll["id"], files)
            if isinstance(intent["summary"].get("collection"), dict):
                intent["summary"]["collection"]["inserted"] = inserted
        failpoint("after-collection")
    for k, (src, dst) in enumerate(intent["adds"]):
        s, d = _fs(src)[1], _fs(dst)[1]
        if fs.exists(s):
            fs.makedirs(d.rsplit("/", 1)[0], exist_ok=True)
            fs.mv(s, d)
        failpoint(f"after-add-{k}")
    for k, old in enumerate(intent["deletes"]):
        p = _fs(old)[1]
        if fs.exists(p):
            fs.rm(p)
        failpoint(f"after-delete-{k}")
    write_atomic(join(output, "runs", f"{intent['run_id']}.json"),
                 json.dumps(intent["summary"], indent=2, default=str).encode())
    failpoint("after-summary")
    remove(staging_folder(output, intent["run_id"]))
    failpoint("after-staging")
    remove(intent_path(output, intent["run_id"]))
    _drop_empty(output, ("_staging", "_commits"))


def _drop_empty(output: str, folders: tuple[str, ...]) -> None:
    fs, _ = _fs(output)
    for folder in folders:
        path = _fs(join(output, folder))[1]
        if fs.exists(path) and not fs.ls(path):
            fs.rm(path, recursive=True)


def recover(output: str, running: str | None = None) -> dict:
    """Finish every commit a killed run left and remove the staging of dead runs (all but
    ``running``'s). Returns what it did."""
    fs, _ = _fs(output)
    fs.invalidate_cache()
    done = {"rolled_forward": [], "staging_removed": []}
    commits = _fs(commits_folder(output))[1]
    if fs.exists(commits):
        for f in sorted(fs.glob(join(commits, "*.json"))):
            intent = read_json(full_uri(fs, f))
            apply(output, intent)
            done["rolled_forward"].append(intent["run_id"])
    staging = _fs(join(output, "_staging"))[1]
    if fs.exists(staging):
        for d in fs.ls(staging, detail=False):
            run = d.rstrip("/").rsplit("/", 1)[-1]
            if run != running:
                fs.rm(d, recursive=True)
                done["staging_removed"].append(run)
    _drop_empty(output, ("_staging",))
    return done


# --- the lease: one run at a time in an OUT ------------------------------------------------------------

class LeaseHeldError(RuntimeError):
    """Another run is writing this OUT."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child not yet reaped is a zombie: dead all the same
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


class Lease:
    """``OUT/_lease.json``: taken at the start of a run, refreshed every TTL/4, removed at its
    end. A lease whose holder stopped refreshing it (TTL passed), or whose process on this host
    is gone, is stale and is taken over."""

    def __init__(self, output: str, run_id: str, ttl: float = LEASE_TTL):
        self.output, self.run_id, self.ttl = output, run_id, ttl
        self.path = join(output, "_lease.json")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _record(self) -> bytes:
        return json.dumps({"run_id": self.run_id, "host": socket.gethostname(), "pid": os.getpid(),
                           "expires": time.time() + self.ttl}).encode()

    def holder(self) -> dict | None:
        try:
            return read_json(self.path)
        except (FileNotFoundError, ValueError):
            return None

    def stale(self, holder: dict) -> bool:
        if holder.get("expires", 0) < time.time():
            return True
        return holder.get("host") == socket.gethostname() and not _alive(int(holder.get("pid", 0)))

    def acquire(self) -> None:
        for _ in range(3):
            if create_exclusive(self.path, self._record()):
                self._thread = threading.Thread(target=self._beat, daemon=True)
                self._thread.start()
                return
            holder = self.holder()
            if holder is not None and not self.stale(holder):
                raise LeaseHeldError(
                    f"{self.output} is being written by run {holder['run_id']} (pid {holder['pid']} on "
                    f"{holder['host']}); wait for it to finish (a run whose process died is taken over "
                    f"at once on its host, elsewhere {int(self.ttl)} s after it stopped)")
            remove(self.path)
        raise LeaseHeldError(f"could not take the lease on {self.output}")

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            try:
                write_atomic(self.path, self._record())
            except Exception:  # the store is unreachable: the run itself will fail and say so
                pass

    def release(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        try:
            holder = self.holder()
            if holder is not None and holder.get("run_id") == self.run_id:
                remove(self.path)
        except Exception:  # an unreachable store: the lease expires by itself (TTL)
            pass

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()
