"""Bulk indexing into a face collection: workers stage rows, the job's commit merges them.

Faces rows (from DetectFaces) become collection rows; those that miss the QualityFilter are
counted, not indexed. Workers write the rows as Parquet under ``OUT/_staging/<run>/collection/``;
the job's commit (facelake.store.commit) merges them into the collection's LanceDB table with
``merge_insert`` on face_id (insert when not there), which Lance commits atomically. So a
failed run adds nothing, a retried bundle's orphan file is never read, a second run over the
same inputs adds nothing (face ids are deterministic), and two runs into one collection at once
both land (Lance retries a commit that raced another).
"""

from __future__ import annotations

import apache_beam as beam

from facelake.schemas.collections import COLLECTION_FACES, collection_face_id, external_image_id_for, image_uuid
from facelake.schemas.rekognition import quality_reasons
from facelake.settings import ROWS_PER_FILE

from .parquet import WriteTable


def collection_row(face: dict, collection_id: str, model_version: str, image_sha: str) -> dict:
    ext = external_image_id_for(face["uri"])
    return {"face_id": collection_face_id(collection_id, image_sha, ext, face["face_index"], model_version),
            "image_id": image_uuid(image_sha, ext), "content_sha256": image_sha, "external_image_id": ext,
            "source_uri": face["uri"], "user_id": None, "bounding_box": face["bounding_box"],
            "confidence": face["confidence"], "model_version": model_version, "vector": face["embedding"],
            "captured_at": face.get("captured_at")}


class _ToCollectionRow(beam.DoFn):
    def __init__(self, collection_id: str, model_version: str, quality_filter: str):
        self.collection_id, self.model_version, self.quality_filter = collection_id, model_version, quality_filter

    def process(self, face: dict):
        q = face["quality"]
        if quality_reasons(face["confidence"], q["sharpness"], q["brightness"], self.quality_filter):
            beam.metrics.Metrics.counter("facelake", "collection_unindexed").inc()
            return
        yield collection_row(face, self.collection_id, self.model_version, face["image_id"])


class IndexIntoCollection(beam.PTransform):
    """faces rows -> collection rows staged under OUT/_staging/<run>/collection/, as
    ("collection", path): the job's commit merges them into the collection."""

    def __init__(self, output: str, collection_id: str, model_version: str, run_id: str,
                 quality_filter: str = "AUTO", rows_per_file: int = ROWS_PER_FILE):
        super().__init__()
        self.output, self.collection_id, self.model_version = output, collection_id, model_version
        self.run_id, self.quality_filter, self.rows_per_file = run_id, quality_filter, rows_per_file

    def expand(self, faces):
        return (faces
                | "ToRows" >> beam.ParDo(_ToCollectionRow(self.collection_id, self.model_version, self.quality_filter))
                # the same photo under the same file name in two folders gives the same face ids: keep one
                | "ByFaceId" >> beam.Map(lambda row: (row["face_id"], row))
                | "OnePerFaceId" >> beam.CombinePerKey(lambda rows: min(rows, key=lambda r: r["source_uri"]))
                | "Rows" >> beam.Values()
                | "Stage" >> WriteTable(self.output, "collection", self.run_id, self.rows_per_file, COLLECTION_FACES))
