"""Searching faces at library scale: against a collection, or library against library."""

from __future__ import annotations

import apache_beam as beam
import fsspec
import numpy as np
import pyarrow.parquet as pq

from facelake.models.matching import pairs_within
from facelake.schemas.rekognition import distance_for_similarity, similarity

from .sources import full_uri

FACE_COLUMNS = ["face_id", "uri", "embedding"]


class SearchCollection(beam.DoFn):
    """Batches of faces rows -> matches rows: each face's most similar faces in a collection."""

    def __init__(self, store: str, collection_id: str, max_matches: int, threshold: float, run_id: str):
        self.store, self.collection_id = store, collection_id
        self.max_matches, self.threshold, self.run_id = max_matches, threshold, run_id

    def setup(self):
        from facelake.collections import CollectionStore

        # opened, and asked whether it has an ANN index, once per worker rather than per face
        self.table = CollectionStore(self.store).table(self.collection_id)
        self.indexed = bool(self.table.list_indices())

    def process(self, faces: list[dict]):
        from facelake.collections import nearest_rows

        limit = distance_for_similarity(self.threshold)
        for face in faces:
            hits = nearest_rows(self.table, np.asarray(face["embedding"], np.float32), self.max_matches, limit,
                                self.indexed)
            for rank, (row, d) in enumerate(hits, 1):
                beam.metrics.Metrics.counter("facelake", "matches").inc()
                yield {"face_id": face["face_id"], "image_id": face["image_id"], "uri": face["uri"],
                       "face_index": face["face_index"], "rank": rank, "match_face_id": row["face_id"],
                       "match_external_image_id": row["external_image_id"], "match_source_uri": row["source_uri"],
                       "similarity": similarity(d), "distance": d, "run_id": self.run_id}


def faces_files(library: str) -> list[str]:
    """The Parquet files of a faces table: ``library`` is a detect job's OUT or its faces/ folder."""
    fs, path = fsspec.core.url_to_fs(library)
    folder = path.rstrip("/") + "/faces" if fs.isdir(path.rstrip("/") + "/faces") else path
    files = sorted(fs.glob(folder.rstrip("/") + "/*.parquet"))
    if not files:
        raise FileNotFoundError(f"no faces table (Parquet files) under {library}")
    return [full_uri(fs, f) for f in files]


def read_faces(paths: list[str]) -> tuple[list[str], list[str], np.ndarray]:
    """face ids, uris and the (n, 128) embeddings of faces tables' files."""
    ids, uris, vecs = [], [], []
    for p in paths:
        fs, path = fsspec.core.url_to_fs(p)
        with fs.open(path, "rb") as f:
            t = pq.read_table(f, columns=FACE_COLUMNS)
        t = t.filter(t.column("embedding").is_valid())
        ids += t.column("face_id").to_pylist()
        uris += t.column("uri").to_pylist()
        if t.num_rows:
            vecs.append(t.column("embedding").combine_chunks().flatten().to_numpy().reshape(-1, 128))
    return ids, uris, (np.concatenate(vecs).astype(np.float32) if vecs else np.zeros((0, 128), np.float32))


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
                yield {"face_id_a": a["face_id"], "uri_a": a["uri"], "face_id_b": self.b_ids[b],
                       "uri_b": self.b_uris[b], "similarity": similarity(float(d)), "distance": float(d),
                       "run_id": self.run_id}


def build_ann_table(b_files: list[str], uri: str) -> None:
    """Library B's faces as a LanceDB table with an IVF_HNSW_SQ index (the ANN path of
    compare-libraries), at ``uri`` where every worker can open it."""
    import lancedb
    import pyarrow as pa

    from facelake.collections import create_vector_index, storage_options

    ids, uris, vecs = read_faces(b_files)
    table = pa.table({"face_id": ids, "uri": uris,
                      "vector": pa.FixedSizeListArray.from_arrays(pa.array(vecs.ravel(), pa.float32()), 128)})
    db = lancedb.connect(uri, storage_options=storage_options(uri) or None)
    t = db.create_table("b", data=table)
    if len(ids) >= 5000:  # below that an exact scan is as fast
        create_vector_index(t, len(ids))


class PairsAgainstANN(beam.DoFn):
    """Like PairsAgainst, but each face of A asks B's ANN index for its ``max_matches`` nearest
    faces, so B need not fit in memory; pairs beyond a face's max_matches-th neighbour are missed."""

    def __init__(self, ann_uri: str, threshold: float, max_matches: int, same_library: bool, run_id: str):
        self.ann_uri, self.threshold, self.max_matches = ann_uri, threshold, max_matches
        self.same, self.run_id = same_library, run_id

    def setup(self):
        import lancedb

        from facelake.collections import storage_options

        self.table = lancedb.connect(self.ann_uri, storage_options=storage_options(self.ann_uri) or None).open_table("b")
        self.indexed = bool(self.table.list_indices())

    def process(self, faces: list[dict]):
        from facelake.collections import nearest_rows

        limit = distance_for_similarity(self.threshold)
        for a in faces:
            for row, d in nearest_rows(self.table, a["embedding"], self.max_matches, limit, self.indexed):
                if self.same and a["face_id"] >= row["face_id"]:
                    continue
                beam.metrics.Metrics.counter("facelake", "pairs").inc()
                yield {"face_id_a": a["face_id"], "uri_a": a["uri"], "face_id_b": row["face_id"], "uri_b": row["uri"],
                       "similarity": similarity(d), "distance": d, "run_id": self.run_id}
