"""WriteTable: rows into a committed Parquet table, written by workers and committed once.

Workers stage one file per batch (facelake.store.tables.write_staged); a single final step
commits the files of the bundles that succeeded (facelake.store.tables.commit), so a retried
bundle's orphan file is never committed.
"""

from __future__ import annotations

import apache_beam as beam
import pyarrow as pa

from facelake.schemas.tables import TABLES
from facelake.settings import ROWS_PER_FILE
from facelake.store.tables import commit, staging_folder, write_staged


class WriteStaged(beam.DoFn):
    """Batches of rows -> one Parquet file each under ``folder``; yields the file's path."""

    def __init__(self, folder: str, schema: pa.Schema):
        self.folder, self.schema = folder, schema

    def process(self, rows: list[dict]):
        yield write_staged(rows, self.folder, self.schema)


class WriteTable(beam.PTransform):
    """rows (dicts of the table's schema) -> committed Parquet files; outputs their paths once."""

    def __init__(self, output: str, table: str, run_id: str, rows_per_file: int = ROWS_PER_FILE):
        super().__init__()
        self.output, self.table, self.run_id, self.rows_per_file = output, table, run_id, rows_per_file

    def expand(self, rows):
        return (rows
                # fixed-size batches: one file per rows_per_file rows (or per bundle's remainder)
                | "Batch" >> beam.BatchElements(min_batch_size=self.rows_per_file, max_batch_size=self.rows_per_file)
                | "Stage" >> beam.ParDo(WriteStaged(staging_folder(self.output, self.run_id, self.table),
                                                    TABLES[self.table]))
                | "Gather" >> beam.combiners.ToList()
                | "Commit" >> beam.Map(commit, self.output, self.table, self.run_id))
