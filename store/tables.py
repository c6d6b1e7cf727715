"""Parquet tables on any fsspec filesystem: paths, staged files, and reading tables back.

A job's workers write their batches as files under ``OUT/_staging/<run_id>/<table>/``
(``write_staged``); facelake.store.commit makes them part of ``OUT/<table>/`` exactly once.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from facelake.models.images import storage_error  # importing it also configures s3fs (its retry budget)
from facelake.schemas.tables import EMBEDDING_DIM


def join(base: str, *parts: str) -> str:
    """A path or URI under ``base`` ('/'-separated on every filesystem)."""
    return "/".join([base.rstrip("/"), *parts])


def absolute(uri: str) -> str:
    """A local path made absolute (the workers of a portable runner run in folders of their own);
    a URI (s3://...) unchanged. For the paths and URIs a job is given."""
    return uri if "://" in uri else os.path.abspath(os.path.expanduser(uri))


def full_uri(fs, path: str) -> str:
    """A path an fsspec filesystem listed, as a URI naming that filesystem (plain for local files)."""
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return path if protocol in ("file", "local") else f"{protocol}://{path}"


def write_parquet(table: pa.Table, path: str) -> None:
    fs, p = fsspec.core.url_to_fs(path)
    fs.makedirs(p.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(p, "wb") as f:
        pq.write_table(table, f, compression="zstd")


def replace_parquet(table: pa.Table, path: str) -> None:
    """Write a whole table as one file at ``path``, replacing what was there in one step (a
    rename locally, one object PUT on a store): readers see the old file or the new, never part."""
    fs, p = fsspec.core.url_to_fs(path)
    tmp = f"{p.rsplit('/', 1)[0]}/.{uuid.uuid4().hex}.tmp"
    write_parquet(table, full_uri(fs, tmp))
    fs.mv(tmp, p)


def staging_folder(output: str, run_id: str, *parts: str) -> str:
    return join(output, "_staging", run_id, *parts)


def write_staged(rows: list[dict], folder: str, schema: pa.Schema) -> str:
    """One batch of rows as a new Parquet file under ``folder``; returns its path."""
    path = join(folder, f"{uuid.uuid4().hex}.parquet")
    write_parquet(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def remove(path: str) -> None:
    """Remove a file or folder tree if it is there."""
    fs, p = fsspec.core.url_to_fs(path)
    if fs.exists(p):
        fs.rm(p, recursive=True)


def make_output(output: str) -> None:
    """Create a job's OUT folder or prefix; an object-store bucket must already exist."""
    fs, path = fsspec.core.url_to_fs(output)
    if full_uri(fs, path) != path:  # an object store
        bucket = path.split("/", 1)[0]
        try:
            found = fs.exists(bucket)
        except Exception as e:
            raise OSError(storage_error(output, e).message.replace("cannot read", "cannot write", 1)) from None
        if not found:
            raise FileNotFoundError(f"the output bucket {bucket} does not exist (facelake creates folders and "
                                    "prefixes, not buckets)")
    fs.makedirs(path, exist_ok=True)


def table_files(output: str, table: str, run_id: str = "") -> list[str]:
    """The committed files of a table (only one run's with ``run_id``), as full URIs."""
    fs, path = fsspec.core.url_to_fs(join(output, table))
    if not fs.exists(path):
        return []
    return [full_uri(fs, f) for f in sorted(fs.glob(join(path, f"{run_id}*.parquet" if run_id else "*.parquet")))]


def read_columns(path: str, columns: list[str] | None) -> pa.Table:
    """A Parquet file's columns (all with None)."""
    fs, p = fsspec.core.url_to_fs(path)
    with fs.open(p, "rb") as fh:
        return pq.read_table(fh, columns=columns)


def column_values(files: list[str], column: str) -> set[str]:
    """The distinct non-null values of one column over Parquet files."""
    values: set[str] = set()
    for f in files:
        values.update(v for v in read_columns(f, [column]).column(column).to_pylist() if v is not None)
    return values


def existing_image_ids(output: str) -> frozenset[str]:
    """image_ids already in OUT/images (for --skip-existing)."""
    return frozenset(column_values(table_files(output, "images"), "image_id"))


def row_counts(files_by_table: dict[str, list[str]], tables: tuple[str, ...]) -> dict:
    """Rows per table in these files (a run's staged files), and errors by reason."""
    counts, reasons = {}, Counter()
    for table in tables:
        n = 0
        for f in files_by_table.get(table, []):
            if table == "errors":
                rows = read_columns(f, ["reason"]).column("reason").to_pylist()
                reasons.update(rows)
                n += len(rows)
            else:
                fs, p = fsspec.core.url_to_fs(f)
                with fs.open(p, "rb") as fh:
                    n += pq.ParquetFile(fh).metadata.num_rows
        counts[table] = n
    counts["errors_by_reason"] = dict(sorted(reasons.items()))
    return counts


FACE_COLUMNS = ["face_id", "uri", "embedding"]


def faces_files(library: str) -> list[str]:
    """The Parquet files of a faces table: ``library`` is a detect job's OUT or its faces/ folder."""
    fs, path = fsspec.core.url_to_fs(library)
    folder = path.rstrip("/") + "/faces" if fs.isdir(path.rstrip("/") + "/faces") else path
    files = sorted(fs.glob(folder.rstrip("/") + "/*.parquet"))
    if not files:
        raise FileNotFoundError(f"no faces table (Parquet files) under {library}")
    return [full_uri(fs, f) for f in files]


def read_faces(paths: list[str]) -> tuple[list[str], list[str], np.ndarray]:
    """face ids, uris and the (n, 128) embeddings of faces tables' files (faces without one left out)."""
    ids, uris, vecs = [], [], []
    for p in paths:
        t = read_columns(p, FACE_COLUMNS)
        t = t.filter(t.column("embedding").is_valid())
        ids += t.column("face_id").to_pylist()
        uris += t.column("uri").to_pylist()
        if t.num_rows:
            vecs.append(t.column("embedding").combine_chunks().flatten().to_numpy().reshape(-1, EMBEDDING_DIM))
    return ids, uris, (np.concatenate(vecs).astype(np.float32) if vecs else np.zeros((0, EMBEDDING_DIM), np.float32))
