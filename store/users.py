"""The users of a collection in LanceDB: a users table (one row per user, with the mean of its
faces' descriptors as its match vector), the faces table's ``user_id`` column (the one record
of which face belongs to whom) and a table of the changes made by hand.

Also the faces the last grouping run left to no one ("__a"), so the next run knows which are new,
and the changes of a grouping run being applied (STORE/_grouping/<users table>.parquet): a run
writes them whole, then applies them, so a run killed between its writes is finished by the next.
Table names derive from the collection id with a prefix no collection table has ("__u", "__e", "__a"),
so no collection id can collide with them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections import defaultdict

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from facelake.models.grouping import means_by_label
from facelake.schemas.collections import UNASSIGNED, USER_EDITS, USERS

from .sql import quoted
from .tables import join, remove, replace_parquet

# faces whose owner one update sets: with the B-tree on face_id, Lance looks up each face within a
# 300 MB memory budget, which 950,000 faces at once (a first grouping of 1M) exceeded
OWNERS_PER_UPDATE = 100_000
# an update of at least this many faces brings the B-tree up to date after it (the rows it set move
# to new fragments, which a later update would otherwise join in full); that costs 0.36 s at 1M
# faces, so smaller updates (AssociateFaces: up to 100) leave their rows to the next refresh
REFRESH_AFTER_OWNERS = 10_000

_LOCKS: defaultdict = defaultdict(threading.RLock)  # (store, collection) -> lock


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def derived_name(prefix: str, collection_id: str) -> str:
    """The name of one of a collection's own tables ("__u": users, "__e": hand edits, "__a": left unassigned)."""
    return prefix + hashlib.sha256(collection_id.encode()).hexdigest()[:40]


class UserStore:
    """One collection's users. ``lock``: held around a read-check-write of users in this process
    (another process's write is not seen under it; ``refresh`` recounts a user from its faces)."""

    def __init__(self, store, collection_id: str):
        self.store, self.collection_id = store, collection_id
        self.users_name, self.edits_name = derived_name("__u", collection_id), derived_name("__e", collection_id)
        self.unassigned_name = derived_name("__a", collection_id)
        self.lock = _LOCKS[(store.uri, collection_id)]

    # --- tables --------------------------------------------------------------------------------
    def table(self):
        return self.store.open_or_create(self.users_name, USERS)

    def faces(self):
        return self.store.table(self.collection_id)

    def drop(self) -> None:
        for name in (self.users_name, self.edits_name, self.unassigned_name):
            if self.store.open_if_there(name) is not None:
                self.store.db.drop_table(name)
        remove(self.grouping_path())

    # --- users ---------------------------------------------------------------------------------
    def get(self, user_ids: list[str]) -> dict[str, dict]:
        table = self.store.open_if_there(self.users_name)
        if not user_ids or table is None:
            return {}
        rows = table.search().where(f"user_id IN ({quoted(user_ids)})").limit(len(user_ids)).to_list()
        return {r["user_id"]: r for r in rows}

    def count(self) -> int:
        table = self.store.open_if_there(self.users_name)
        return table.count_rows() if table is not None else 0

    def all(self, columns: list[str] | None = None) -> pa.Table:
        table = self.store.open_if_there(self.users_name)
        return (table.to_arrow() if table is not None else USERS.empty_table()).select(columns or USERS.names)

    def page(self, offset: int, limit: int) -> tuple[list[dict], bool]:
        """Users ordered by user_id from ``offset``; also whether more follow."""
        users = self.all(["user_id", "face_count"]).sort_by("user_id")
        return users.slice(offset, limit).to_pylist(), offset + limit < len(users)

    def create(self, rows: list[dict]) -> None:
        """New users: dicts of user_id, origin, and optionally face_count and vector."""
        now = _now()
        self.table().add(pa.Table.from_pylist(
            [{"created_at": now, "face_count": 0, "vector": None, **r} for r in rows], schema=USERS))

    def delete(self, user_ids: list[str]) -> None:
        """Users removed; their faces belong to no one."""
        if user_ids:
            self.faces().update(where=f"user_id IN ({quoted(user_ids)})", values={"user_id": None})
            self.table().delete(f"user_id IN ({quoted(user_ids)})")

    # --- faces ---------------------------------------------------------------------------------
    def face_owners(self, face_ids: list[str]) -> dict[str, str | None]:
        """The user of each face that exists (None: no user)."""
        if not face_ids:
            return {}
        rows = (self.faces().search().select(["face_id", "user_id"]).where(f"face_id IN ({quoted(face_ids)})")
                .limit(len(face_ids)).to_list())
        return {r["face_id"]: r["user_id"] for r in rows}

    def set_owners(self, owners: dict[str, str | None]) -> None:
        """Set the user of each face (face_id -> user_id, or None for no one); the users' counts
        and match vectors are the caller's to bring up to date (refresh, set_stats)."""
        faces, users = list(owners), list(owners.values())
        for s in range(0, len(faces), OWNERS_PER_UPDATE):  # Lance's update by face_id has a 300 MB budget
            update = pa.table({"face_id": pa.array(faces[s:s + OWNERS_PER_UPDATE], pa.string()),
                               "user_id": pa.array(users[s:s + OWNERS_PER_UPDATE], pa.string())})
            table = self.faces()
            table.merge_insert("face_id").when_matched_update_all().execute(update)
            if update.num_rows >= REFRESH_AFTER_OWNERS:
                self.store.index_new_face_ids(table)

    def refresh(self, user_ids: set[str], all_faces: bool = False) -> None:
        """Recount the faces and recompute the match vector (the mean descriptor) of these users
        (``all_faces``: by reading every owned face, for many users, rather than naming them)."""
        if not user_ids:
            return
        ids = sorted(user_ids)
        where = "user_id IS NOT NULL" if all_faces else f"user_id IN ({quoted(ids)})"
        faces = self.faces().search().select(["user_id", "vector"]).where(where).limit(None).to_arrow()
        stats = match_vectors(faces)
        self.set_stats({u: stats.get(u, (0, None)) for u in ids})

    def set_stats(self, stats: dict[str, tuple[int, list[float] | None]]) -> None:
        """Store users' face counts and match vectors (user_id -> (count, mean descriptor))."""
        if not stats:
            return
        rows = [{"user_id": u, "face_count": n, "vector": v} for u, (n, v) in stats.items()]
        update = pa.Table.from_pylist(rows, schema=pa.schema([USERS.field("user_id"), USERS.field("face_count"),
                                                              USERS.field("vector")]))
        # a user left without faces has a null vector (not a vector of another length)
        self.table().merge_insert("user_id").when_matched_update_all().execute(update, on_bad_vectors="null")

    def nearest(self, vector: np.ndarray, k: int, max_distance: float,
                exclude: str | None = None) -> list[tuple[dict, float]]:
        """Up to k users whose match vector lies within max_distance of ``vector``, nearest first."""
        table = self.store.open_if_there(self.users_name)
        if table is None:
            return []
        query = table.search(np.asarray(vector, np.float32)).metric("l2").limit(k + 1)
        out = []
        for row in query.to_list():
            d = float(np.sqrt(max(row.pop("_distance"), 0.0)))
            if row["user_id"] != exclude and d <= max_distance:
                out.append((row, d))
        return out[:k]

    # --- what grouping left to no one ------------------------------------------------------------
    def unassigned(self) -> pa.Array | None:
        """The faces the last grouping run left to no one; None if no run recorded them."""
        table = self.store.open_if_there(self.unassigned_name)
        return None if table is None else table.to_lance().to_table(columns=["face_id"]).column(0).combine_chunks()

    def set_unassigned(self, face_ids: pa.Array) -> None:
        data = pa.table([face_ids], schema=UNASSIGNED)
        table = self.store.open_if_there(self.unassigned_name)
        if table is None:
            self.store.db.create_table(self.unassigned_name, data)
        else:
            table.add(data, mode="overwrite")
            self.store.purge(table)

    def forget_unassigned(self, face_ids: list[str]) -> None:
        table = self.store.open_if_there(self.unassigned_name)
        if table is not None and face_ids:
            table.delete(f"face_id IN ({quoted(face_ids)})")

    # --- a grouping run's changes, applied as one ------------------------------------------------
    def grouping_folder(self) -> str:
        """Where a grouping run keeps its lease (store.commit.Lease): one run at a time per collection."""
        return join(self.store.uri, "_grouping", self.users_name)

    def grouping_path(self) -> str:
        return f"{self.grouping_folder()}.parquet"

    def apply_grouping(self, made: list[str], owners: dict[str, str | None], gone: list[str],
                       stats: dict[str, tuple[int, list[float] | None]], unassigned: pa.Array) -> None:
        """A grouping run's changes. The persons it made are created first; the rest (each face's
        new owner, the persons it removed, the touched persons' counts and means) is written whole
        (one file, replaced in one step), applied, each step idempotent, and the file removed; then
        the faces it left to no one are recorded. A run killed while applying leaves the file,
        which ``finish_grouping`` (called by the next run) applies again; killed before it, a run
        leaves only empty persons, which the next run removes; killed before the last step, it
        leaves the previous list of faces left to no one, so the next run groups those faces again."""
        if made:
            with self.lock:
                self.create([{"user_id": u, "origin": "auto"} for u in made])
        vector = pa.list_(pa.float32())  # not fixed-size: Parquet reads back a null one as too short
        plan = pa.table({"face_id": pa.array(list(owners) + [None] * len(stats), pa.string()),
                         "user_id": pa.array(list(owners.values()) + list(stats), pa.string()),
                         "face_count": pa.array([None] * len(owners) + [n for n, _ in stats.values()], pa.int64()),
                         "vector": pa.array([None] * len(owners) + [v for _, v in stats.values()], vector)})
        plan = plan.replace_schema_metadata({"gone": json.dumps(gone)})
        replace_parquet(plan, self.grouping_path())
        self._apply(plan, replay=False)
        self.set_unassigned(unassigned)

    def finish_grouping(self) -> bool:
        """Apply what a killed grouping run left written and unapplied; whether there was any."""
        fs, path = fsspec.core.url_to_fs(self.grouping_path())
        if not fs.exists(path):
            return False
        with fs.open(path, "rb") as f:
            self._apply(pq.read_table(f), replay=True)
        return True

    def _apply(self, plan: pa.Table, replay: bool) -> None:
        """Apply a grouping run's changes (rows with a face_id: a face's new owner; the others: a
        person's count and mean), keeping what was done by hand since the run read the collection:
        faces edited by hand, users no longer automatic (deleted, or made by hand), persons given
        faces by hand. A replay recounts the persons from their faces instead of taking the
        run's counts and means, which may have gone stale."""
        gone = json.loads((plan.schema.metadata or {}).get(b"gone", b"[]"))
        owner_rows = plan.filter(pc.is_valid(plan.column("face_id")))
        stat_rows = plan.filter(pc.is_null(plan.column("face_id")))
        with self.lock:
            users = self.all(["user_id", "origin"])
            autos = users.filter(pc.equal(users.column("origin"), "auto")).column("user_id").combine_chunks()
            auto = set(autos.to_pylist())
            edited = pc.is_in(owner_rows.column("face_id"), value_set=self.edits().column("face_id").combine_chunks())
            foreign = pc.and_(pc.is_valid(owner_rows.column("user_id")),
                              pc.invert(pc.is_in(owner_rows.column("user_id"), value_set=autos)))
            owner_rows = owner_rows.filter(pc.invert(pc.or_(edited, foreign)))
            self.set_owners(dict(zip(owner_rows.column("face_id").to_pylist(), owner_rows.column("user_id").to_pylist())))
            held = set(self.holding(gone))
            self.delete([u for u in gone if u in auto and u not in held])
            if replay:
                self.refresh(set(stat_rows.column("user_id").to_pylist()) & auto, all_faces=True)
            else:
                self.set_stats({u: (n, v) for u, n, v in zip(stat_rows.column("user_id").to_pylist(),
                                                             stat_rows.column("face_count").to_pylist(),
                                                             stat_rows.column("vector").to_pylist())})
        remove(self.grouping_path())

    def holding(self, user_ids: list[str]) -> list[str]:
        """Those of these users that own at least one face."""
        if not user_ids:
            return []
        rows = self.faces().search().select(["user_id"]).where(f"user_id IN ({quoted(user_ids)})").limit(None).to_arrow()
        return pc.unique(rows.column("user_id")).to_pylist()

    # --- hand edits ----------------------------------------------------------------------------
    def record_edits(self, face_ids: list[str], user_id: str, action: str) -> None:
        if face_ids:
            now = _now()
            self.store.open_or_create(self.edits_name, USER_EDITS).add(pa.Table.from_pylist(
                [{"face_id": f, "user_id": user_id, "action": action, "at": now} for f in face_ids], schema=USER_EDITS))

    def edits(self) -> pa.Table:
        table = self.store.open_if_there(self.edits_name)
        return table.to_arrow() if table is not None else USER_EDITS.empty_table()


def match_vectors(faces: pa.Table) -> dict[str, tuple[int, list[float]]]:
    """user_id -> (face count, mean descriptor) for a table of user_id and vector."""
    if not len(faces):
        return {}
    users = faces.column("user_id").to_numpy(zero_copy_only=False)
    vecs = np.asarray(faces.column("vector").combine_chunks().flatten().to_numpy()).reshape(len(faces), -1)
    return user_means(users, vecs)


def user_means(users: np.ndarray, vecs: np.ndarray) -> dict[str, tuple[int, list[float]]]:
    """user_id -> (face count, mean descriptor), from each face's user (None: no one's) and
    descriptor."""
    owned = np.array([u is not None for u in users], bool)
    if not owned.any():
        return {}
    names, inverse = np.unique(users[owned].astype(str), return_inverse=True)
    labels = np.full(len(users), len(names), np.int64)  # faces of no one: one extra label, dropped
    labels[owned] = inverse
    counts, means = means_by_label(vecs, labels, len(names) + 1)
    return {u: (int(c), m.tolist()) for u, c, m in zip(names.tolist(), counts[:-1], means[:-1])}
