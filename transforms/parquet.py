"""WriteTable and RecordStaged: rows into staged Parquet files, and the list of those that count.

Workers stage one file per batch (facelake.store.tables.write_staged) and pass on its path; the
pipeline's last step, RecordStaged, writes the paths it received (the files of bundles that
succeeded, so never a retried bundle's orphan) into the run's manifest. The job's launcher then
commits them exactly once (facelake.store.commit).
"""

from __future__ import annotations

import apache_beam as beam
import pyarrow as pa

from facelake.schemas.tables import TABLES
from facelake.settings import ROWS_PER_FILE
from facelake.store.commit import write_manifest
from facelake.store.tables import staging_folder, write_staged


class WriteStaged(beam.DoFn):
    """Batches of rows -> one Parquet file each under ``folder``; yields (table, the file's path)."""

    def __init__(self, table: str, folder: str, schema: pa.Schema):
        self.table, self.folder, self.schema = table, folder, schema

    def process(self, rows: list[dict]):
        yield self.table, write_staged(rows, self.folder, self.schema)


class WriteTable(beam.PTransform):
    """rows (dicts of the table's schema) -> staged Parquet files, as (table, path)."""

    def __init__(self, output: str, table: str, run_id: str, rows_per_file: int = ROWS_PER_FILE,
                 schema: pa.Schema | None = None):
        super().__init__()
        self.output, self.table, self.run_id, self.rows_per_file = output, table, run_id, rows_per_file
        self.schema = schema or TABLES[table]

    def expand(self, rows):
        return (rows
                # fixed-size batches: one file per rows_per_file rows (or per bundle's remainder)
                | "Batch" >> beam.BatchElements(min_batch_size=self.rows_per_file, max_batch_size=self.rows_per_file)
                | "Stage" >> beam.ParDo(WriteStaged(self.table, staging_folder(self.output, self.run_id, self.table),
                                                    self.schema)))


class RecordStaged(beam.PTransform):
    """PCollections of (table, staged path) -> the run's manifest, written once at the end."""

    def __init__(self, output: str, run_id: str):
        super().__init__()
        self.output, self.run_id = output, run_id

    def expand(self, staged):
        return (staged
                | "AllStaged" >> beam.Flatten()
                | "Gather" >> beam.combiners.ToList()
                | "Manifest" >> beam.Map(write_manifest, self.output, self.run_id))
