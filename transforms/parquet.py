"""Writing tables as zstd Parquet on any fsspec filesystem, committed in one final step.

Workers write their batches as files under ``OUT/_staging/<run_id>/<table>/``; one final step
moves the files that reached it (from bundles that succeeded) to ``OUT/<table>/<run_id>-NNNNN.parquet``
and removes the staging folder. A retried bundle's orphan file is never committed, so retries
leave no duplicates; a table with no rows gets one empty file with the schema, so readers
always find every table.
"""

from __future__ import annotations

import uuid

import apache_beam as beam
import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from facelake.schemas.tables import TABLES


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts])


def write_parquet(table: pa.Table, path: str) -> None:
    fs, p = fsspec.core.url_to_fs(path)
    fs.makedirs(p.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(p, "wb") as f:
        pq.write_table(table, f, compression="zstd")


class WriteStaged(beam.DoFn):
    """Batches of rows -> one Parquet file each under ``folder``; yields the file's path."""

    def __init__(self, folder: str, schema: pa.Schema):
        self.folder, self.schema = folder, schema

    def process(self, rows: list[dict]):
        path = join(self.folder, f"{uuid.uuid4().hex}.parquet")
        write_parquet(pa.Table.from_pylist(rows, schema=self.schema), path)
        yield path


def commit(staged: list[str], output: str, table: str, run_id: str) -> list[str]:
    """Move staged files into place; an empty table still gets one file with its schema."""
    fs, _ = fsspec.core.url_to_fs(output)
    final = []
    for i, src in enumerate(sorted(staged)):
        dst = join(output, table, f"{run_id}-{i:05d}.parquet")
        fs.makedirs(join(output, table), exist_ok=True)
        fs.mv(src, dst)
        final.append(dst)
    if not final:
        dst = join(output, table, f"{run_id}-00000.parquet")
        write_parquet(TABLES[table].empty_table(), dst)
        final.append(dst)
    staging = join(output, "_staging", run_id, table)
    if fs.exists(staging):
        fs.rm(staging, recursive=True)
    return final


class WriteTable(beam.PTransform):
    """rows (dicts of the table's schema) -> committed Parquet files; outputs their paths once."""

    def __init__(self, output: str, table: str, run_id: str, rows_per_file: int = 20_000):
        super().__init__()
        self.output, self.table, self.run_id, self.rows_per_file = output, table, run_id, rows_per_file

    def expand(self, rows):
        return (rows
                # fixed-size batches: one file per rows_per_file rows (or per bundle's remainder)
                | "Batch" >> beam.BatchElements(min_batch_size=self.rows_per_file, max_batch_size=self.rows_per_file)
                | "Stage" >> beam.ParDo(WriteStaged(join(self.output, "_staging", self.run_id, self.table),
                                                    TABLES[self.table]))
                | "Gather" >> beam.combiners.ToList()
                | "Commit" >> beam.Map(commit, self.output, self.table, self.run_id))
