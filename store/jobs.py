"""Video jobs (Rekognition's Start* / Get* calls): one JSON record per job in the store, and the
tables the job's video run writes, in a folder beside it.

    <store>/_video_jobs/<job_id>.json   {"JobId", "Kind", "JobStatus", "StatusMessage", ...}
    <store>/_video_jobs/<job_id>/       the video job's OUT (videos, video_faces, segments, ...)

The record is created once (exclusively) by the Start* call and then written only by the job's
own background process, so there is one writer per record.
"""

from __future__ import annotations

import json
import os
import tempfile

import pyarrow as pa

from .collections import default_store
from .commit import create_exclusive, read_json, write_atomic
from .tables import join, read_columns, table_files

FOLDER = "_video_jobs"


class JobStore:
    def __init__(self, store_uri: str | None = None):
        self.store_uri = store_uri or default_store()
        self.root = join(self.store_uri, FOLDER)

    def _record(self, job_id: str) -> str:
        return join(self.root, f"{job_id}.json")

    def output(self, job_id: str) -> str:
        """Where the job's tables go (the video job's OUT)."""
        return join(self.root, job_id)

    def log_path(self, job_id: str) -> str:
        """A local file for the background run's log: beside the record, or in the temp folder."""
        if "://" in self.root:
            return os.path.join(tempfile.gettempdir(), f"facelake-job-{job_id}.log")
        os.makedirs(self.root, exist_ok=True)
        return os.path.join(self.root, f"{job_id}.log")

    def create(self, record: dict) -> bool:
        """Record a new job; False if its JobId is already recorded."""
        return create_exclusive(self._record(record["JobId"]), json.dumps(record).encode())

    def get(self, job_id: str) -> dict | None:
        try:
            return read_json(self._record(job_id))
        except FileNotFoundError:
            return None

    def update(self, job_id: str, **fields) -> dict:
        record = {**(self.get(job_id) or {}), **fields}
        write_atomic(self._record(job_id), json.dumps(record).encode())
        return record

    def table(self, job_id: str, table: str) -> pa.Table:
        """Every committed row of one of the job's tables."""
        files = table_files(self.output(job_id), table)
        return pa.concat_tables([read_columns(f, None) for f in files]) if files else pa.table({})
