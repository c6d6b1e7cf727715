"""Searching faces at library scale: against a collection, or library against library."""

from __future__ import annotations

import apache_beam as beam
import numpy as np

from facelake.models.matching import pairs_within
from facelake.schemas.rekognition import distance_for_similarity, similarity
from facelake.schemas.tables import match_row, pair_row
from facelake.store.collections import CollectionStore, nearest_rows, open_scratch_table, vector_indexed
from facelake.store.tables import read_faces


class SearchCollection(beam.DoFn):
    """Batches of faces rows -> matches rows: each face's most similar faces in a collection."""

    def __init__(self, store: str, collection_id: str, max_matches: int, threshold: float, run_id: str):
        self.store, self.collection_id = store, collection_id
        self.max_matches, self.threshold, self.run_id = max_matches, threshold, run_id

    def setup(self):
        # opened, and asked whether it has an ANN index, once per worker rather than per face
        self.dataset = CollectionStore(self.store).dataset(self.collection_id)
        self.indexed = vector_indexed(self.dataset)

    def process(self, faces: list[dict]):
        limit = distance_for_similarity(self.threshold)
        for face in faces:
            hits = nearest_rows(self.dataset, np.asarray(face["embedding"], np.float32), self.max_matches, limit,
                                self.indexed)
            for rank, (row, d) in enumerate(hits, 1):
                beam.metrics.Metrics.counter("facelake", "matches").inc()
                yield match_row(face, rank, row, similarity(d), d, self.run_id)


def read_face_rows(path: str):
    """One faces-table file -> its rows (face_id, uri, embedding), for a PCollection."""
    ids, uris, vecs = read_faces([path])
    for i, u, v in zip(ids, uris, vecs):
        yield {"face_id": i, "uri": u, "embedding": v}


class PairsAgainst(beam.DoFn):
    """Batches of library A's faces -> pairs rows with every face of library B within the
    threshold, exact (blocked matrix products). B is loaded once per worker. When A and B are
    the same library each unordered pair is reported once (face_id_a < face_id_b)."""

    def __init__(self, b_files: list[str], threshold: float, same_library: bool, run_id: str):
        self.b_files, self.threshold, self.same, self.run_id = b_files, threshold, same_library, run_id

    def setup(self):
        self.b_ids, self.b_uris, self.b_vecs = read_faces(self.b_files)

    def process(self, faces: list[dict]):
        if not len(self.b_vecs):
            return
        q = np.stack([f["embedding"] for f in faces]).astype(np.float32)
        for block in pairs_within(q, self.b_vecs, distance_for_similarity(self.threshold)):
            for i, j, d in block:
                a, b = faces[int(i)], int(j)
                if self.same and a["face_id"] >= self.b_ids[b]:
                    continue
                beam.metrics.Metrics.counter("facelake", "pairs").inc()
                yield pair_row(a["face_id"], a["uri"], self.b_ids[b], self.b_uris[b], similarity(float(d)), float(d),
                               self.run_id)


class PairsAgainstANN(beam.DoFn):
    """Like PairsAgainst, but each face of A asks B's ANN index for its ``max_matches`` nearest
    faces, so B need not fit in memory; pairs beyond a face's max_matches-th neighbour are missed."""

    def __init__(self, ann_uri: str, threshold: float, max_matches: int, same_library: bool, run_id: str):
        self.ann_uri, self.threshold, self.max_matches = ann_uri, threshold, max_matches
        self.same, self.run_id = same_library, run_id

    def setup(self):
        self.dataset, self.indexed = open_scratch_table(self.ann_uri)

    def process(self, faces: list[dict]):
        limit = distance_for_similarity(self.threshold)
        for a in faces:
            for row, d in nearest_rows(self.dataset, a["embedding"], self.max_matches, limit, self.indexed,
                                       columns=["face_id", "uri"]):
                if self.same and a["face_id"] >= row["face_id"]:
                    continue
                beam.metrics.Metrics.counter("facelake", "pairs").inc()
                yield pair_row(a["face_id"], a["uri"], row["face_id"], row["uri"], similarity(d), d, self.run_id)
