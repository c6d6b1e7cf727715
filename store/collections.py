"""Face collections stored in LanceDB: one table per collection plus a table of collections;
also the ANN scratch tables of compare-libraries. The only module that calls LanceDB.

Deletion is real: deleting faces rewrites the affected data files without them and removes
every older version of the table, so no file in the store still holds their vectors.
Searches are exact (LanceDB's flat scan, squared L2) until an ANN index exists.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds

from facelake.schemas.collections import COLLECTION_FACES, COLLECTIONS, FACE_COLUMNS, REQUESTS
from facelake.settings import (
    ANN_SCRATCH_MIN_FACES, INDEX_MIN_FACES, INDEX_REFRESH_FACES, INDEX_SETTINGS, REQUEST_TOKEN_HOURS,
    REQUESTS_PURGE_EVERY, SEARCH_SETTINGS)

from .sql import quoted
from .tables import read_faces
from .users import UserStore

META = "__collections"
FACE_FIELDS = [name for name in COLLECTION_FACES.names if name != "vector"]  # what a search answers with
REQUESTS_TABLE = "__requests"


def table_name(collection_id: str) -> str:
    """The LanceDB table of a collection: its id where the id is a safe folder name, else a name
    derived from it. Every id Rekognition's pattern allows ([a-zA-Z0-9_.-]{1,255}) works, ".",
    ".." and 255 characters (too long with ".lance" added) included."""
    if collection_id in (".", "..") or len(collection_id) > 200 or collection_id.startswith("__"):
        return "__c" + hashlib.sha256(collection_id.encode()).hexdigest()[:40]
    return collection_id


def connect(uri: str):
    """A LanceDB connection to a store. LanceDB is imported here, on first use: importing it takes
    about a second, which every job and worker would pay even when it never opens a collection."""
    import lancedb

    return lancedb.connect(uri, storage_options=storage_options(uri) or None)


def default_store() -> str:
    return os.environ.get("FACELAKE_STORE") or str(Path.home() / ".facelake" / "store")


def vector_indexed(table) -> bool:
    """Whether a face table (a LanceDB table, or the Lance dataset searches read) has its ANN
    index (on ``vector``; a collection also gets a scalar index on face_id)."""
    if hasattr(table, "describe_indices"):  # a Lance dataset
        return any(list(index.field_names) == ["vector"] for index in table.describe_indices())
    return any(index.columns == ["vector"] for index in table.list_indices())


def nearest_rows(dataset, vector: np.ndarray, k: int, max_distance: float, indexed: bool | None = None,
                 exclude: str | None = None, columns: list[str] = FACE_FIELDS) -> list[tuple[dict, float]]:
    """Up to k rows of a face table's Lance dataset within max_distance (euclidean) of vector,
    nearest first, as (row, distance), with these columns (each costs a read per row found; the
    vector, 512 bytes a row, is left out unless asked for); ``exclude``: a face_id left out;
    ``indexed``: whether it has its ANN index (asked if None), searched with SEARCH_SETTINGS.

    Searched through Lance directly: at 1M faces LanceDB's query on a table opened per search took
    10.3 ms, Lance itself 7.1 ms with every column (BENCHMARKS.md, "Search at 1M faces: Lance
    directly")."""
    nearest = {"column": "vector", "q": np.asarray(vector, np.float32), "k": k}
    if vector_indexed(dataset) if indexed is None else indexed:
        refine = SEARCH_SETTINGS.get("refine") or 1
        # HNSW needs ef >= the candidates it returns: k, times the re-rank factor
        nearest.update(nprobes=SEARCH_SETTINGS["nprobes"], ef=max(SEARCH_SETTINGS["ef"], k * refine))
        if refine > 1:  # re-rank refine x k candidates on the full vectors
            nearest["refine_factor"] = refine
    found = dataset.to_table(columns=[*columns, "_distance"], nearest=nearest, prefilter=bool(exclude),
                             filter=f"face_id != {quoted([exclude])}" if exclude else None)
    out = []
    for row in found.to_pylist():
        d = float(np.sqrt(max(row.pop("_distance"), 0.0)))  # Lance's l2 is squared
        if d <= max_distance:
            out.append((row, d))
    return out


def create_vector_index(table, rows: int) -> None:
    """Build the IVF_HNSW_SQ index on a table's ``vector`` column with INDEX_SETTINGS."""
    from lancedb.index import IvfHnswSq

    table.create_index("vector", config=IvfHnswSq(
        distance_type="l2", num_partitions=max(1, rows // INDEX_SETTINGS["rows_per_partition"]),
        m=INDEX_SETTINGS["m"], ef_construction=INDEX_SETTINGS["ef_construction"]))


def storage_options(uri: str) -> dict[str, str]:
    """LanceDB's object-store settings for an s3:// store: the endpoint is taken from
    AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL (as boto3 and s3fs do), plain http allowed for it."""
    if not uri.startswith("s3://"):
        return {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        return {}
    opts = {"aws_endpoint": endpoint}
    if endpoint.startswith("http://"):
        opts["allow_http"] = "true"
    return opts


class CollectionStore:
    """The collections of one store: a local folder or an s3:// prefix (credentials and endpoint
    from the usual AWS_* variables)."""

    def __init__(self, uri: str | None = None):
        self.uri = uri or default_store()
        if "://" not in self.uri:
            Path(self.uri).mkdir(parents=True, exist_ok=True)
        self.db = connect(self.uri)
        self._current: set[str] = set()  # collection tables known to have every COLLECTION_FACES column
        self._datasets: dict[str, str] = {}  # collection table -> its Lance dataset's URI
        self._session = None  # Lance's caches (opened indices, metadata), shared by this store's searches

    # --- collections -------------------------------------------------------------------------
    def _tables(self) -> set[str]:
        names, token = set(), None
        while True:
            resp = self.db.list_tables(page_token=token)
            names.update(resp.tables)
            token = resp.page_token
            if not token:
                return names

    def open_or_create(self, name: str, schema: pa.Schema):
        """A table of the store, created empty if it is not there yet."""
        if name not in self._tables():
            try:
                return self.db.create_table(name, schema=schema)
            except (ValueError, OSError):  # created meanwhile by another writer
                pass
        return self.db.open_table(name)

    def open_if_there(self, name: str):
        """A table of the store, or None if nothing created it (reads create no table)."""
        return self.db.open_table(name) if name in self._tables() else None

    def _meta(self):
        return self.open_or_create(META, COLLECTIONS)

    def exists(self, collection_id: str) -> bool:
        return table_name(collection_id) in self._tables()

    def create(self, collection_id: str, face_model_version: str) -> None:
        self.db.create_table(table_name(collection_id), schema=COLLECTION_FACES)
        self._meta().add(pa.Table.from_pylist([{
            "collection_id": collection_id, "face_model_version": face_model_version,
            "created_at": dt.datetime.now(dt.timezone.utc)}], schema=COLLECTIONS))

    def info(self, collection_id: str) -> dict:
        rows = self._meta().search().where(f"collection_id = {quoted([collection_id])}").limit(1).to_list()
        meta = rows[0] if rows else {"face_model_version": "", "created_at": None}
        return {"face_count": self.table(collection_id).count_rows(),
                "face_model_version": meta["face_model_version"], "created_at": meta["created_at"]}

    def collections(self) -> list[tuple[str, str]]:
        """(collection id, face model version), sorted by id."""
        tables = self._tables()
        meta = {r["collection_id"]: r["face_model_version"] for r in self._meta().to_arrow().to_pylist()}
        return sorted((cid, version) for cid, version in meta.items() if table_name(cid) in tables)

    def drop(self, collection_id: str) -> None:
        self.users(collection_id).drop()
        self.db.drop_table(table_name(collection_id))
        self._current.discard(table_name(collection_id))
        meta = self._meta()
        meta.delete(f"collection_id = {quoted([collection_id])}")
        self.purge(meta)

    def users(self, collection_id: str) -> UserStore:
        return UserStore(self, collection_id)

    # --- answers to requests with a ClientRequestToken -------------------------------------------
    def answered(self, key: str) -> dict | None:
        """What was answered to the request ``key`` (operation and token) within the last
        REQUEST_TOKEN_HOURS, if anything."""
        table = self.open_if_there(REQUESTS_TABLE)
        rows = table.search().where(f"key = {quoted([key])}").to_list() if table is not None else []
        newest = max(rows, key=lambda r: r["at"], default=None)  # a token reused after its window has two
        return newest if newest is not None and newest["at"] >= self._token_cutoff() else None

    def remember(self, key: str, params_sha256: str, response: str) -> None:
        table = self.open_or_create(REQUESTS_TABLE, REQUESTS)
        table.add(pa.Table.from_pylist([{"key": key, "params_sha256": params_sha256, "response": response,
                                         "at": dt.datetime.now(dt.timezone.utc)}], schema=REQUESTS))
        if table.count_rows() % REQUESTS_PURGE_EVERY == 0:
            self.forget_requests()

    def forget_requests(self) -> None:
        """Drop the answers older than REQUEST_TOKEN_HOURS, and the table's old versions."""
        table = self.open_if_there(REQUESTS_TABLE)
        if table is not None:
            table.delete(f"at < timestamp '{self._token_cutoff():%Y-%m-%d %H:%M:%S}'")
            self.purge(table)

    @staticmethod
    def _token_cutoff() -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=REQUEST_TOKEN_HOURS)

    # --- faces ---------------------------------------------------------------------------------
    def table(self, collection_id: str):
        name = table_name(collection_id)
        table = self.db.open_table(name)
        if name in self._current:
            return table
        missing = [f for f in COLLECTION_FACES if f.name not in table.schema.names]
        if missing:  # a collection made by an older facelake: its new columns added, null for its faces
            try:
                table.add_columns(missing)
            except Exception:  # added meanwhile by another writer
                table = self.db.open_table(name)
                if any(f.name not in table.schema.names for f in missing):
                    raise
        self._current.add(name)  # checked once per store object: a schema read costs more than the open
        return table

    def columns(self, collection_id: str, columns: list[str]) -> pa.Table:
        """Every face of a collection, these columns only (the others are not read)."""
        return self.table(collection_id).to_lance().to_table(columns=columns)

    def faces_and_vectors(self, collection_id: str, columns: list[str]) -> tuple[pa.Table, np.ndarray]:
        """Every face of a collection: these columns, and the (n, 128) float32 vectors row by row
        with them, from one version of the table. Two scans of that version, in order: the
        vectors go batch by batch into one array, the other columns into a table. (One scan of
        both held 0.9 GB more at 1M faces; two, 0.3 GB.)"""
        dataset = self.table(collection_id).to_lance()  # one version: both scans see the same rows
        x = np.empty((dataset.count_rows(), COLLECTION_FACES.field("vector").type.list_size), np.float32)
        at = 0
        for batch in dataset.to_batches(columns=["vector"], scan_in_order=True):
            n = batch.num_rows
            x[at:at + n] = batch.column("vector").flatten().to_numpy().reshape(n, -1)
            at += n
        schema = pa.schema([COLLECTION_FACES.field(c) for c in columns])
        faces = pa.Table.from_batches(list(dataset.to_batches(columns=columns, scan_in_order=True)), schema=schema)
        if faces.num_rows != at:
            raise RuntimeError(f"collection {collection_id}: {faces.num_rows} rows read but {at} vectors")
        return faces, x[:at]

    def add(self, collection_id: str, rows: list[dict]) -> list[str]:
        """Add faces whose face_id is not there yet; returns the ids added."""
        if not rows:
            return []
        table = self.table(collection_id)
        have = {r["face_id"] for r in self.get(collection_id, [r["face_id"] for r in rows])}
        new = [r for r in rows if r["face_id"] not in have]
        if new:
            table.add(pa.Table.from_pylist(new, schema=COLLECTION_FACES))
            count = table.count_rows()
            if count >= INDEX_MIN_FACES and (not vector_indexed(table) or count % INDEX_REFRESH_FACES < len(new)):
                self.ensure_index(collection_id)  # build the index, then refresh it every INDEX_REFRESH_FACES faces
        return [r["face_id"] for r in new]

    def merge_staged(self, collection_id: str, staged: list[str]) -> int:
        """Insert the faces of staged Parquet files (COLLECTION_FACES rows) whose face_id is not
        there yet, in one atomic Lance commit (a commit that raced another is retried by Lance);
        then build or refresh the ANN index as ``add`` does. Returns the rows inserted."""
        if not staged:
            return 0
        fs, _ = fsspec.core.url_to_fs(staged[0])
        dataset = ds.dataset([fsspec.core.url_to_fs(p)[1] for p in staged], schema=COLLECTION_FACES,
                             format="parquet", filesystem=fs)
        result = (self.table(collection_id).merge_insert("face_id").when_not_matched_insert_all()
                  .execute(dataset.scanner().to_reader()))
        self.ensure_index(collection_id)
        return int(result.num_inserted_rows)

    def get(self, collection_id: str, face_ids: list[str]) -> list[dict]:
        if not face_ids:
            return []
        return (self.table(collection_id).search().where(f"face_id IN ({quoted(face_ids)})")
                .limit(len(face_ids)).to_list())

    def page(self, collection_id: str, offset: int, limit: int, user_id: str | None = None,
             face_ids: list[str] | None = None) -> tuple[list[dict], bool]:
        """Faces ordered by face_id, from ``offset``, optionally only a user's or only those
        listed; also whether more follow."""
        columns = [c for c in COLLECTION_FACES.names if c != "vector"]
        query = self.table(collection_id).search().select(columns)
        clauses = ([f"user_id = {quoted([user_id])}"] if user_id is not None else []) + (
            [f"face_id IN ({quoted(face_ids)})"] if face_ids is not None else [])
        if clauses:
            query = query.where(" AND ".join(clauses))
        from lancedb.query import ColumnOrdering

        rows = (query.order_by([ColumnOrdering(column_name="face_id")]).offset(offset).limit(limit + 1)
                .to_arrow().to_pylist())
        return rows[:limit], len(rows) > limit

    def remove(self, collection_id: str, face_ids: list[str]) -> list[str]:
        """Delete faces and purge them from storage; returns the ids that existed."""
        found = [r["face_id"] for r in self.get(collection_id, face_ids)]
        if found:
            table = self.table(collection_id)
            table.delete(f"face_id IN ({quoted(found)})")
            self.purge(table)
            self.users(collection_id).forget_unassigned(found)  # indexed again, they are new faces
        return found

    def nearest(self, collection_id: str, vector: np.ndarray, k: int, max_distance: float,
                exclude: str | None = None, columns: list[str] = FACE_COLUMNS) -> list[tuple[dict, float]]:
        """Up to k faces within max_distance (euclidean) of vector, nearest first, with these
        columns (by default those of Rekognition's Face)."""
        return nearest_rows(self.dataset(collection_id), vector, k, max_distance, exclude=exclude, columns=columns)

    def dataset(self, collection_id: str):
        """The collection's Lance dataset at its newest version, for searching. Opened with this
        store's Lance session, so the ANN index is read from storage once, not at every open
        (an open without it cost ~45 ms at 200k faces, with it ~0.1 ms)."""
        import lance

        name = table_name(collection_id)
        if self._session is None:
            self._session = lance.Session()
        options = storage_options(self.uri) or None
        if name in self._datasets:
            try:
                return lance.dataset(self._datasets[name], session=self._session, storage_options=options)
            except Exception:  # dropped since: table() below says so as for any other call
                self._datasets.pop(name, None)
        uri = self._datasets[name] = self.table(collection_id).to_lance().uri
        return lance.dataset(uri, session=self._session, storage_options=options)

    def ensure_index(self, collection_id: str, force: bool = False) -> bool:
        """Build the ANN index if the collection has grown past INDEX_MIN_FACES (or ``force``),
        with a B-tree on face_id beside it, or bring existing ones up to date with faces added
        since. Searches keep working while this runs: LanceDB swaps new indices in with a new
        table version. The B-tree is what lets updates by face_id (grouping 1M faces sets
        32,000 owners) look rows up instead of joining the whole table: 1.55 GB and 1.2 s
        without it, 0.1-0.2 GB and 0.6 s with it."""
        from lancedb.index import BTree

        table = self.table(collection_id)
        n = table.count_rows()
        indexed = {tuple(index.columns) for index in table.list_indices()}
        if ("vector",) not in indexed:
            if n < INDEX_MIN_FACES and not force:
                return False
            create_vector_index(table, n)
        else:
            table.optimize()  # adds rows written since the indices were built
        if ("face_id",) not in indexed:
            try:
                table.create_index("face_id", config=BTree())
            except Exception:  # another writer made it meanwhile
                if ["face_id"] not in [index.columns for index in self.table(collection_id).list_indices()]:
                    raise
        return True

    @staticmethod
    def index_new_face_ids(table) -> None:
        """Bring the B-tree on face_id (if the table has one) up to date with rows written since."""
        names = [index.name for index in table.list_indices() if index.columns == ["face_id"]]
        if names:
            table.to_lance().optimize.optimize_indices(index_names=names)

    @staticmethod
    def purge(table) -> None:
        """Rewrite data files without deleted rows and drop every older version."""
        dataset = table.to_lance()  # lance's own API: lancedb's optimize() keeps files under 10% deleted
        dataset.optimize.compact_files(materialize_deletions=True, materialize_deletions_threshold=0.0)
        dataset.cleanup_old_versions(older_than=dt.timedelta(0), delete_unverified=True)


def build_scratch_table(b_files: list[str], uri: str) -> None:
    """A faces table's faces as a LanceDB table with an IVF_HNSW_SQ index (compare-libraries
    --ann), at ``uri`` where every worker can open it."""
    ids, uris, vecs = read_faces(b_files)
    table = pa.table({"face_id": ids, "uri": uris,
                      "vector": pa.FixedSizeListArray.from_arrays(pa.array(vecs.ravel(), pa.float32()), vecs.shape[1])})
    t = connect(uri).create_table("b", data=table)
    if len(ids) >= ANN_SCRATCH_MIN_FACES:
        create_vector_index(t, len(ids))


def open_scratch_table(uri: str):
    """The Lance dataset of the table build_scratch_table wrote, and whether it has an ANN index."""
    dataset = connect(uri).open_table("b").to_lance()
    return dataset, vector_indexed(dataset)
