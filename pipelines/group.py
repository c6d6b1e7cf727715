"""``facelake group``: every face of a collection grouped into persons (users made automatically).

    facelake group --collection ID [--store URI] [--output OUT] [--min-faces 2] [--threshold 93]
                   [--prefix person-] [--rebuild] [--sheet persons.jpg] [--workers N] [beam options]

Persons are users whose origin is "auto", with ids PREFIX + a six-digit number. The grouping
(models/grouping.py) leaves alone every face a person touched by hand (associated or
disassociated) and every face of a user made by hand (CreateUser): no run, ``--rebuild``
included, changes them. What it would change there is written as suggestions instead.

A run without ``--rebuild`` is incremental: existing persons keep their faces, and only new
faces (belonging to no one, and not left unassigned by an earlier run: the store keeps that
list) are grouped, with their nearest neighbours found exactly among all faces: they join an
existing person when their group's centroid comes close enough, pair with faces left
unassigned, or form new persons. No other face changes. ``--rebuild`` regroups every automatic
face; a new group keeps the id of the old person it shares most faces with.

The graph of a whole regrouping (or of more new faces than the exact comparison takes in) is
built on Beam, a batch of partition cells per element (transforms/grouping.py), on the runner
the Beam options name (FnApiRunner with ``--workers`` threads by default); its scratch files
lie under STORE/_scratch/ while the run lasts.

OUT (optional) gets ``persons/persons.parquet`` (user_id, origin, face_count,
representative_face_id, image_count, first_seen, last_seen: when its earliest and latest photos
were taken, from their EXIF) and ``suggestions/suggestions.parquet`` (kind,
user_id, other_user_id, similarity, face_count), each replaced whole; ``--sheet`` writes a
contact sheet: one row of face crops per person, largest persons first.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from facelake.models.grouping import GroupSettings, cluster, exact_neighbours, knn_graph, partition
from facelake.schemas.rekognition import distance_for_similarity, similarity
from facelake.schemas.tables import CAPTURED_AT
from facelake.store.collections import CollectionStore
from facelake.store.commit import Lease
from facelake.store.tables import absolute, join, remove, replace_parquet
from facelake.transforms.grouping import CellNeighbours, drop_stale_scratch, read_graph, write_scratch

from . import launcher

PERSONS = pa.schema([
    ("user_id", pa.string()), ("origin", pa.string()), ("face_count", pa.int32()),
    ("representative_face_id", pa.string()), ("image_count", pa.int32()),
    # when the first and the last of its photos were taken (their EXIF), null when none is dated
    ("first_seen", CAPTURED_AT), ("last_seen", CAPTURED_AT),
])
SUGGESTIONS = pa.schema([
    ("kind", pa.string()),  # "merge": the two look like one person; "split": the user looks like several
    ("user_id", pa.string()), ("other_user_id", pa.string()), ("similarity", pa.float32()),
    ("face_count", pa.int32()),
])
FACE_COLUMNS = ["face_id", "image_id", "user_id", "source_uri", "bounding_box", "captured_at"]  # and the vectors


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="facelake group", description="Group a collection's faces into persons.")
    ap.add_argument("--collection", required=True)
    ap.add_argument("--store", metavar="URI", help="default $FACELAKE_STORE or ~/.facelake/store")
    ap.add_argument("--output", metavar="OUT", help="where persons/ and suggestions/ tables go")
    ap.add_argument("--min-faces", type=int, default=GroupSettings.min_faces, help="smallest person (default 2)")
    ap.add_argument("--threshold", type=float, default=round(similarity(GroupSettings.merge_distance), 1),
                    help="similarity (0-100) two groups' centroids need to merge (default %(default)s)")
    ap.add_argument("--prefix", default="person-", help="ids of the persons made (default person-)")
    ap.add_argument("--rebuild", action="store_true", help="regroup every automatic face, not just new ones")
    ap.add_argument("--sheet", metavar="FILE.jpg", help="also write a contact sheet of the persons")
    ap.add_argument("--workers", type=int, default=1, help="local Beam workers for the graph (default 1)")
    args, beam_args = ap.parse_known_args(argv)
    args.beam_args = beam_args
    if not re.fullmatch(r"[a-zA-Z0-9_.\-:]{1,100}", args.prefix):
        ap.error("--prefix: letters, digits and _.-: only (a user id's characters), at most 100")
    if args.min_faces < 1 or not 0 < args.threshold < 100:
        ap.error("--min-faces must be >= 1 and --threshold between 0 and 100")
    return args


@dataclass
class Grouped:
    summary: dict  # what the run did, printed as JSON
    tables: dict[str, pa.Table]  # persons and suggestions, for OUT
    faces: pa.Table  # the collection's faces (FACE_COLUMNS) ...
    members: dict[str, np.ndarray]  # ... and, per user after the run, the rows of its faces


# an incremental run compares its new faces with every face exactly while that costs at most this
# many distances (4,000 new faces at 1M); more new faces go through the partitioned graph
EXACT_PAIRS = 4_000_000_000


def group(store: CollectionStore, collection_id: str, settings: GroupSettings, prefix: str = "person-",
          rebuild: bool = False, beam_args: list[str] | None = None, workers: int = 1) -> Grouped:
    """Group the collection's faces and store the persons (``regroup``), holding the collection's
    grouping lease: a second run on it meanwhile is refused."""
    with Lease(store.users(collection_id).grouping_folder(), f"group-{launcher.new_run_id()}"):
        return regroup(store, collection_id, settings, prefix, rebuild, beam_args, workers)


def regroup(store: CollectionStore, collection_id: str, settings: GroupSettings, prefix: str = "person-",
            rebuild: bool = False, beam_args: list[str] | None = None, workers: int = 1) -> Grouped:
    """Group the collection's faces and store the persons.

    The faces grouped are the queries: on ``--rebuild`` (or the first run) every face not held by
    hand, otherwise the new ones: belonging to no one and not left unassigned by the last run.
    They are grouped together with their neighbours (existing persons as fixed groups, faces left
    unassigned as free ones); no other face is read beyond its vector and owner."""
    started = time.time()
    users = store.users(collection_id)
    users.finish_grouping()  # what a killed run left half applied
    drop_stale_scratch(join(store.uri, "_scratch"))
    faces, x = store.faces_and_vectors(collection_id, FACE_COLUMNS)
    face_ids, user_ids = faces.column("face_id"), faces.column("user_id")
    owner = user_ids.to_numpy(zero_copy_only=False)
    known = users.all(["user_id", "origin", "face_count", "vector"])
    origin = dict(zip(known.column("user_id").to_pylist(), known.column("origin").to_pylist()))
    stored = dict(zip(known.column("user_id").to_pylist(), known.column("face_count").to_pylist()))
    hand_users = pa.array([u for u, o in origin.items() if o != "auto"], pa.string())
    by_hand = pc.or_(pc.is_in(face_ids, value_set=users.edits().column("face_id").combine_chunks()),
                     pc.is_in(user_ids, value_set=hand_users)).to_numpy(zero_copy_only=False)
    free = ~by_hand  # the faces this run may group
    owned = user_ids.is_valid().to_numpy(zero_copy_only=False)

    seen = None if rebuild else users.unassigned()
    fresh = free & ~owned
    if seen is not None:
        fresh &= ~pc.is_in(face_ids, value_set=seen).to_numpy(zero_copy_only=False)
    whole = rebuild or not (free & owned).any()  # nothing to keep fixed: every free face is grouped
    queries = np.flatnonzero(free if whole else fresh)
    idx, dist = neighbours(x, queries, free, settings, Graph(store.uri, beam_args or [], workers))
    # the graph of the queries and their neighbours
    nodes = queries if whole else np.union1d(queries, idx[idx >= 0])
    local = np.full((len(nodes), settings.neighbours), -1, np.int32)
    local_dist = np.full((len(nodes), settings.neighbours), np.inf, np.float32)
    at = np.searchsorted(nodes, queries)
    local[at], local_dist[at] = np.where(idx >= 0, np.searchsorted(nodes, idx), -1), dist
    del idx, dist
    node_owner = owner[nodes]
    persons = sorted({u for u in node_owner if u is not None})
    number = {u: i for i, u in enumerate(persons)}
    fixed = None if rebuild else np.array([-1 if u is None else number[u] for u in node_owner], np.int64)
    labels = (cluster(x if len(nodes) == len(x) else x[nodes], local, local_dist, settings, fixed=fixed) if len(nodes)
              else np.empty(0, np.int64))
    del local, local_dist
    new_owner = name_groups(labels, node_owner, persons, prefix, rebuild, set(origin))

    moved = np.flatnonzero(new_owner != node_owner)
    changed = dict(zip(face_ids.take(nodes[moved]).to_pylist(), new_owner[moved].tolist()))
    made = sorted({u for u in new_owner if u is not None} - set(origin))
    all_owner = owner.copy()
    all_owner[nodes] = new_owner
    members = members_by_user(all_owner)
    # persons left without faces go; persons whose stored count is not their count are recounted
    # (both also mend what a run killed between its writes left); only the touched get a new mean
    gone = sorted(u for u, o in origin.items() if o == "auto" and u not in members)
    touched = {u for u, rows in members.items() if origin.get(u, "auto") == "auto" and stored.get(u) != len(rows)}
    touched |= set(made) | {u for u in changed.values() if u} | {u for u in node_owner[moved] if u is not None}
    touched -= set(gone)
    stats = {u: (len(members[u]), x[members[u]].mean(0, dtype=np.float64).astype(np.float32).tolist())
             for u in touched}
    users.apply_grouping(made, changed, gone, stats, face_ids.filter(pa.array(free & no_one(all_owner))))

    origin.update((u, "auto") for u in made)
    means = {u: np.asarray(v, np.float32) for u, v in zip(known.column("user_id").to_pylist(),
                                                         known.column("vector").to_pylist()) if v is not None}
    means.update((u, np.asarray(v, np.float32)) for u, (_, v) in stats.items())
    tables = {"persons": persons_table(face_ids, faces.column("image_id"), faces.column("captured_at"), members,
                                       x, origin, means),
              "suggestions": suggestions(x, members, origin, means, settings)}
    grouped_faces = int(sum(len(rows) for u, rows in members.items() if origin.get(u) == "auto"))
    summary = {"collection": collection_id, "faces": len(x), "hand_faces": int(by_hand.sum()),
               "grouped_faces": grouped_faces, "unassigned_faces": int(free.sum()) - grouped_faces,
               "persons": sum(1 for u in members if origin.get(u) == "auto"), "persons_made": len(made),
               "persons_removed": len(gone), "faces_changed": len(changed), "faces_grouped_now": len(nodes),
               "rebuild": rebuild, "seconds": round(time.time() - started, 2)}
    return Grouped(summary, tables, faces, members)


def no_one(owner: np.ndarray) -> np.ndarray:
    return np.fromiter((u is None for u in owner), bool, len(owner))


@dataclass
class Graph:
    """Where and how the partitioned graph is built: Beam's options, and the store it scratches in."""
    store: str
    beam_args: list[str]
    workers: int = 1


def neighbours(x: np.ndarray, queries: np.ndarray, free: np.ndarray, settings: GroupSettings,
               graph: Graph) -> tuple[np.ndarray, np.ndarray]:
    """The graph's rows for ``queries`` (indices into x): their nearest free faces (indices into
    x, -1 for none) and distances. Few queries: exact products over every face, here; many (a
    whole regrouping): the partitioned graph over the free faces, on Beam."""
    k = settings.neighbours
    if len(queries) * len(x) <= EXACT_PAIRS:
        return exact_neighbours(x, queries, k, settings.edge_distance, None if free.all() else free)
    rows = np.flatnonzero(free)
    xs = x if len(rows) == len(x) else x[rows]
    at = np.searchsorted(rows, queries)  # the queries among the free faces
    near, d = graph_on_beam(xs, at, settings, graph)
    del xs
    return np.where(near >= 0, rows[np.maximum(near, 0)], -1).astype(np.int32), d


def graph_on_beam(x: np.ndarray, queries: np.ndarray, settings: GroupSettings,
                  graph: Graph) -> tuple[np.ndarray, np.ndarray]:
    """knn_graph's answer for ``queries`` (indices into x), the cells' products computed on Beam."""
    options = launcher.pipeline_options(graph.beam_args, graph.workers)
    launcher.check_endpoints(options)
    part = partition(x, settings.cell_size, settings.probe)
    is_query = np.zeros(len(x), bool)
    is_query[queries] = True
    scratch = join(absolute(graph.store), "_scratch", f"group-{launcher.new_run_id()}")
    try:
        batches = write_scratch(scratch, x, part, is_query)
        with beam.Pipeline(options=options) as p:
            (p | "Batches" >> beam.Create(batches) | "Spread" >> beam.Reshuffle()
             | "Neighbours" >> beam.ParDo(CellNeighbours(scratch, settings.neighbours)))
        slot = np.full(len(x), -1, np.int64)
        slot[queries] = np.arange(len(queries))
        return read_graph(scratch, part, len(queries), slot, settings.neighbours, len(batches))
    finally:
        remove(scratch)


def members_by_user(owner: np.ndarray) -> dict[str, np.ndarray]:
    """user -> the rows of its faces, in order, from each face's user (None: no one's)."""
    codes = pa.array(owner, pa.string()).dictionary_encode()
    keys = codes.indices.fill_null(-1).to_numpy()
    rows = np.flatnonzero(keys >= 0)
    rows = rows[np.argsort(keys[rows], kind="stable")]
    starts = np.flatnonzero(np.r_[True, np.diff(keys[rows]) != 0]) if len(rows) else np.empty(0, np.int64)
    names = codes.dictionary.to_pylist()
    return {names[keys[rows[s]]]: part for s, part in zip(starts, np.split(rows, starts[1:]))}


def name_groups(labels: np.ndarray, old: np.ndarray, persons: list[str], prefix: str, rebuild: bool,
                taken: set[str]) -> np.ndarray:
    """A user id per face from its group label: an existing person's id where the group is that
    person (kept fixed, or, on rebuild, the old person it shares most faces with), else a new id."""
    out = np.full(len(labels), None, object)
    if not rebuild:
        for i, label in enumerate(labels):
            if 0 <= label < len(persons):
                out[i] = persons[label]
    else:
        overlap: dict[tuple, int] = {}
        for label, person in zip(labels, old):
            if label >= 0 and person is not None:
                overlap[(label, person)] = overlap.get((label, person), 0) + 1
        named, used = {}, set()
        for (label, person), _ in sorted(overlap.items(), key=lambda kv: -kv[1]):
            if label not in named and person not in used:
                named[label] = person
                used.add(person)
        for i, label in enumerate(labels):
            if label in named:
                out[i] = named[label]
    numbers = [int(m.group(1)) for u in taken if (m := re.fullmatch(re.escape(prefix) + r"(\d+)", u))]
    next_number = max(numbers, default=0) + 1
    fresh: dict[int, str] = {}
    for i, label in enumerate(labels):
        if label >= 0 and out[i] is None:
            if label not in fresh:
                fresh[label], next_number = f"{prefix}{next_number:06d}", next_number + 1
            out[i] = fresh[label]
    return out


def persons_table(ids: pa.ChunkedArray, image_ids: pa.ChunkedArray, captured_at: pa.ChunkedArray, members, x,
                  origin, means) -> pa.Table:
    """A row per user with faces; its representative face is the one nearest its mean; first and
    last seen: the earliest and latest capture times of its faces."""
    dated = captured_at.is_valid().to_numpy(zero_copy_only=False)
    ms = captured_at.cast(pa.int64()).fill_null(0).to_numpy()
    image = image_ids.combine_chunks().dictionary_encode().indices.fill_null(-1).to_numpy()
    rows, representative = [], []
    for user, faces in members.items():
        mean = means[user] if user in means else x[faces].mean(0)
        representative.append(faces[int(np.linalg.norm(x[faces] - mean, axis=1).argmin())])
        when = ms[faces][dated[faces]]
        rows.append({"user_id": user, "origin": origin[user], "face_count": len(faces),
                     "image_count": len(np.unique(image[faces])),
                     "first_seen": int(when.min()) if len(when) else None,
                     "last_seen": int(when.max()) if len(when) else None})
    for row, face in zip(rows, ids.take(pa.array(representative, pa.int64())).to_pylist()):
        row["representative_face_id"] = face
    rows.sort(key=lambda r: (-r["face_count"], r["user_id"]))
    return pa.Table.from_pylist(rows, schema=PERSONS)


def suggestions(x, members, origin, means, settings: GroupSettings) -> pa.Table:
    """What grouping would change about users made by hand: a hand user and another user whose
    means are close enough to merge; a hand user whose faces fall into several groups."""
    names = sorted(members)
    hand = [i for i, u in enumerate(names) if origin.get(u) != "auto"]
    rows = []
    if hand:
        centres = np.asarray([means[u] if u in means else x[members[u]].mean(0) for u in names], np.float32)
    for i in hand:
        d = np.linalg.norm(centres - centres[i], axis=1)
        for j in np.flatnonzero(d <= settings.merge_distance):
            if j != i and not (j in hand and j < i):
                rows.append({"kind": "merge", "user_id": names[i], "other_user_id": names[j],
                             "similarity": similarity(float(d[j])), "face_count": len(members[names[j]])})
        faces = members[names[i]]
        if len(faces) >= 2 * settings.min_faces:
            sub = x[faces]
            labels = cluster(sub, *knn_graph(sub, settings.neighbours, settings.cell_size, settings.probe), settings)
            if len(np.unique(labels[labels >= 0])) > 1:
                rows.append({"kind": "split", "user_id": names[i], "other_user_id": None,
                             "similarity": None, "face_count": len(faces)})
    return pa.Table.from_pylist(rows, schema=SUGGESTIONS)


def contact_sheet(path: str, grouped: Grouped, max_persons: int = 40, per_person: int = 12, tile: int = 96) -> None:
    """One row of face crops per person (largest first), each row headed by the person's id;
    faces whose photo cannot be read (indexed from bytes, or gone) are grey tiles."""
    import fsspec
    from PIL import Image, ImageDraw

    from facelake.models.images import ImageLimits, load

    faces = grouped.faces
    persons = grouped.tables["persons"].to_pylist()[:max_persons]
    uris = faces.column("source_uri").to_pylist()
    boxes = faces.column("bounding_box").to_pylist()
    label_w = 150
    sheet = Image.new("RGB", (label_w + per_person * tile, max(1, len(persons)) * tile), "white")
    draw = ImageDraw.Draw(sheet)
    cache: dict[str, Image.Image | None] = {}
    for row, person in enumerate(persons):
        draw.text((6, row * tile + tile // 2 - 12), f"{person['user_id']}\n{person['face_count']} faces", fill="black")
        for col, i in enumerate(grouped.members[person["user_id"]][:per_person]):
            crop = Image.new("RGB", (tile, tile), (200, 200, 200))
            uri = uris[i]
            if uri and uri not in cache:
                try:
                    cache[uri] = Image.fromarray(load(uri, ImageLimits(max_bytes=ImageLimits().max_s3_bytes)).rgb)
                except Exception:  # an unreadable photo gets a grey tile; the sheet is still made
                    cache[uri] = None
            photo = cache.get(uri) if uri else None
            if photo is not None:
                b, (w, h) = boxes[i], photo.size
                crop = photo.crop((int(b["left"] * w), int(b["top"] * h), int((b["left"] + b["width"]) * w),
                                   int((b["top"] + b["height"]) * h))).resize((tile, tile))
            sheet.paste(crop, (label_w + col * tile, row * tile))
    fs, p = fsspec.core.url_to_fs(path)
    with fs.open(p, "wb") as f:
        sheet.save(f, "JPEG", quality=88)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    launcher.pipeline_options(args.beam_args, args.workers)  # --workers and Beam's options checked now, though few runs need Beam
    store = CollectionStore(args.store)
    if not store.exists(args.collection):
        print(f"facelake group: collection {args.collection} does not exist in {store.uri}", file=sys.stderr)
        return 1
    settings = GroupSettings(merge_distance=distance_for_similarity(args.threshold), min_faces=args.min_faces)
    grouped = group(store, args.collection, settings, args.prefix, args.rebuild, args.beam_args, args.workers)
    if args.output:
        for name, table in grouped.tables.items():
            replace_parquet(table, join(args.output, name, f"{name}.parquet"))
    if args.sheet:
        contact_sheet(args.sheet, grouped)
    print(json.dumps(grouped.summary, indent=2))
    return 0
