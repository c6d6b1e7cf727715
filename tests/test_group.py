"""facelake group: faces grouped into persons, incrementally and on --rebuild, never undoing
what a person did by hand; persons and suggestions tables; a contact sheet of real photos."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

import facelake
from facelake.pipelines import group
from facelake.schemas.collections import COLLECTION_FACES
from facelake.store.collections import CollectionStore

from conftest import ROOT, dated


def add_faces(store: CollectionStore, collection: str, centre: np.ndarray, n: int, rng) -> list[str]:
    """n faces of one synthetic person: descriptors scattered around ``centre`` (face-to-face
    distances near 0.3, as one person's photos; persons lie about 1.1 apart)."""
    ids = [str(uuid.uuid4()) for _ in range(n)]
    store.add(collection, [{name: None for name in COLLECTION_FACES.names} | {
        "face_id": f, "image_id": str(uuid.uuid4()), "confidence": 99.0, "model_version": "test",
        "bounding_box": {"width": .5, "height": .5, "left": .2, "top": .2},
        "vector": (centre + rng.normal(0, 0.02, centre.shape)).astype(np.float32).tolist()} for f in ids])
    return ids


def owners(client, collection: str) -> dict[str, str | None]:
    pages = client.get_paginator("list_faces").paginate(CollectionId=collection)
    return {f["FaceId"]: f.get("UserId") for p in pages for f in p["Faces"]}


def run(store_uri: str, *args: str) -> dict:
    grouped = group.group(CollectionStore(store_uri), "lib", group.GroupSettings(), rebuild="--rebuild" in args)
    return grouped.summary


def test_grouping_is_incremental_and_never_undoes_hand_corrections(tmp_path):
    uri = str(tmp_path / "store")
    client = facelake.client(store=uri)
    client.create_collection(CollectionId="lib")
    store, rng = CollectionStore(uri), np.random.default_rng(1)
    centres = rng.normal(0, 0.07, (7, 128))
    people = [add_faces(store, "lib", centres[k], 8, rng) for k in range(5)]

    grouped = group.group(CollectionStore(uri), "lib", group.GroupSettings())
    assert grouped.tables["suggestions"].num_rows == 0  # nothing made by hand yet
    first = grouped.summary
    assert first["persons"] == 5 and first["grouped_faces"] == 40 and first["unassigned_faces"] == 0
    owner = owners(client, "lib")
    person = [owner[faces[0]] for faces in people]
    assert sorted(person) == [f"person-{i:06d}" for i in range(1, 6)]
    assert all(owner[f] == person[k] for k, faces in enumerate(people) for f in faces)
    assert client.describe_collection(CollectionId="lib")["UserCount"] == 5

    # by hand: three of person 0's faces move to a user made by hand; one of person 1's is taken off
    alice, loose = people[0][:3], people[1][0]
    client.disassociate_faces(CollectionId="lib", UserId=person[0], FaceIds=alice)
    client.create_user(CollectionId="lib", UserId="alice")
    assert len(client.associate_faces(CollectionId="lib", UserId="alice", FaceIds=alice)["AssociatedFaces"]) == 3
    client.disassociate_faces(CollectionId="lib", UserId=person[1], FaceIds=[loose])
    # new faces: more of person 2, and a new person
    more, newcomer = add_faces(store, "lib", centres[2], 4, rng), add_faces(store, "lib", centres[5], 3, rng)

    for args in ((), ("--rebuild",), ()):
        summary = run(uri, *args)
        owner = owners(client, "lib")
        assert [owner[f] for f in alice] == ["alice"] * 3, args  # hand work stays
        assert owner[loose] is None, args
        assert all(owner[f] == person[0] for f in people[0][3:]), args  # the rest keep their person's id
        assert all(owner[f] == person[2] for f in people[2] + more), args
        assert len({owner[f] for f in newcomer}) == 1 and owner[newcomer[0]] == "person-000006", args
        assert summary["hand_faces"] == 4 and summary["persons"] == 6, args
    assert summary["faces_changed"] == 0  # a run with nothing new changes nothing

    grouped = group.group(CollectionStore(uri), "lib", group.GroupSettings())
    persons = grouped.tables["persons"].to_pylist()
    assert {p["user_id"]: p["face_count"] for p in persons}[person[2]] == 12
    assert {p["user_id"]: p["origin"] for p in persons}["alice"] == "hand"
    merges = [s for s in grouped.tables["suggestions"].to_pylist() if s["kind"] == "merge"]
    assert [(s["user_id"], s["other_user_id"]) for s in merges] == [("alice", person[0])]  # suggested, not done
    users = {u["UserId"]: u["UserStatus"] for u in client.list_users(CollectionId="lib")["Users"]}
    assert set(users) == set(person) | {"alice", "person-000006"}


def test_an_incremental_run_groups_only_new_faces_and_their_neighbours(tmp_path):
    """Faces a run left unassigned are recorded; the next run groups only new faces (with the
    neighbours it finds among all faces) and leaves every other face as it was."""
    uri = str(tmp_path / "store")
    client = facelake.client(store=uri)
    client.create_collection(CollectionId="lib")
    store, rng = CollectionStore(uri), np.random.default_rng(4)
    centres = rng.normal(0, 0.07, (4, 128))
    add_faces(store, "lib", centres[0], 8, rng)
    lone, far = add_faces(store, "lib", centres[1], 1, rng), add_faces(store, "lib", centres[2], 1, rng)
    first = run(uri)
    assert (first["persons"], first["unassigned_faces"]) == (1, 2)
    assert sorted(store.users("lib").unassigned().to_pylist()) == sorted(lone + far)

    mate = add_faces(store, "lib", centres[1], 1, rng)  # a second photo of the lone face's person
    newcomers = add_faces(store, "lib", centres[3], 3, rng)
    second = run(uri)
    owner = owners(client, "lib")
    assert owner[lone[0]] == owner[mate[0]] == "person-000002"  # the new face paired with its neighbour
    assert {owner[f] for f in newcomers} == {"person-000003"} and owner[far[0]] is None
    assert second["faces_changed"] == 5 and second["faces_grouped_now"] == 5  # the 4 new faces and the lone one
    assert store.users("lib").unassigned().to_pylist() == far

    third = run(uri)  # nothing new: nothing is looked at again
    assert third["faces_changed"] == 0 and third["faces_grouped_now"] == 0 and owners(client, "lib") == owner
    client.delete_faces(CollectionId="lib", FaceIds=far)  # indexed again, it would be a new face
    assert store.users("lib").unassigned().to_pylist() == []


def test_look_alikes_are_not_chained_into_one_person(tmp_path):
    """A chain of faces, each close to the next, from one person's cloud to another's: single
    link joins them (each step is under 0.6); centroid linkage keeps two persons."""
    uri = str(tmp_path / "store")
    facelake.client(store=uri).create_collection(CollectionId="lib")
    store, rng = CollectionStore(uri), np.random.default_rng(2)
    a = rng.normal(0, 0.07, 128)
    b = a + rng.normal(0, 0.07, 128) * 0.9  # about 0.75 from a
    add_faces(store, "lib", a, 20, rng)
    add_faces(store, "lib", b, 20, rng)
    for t in np.linspace(0.2, 0.8, 6):  # a bridge: steps of about 0.1 to 0.2, each well under 0.6
        add_faces(store, "lib", a + t * (b - a), 1, rng)
    summary = run(uri)
    assert summary["persons"] == 2


def test_group_command_on_real_photos_with_tables_and_a_sheet(tmp_path):
    store, out, sheet, photos = tmp_path / "store", tmp_path / "out", tmp_path / "persons.jpg", tmp_path / "photos"
    photos.mkdir()  # the samples, the astronaut's two photos dated two years apart
    for name, taken in (("astronaut.jpg", "2019:05:01 10:00:00"), ("astronaut-exif-rotated.jpg", "2021:08:02 18:30:00"),
                        ("cat.jpg", None)):
        data = (ROOT / "samples" / name).read_bytes()
        (photos / name).write_bytes(dated(data, taken, "+02:00") if taken else data)
    cmd = [sys.executable, "-m", "facelake.cli"]
    r = subprocess.run([*cmd, "index", str(photos), "--collection", "photos", "--store", str(store),
                        "--create"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    r = subprocess.run([*cmd, "group", "--collection", "photos", "--store", str(store), "--output", str(out),
                        "--sheet", str(sheet)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads(r.stdout)
    assert summary["persons"] == 1 and summary["grouped_faces"] == 2  # the astronaut, twice
    persons = pq.read_table(out / "persons" / "persons.parquet").to_pylist()
    assert [(p["user_id"], p["face_count"], p["image_count"]) for p in persons] == [("person-000001", 2, 2)]
    utc = dt.timezone.utc
    assert (persons[0]["first_seen"], persons[0]["last_seen"]) == (dt.datetime(2019, 5, 1, 8, tzinfo=utc),
                                                                   dt.datetime(2021, 8, 2, 16, 30, tzinfo=utc))
    img = Image.open(sheet)
    assert img.format == "JPEG" and img.height == 96
    crop = np.asarray(img)[:, 150:246]
    assert crop.std() > 20  # a real face crop, not the grey tile of an unreadable photo
    r = subprocess.run([*cmd, "group", "--collection", "nowhere", "--store", str(store)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 1 and "does not exist" in r.stderr and "Traceback" not in r.stderr


def test_what_a_run_killed_between_its_writes_left_is_mended(tmp_path):
    uri = str(tmp_path / "store")
    client = facelake.client(store=uri)
    client.create_collection(CollectionId="lib")
    store, rng = CollectionStore(uri), np.random.default_rng(3)
    for centre in rng.normal(0, 0.07, (2, 128)):
        add_faces(store, "lib", centre, 5, rng)
    run(uri)
    users = store.users("lib")
    users.create([{"user_id": "person-000003", "origin": "auto"}])  # made, then the run was killed
    users.set_stats({"person-000001": (99, None)})  # faces moved, then killed before the recount
    run(uri)
    assert client.describe_collection(CollectionId="lib")["UserCount"] == 2
    assert {u: r["face_count"] for u, r in users.get(["person-000001", "person-000002"]).items()} == {
        "person-000001": 5, "person-000002": 5}
    assert users.get(["person-000001"])["person-000001"]["vector"] is not None


def test_a_collection_made_before_capture_times_gains_the_column(tmp_path):
    """A collection table written with the schema of an older facelake (no captured_at) opens,
    lists, searches and takes new faces; its old faces read as undated."""
    import lancedb

    uri = str(tmp_path / "store")
    client = facelake.client(store=uri)
    client.create_collection(CollectionId="old")
    old_schema = pa.schema([f for f in COLLECTION_FACES if f.name != "captured_at"])
    db = lancedb.connect(uri)
    db.drop_table("old")
    rng = np.random.default_rng(3)
    db.create_table("old", data=pa.Table.from_pylist([{name: None for name in old_schema.names} | {
        "face_id": str(uuid.uuid4()), "image_id": str(uuid.uuid4()), "confidence": 99.0, "model_version": "test",
        "bounding_box": {"width": .5, "height": .5, "left": .2, "top": .2},
        "vector": rng.normal(0, 0.07, 128).astype(np.float32).tolist()} for _ in range(3)], schema=old_schema))
    astronaut = dated((ROOT / "samples" / "astronaut.jpg").read_bytes(), "2019:05:01 10:00:00")
    added = client.index_faces(CollectionId="old", Image={"Bytes": astronaut})["FaceRecords"]
    assert len(added) == 1 and len(client.list_faces(CollectionId="old")["Faces"]) == 4
    faces = CollectionStore(uri).columns("old", ["face_id", "captured_at"]).to_pylist()
    taken = {f["face_id"]: f["captured_at"] for f in faces}
    assert taken.pop(added[0]["Face"]["FaceId"]) == dt.datetime(2019, 5, 1, 10, tzinfo=dt.timezone.utc)
    assert list(taken.values()) == [None] * 3
    match = client.search_faces(CollectionId="old", FaceId=added[0]["Face"]["FaceId"])
    assert match["SearchedFaceId"] == added[0]["Face"]["FaceId"]


def test_the_partitioned_graph_on_beam_is_the_graph_made_here(tmp_path):
    """Cell by cell on Beam (two local workers), the graph is the one knn_graph builds in this
    process: the same neighbours and distances, for every face and for some of them."""
    from facelake.models.grouping import knn_graph

    rng = np.random.default_rng(5)
    x = rng.normal(0, 0.07, (3000, 128)).astype(np.float32)
    x[:1000] = x[1000:2000] + rng.normal(0, 0.01, (1000, 128)).astype(np.float32)  # near-copies
    settings = group.GroupSettings(cell_size=64)
    where = group.Graph(str(tmp_path / "store"), ["--direct_running_mode=multi_threading"], workers=2)
    for queries in (np.arange(len(x)), np.sort(rng.choice(len(x), 700, replace=False))):
        idx, dist = knn_graph(x, settings.neighbours, settings.cell_size, settings.probe, queries=queries)
        beam_idx, beam_dist = group.graph_on_beam(x, queries, settings, where)
        assert (beam_idx == idx).all() and np.allclose(beam_dist, dist)
        assert (idx != queries[:, None]).all()  # no face is its own neighbour
    assert not list((tmp_path / "store" / "_scratch").iterdir())  # the scratch files went


def test_a_large_regrouping_on_an_s3_store_builds_its_graph_on_beam(s3_server, monkeypatch):
    """With more faces than the exact comparison takes (here: any), `facelake group` builds the
    graph on Beam, its scratch files on the store's S3 prefix, and groups as the exact path does."""
    import boto3

    boto3.client("s3").create_bucket(Bucket="groups")
    uri = "s3://groups/store"
    client = facelake.client(store=uri)
    client.create_collection(CollectionId="lib")
    store, rng = CollectionStore(uri), np.random.default_rng(6)
    people = [add_faces(store, "lib", centre, 40, rng) for centre in rng.normal(0, 0.07, (12, 128))]
    monkeypatch.setattr(group, "EXACT_PAIRS", 0)
    summary = group.group(store, "lib", group.GroupSettings(cell_size=64), beam_args=[], workers=2).summary
    assert summary["persons"] == 12 and summary["grouped_faces"] == 480
    owner = owners(client, "lib")
    assert all(len({owner[f] for f in faces}) == 1 for faces in people)
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="groups").get("Contents", [])]
    assert keys and not [k for k in keys if "_scratch" in k]


def test_scratch_a_killed_run_left_goes_a_day_later(tmp_path):
    import datetime as dt

    from facelake.transforms.grouping import drop_stale_scratch

    root = tmp_path / "_scratch"
    for name in ("group-20261201T000000Z-aaaaaa", "group-20261203T120000Z-bbbbbb", "notes"):
        (root / name).mkdir(parents=True)
    now = dt.datetime(2026, 12, 3, 13, tzinfo=dt.timezone.utc)
    assert drop_stale_scratch(str(root), now) == ["group-20261201T000000Z-aaaaaa"]
    assert sorted(p.name for p in root.iterdir()) == ["group-20261203T120000Z-bbbbbb", "notes"]


@pytest.mark.parametrize("step", ["create", "set_owners", "set_stats", "set_unassigned"])
def test_a_run_killed_while_applying_its_changes_is_finished_by_the_next(tmp_path, monkeypatch, step):
    """A grouping run writes its changes whole before applying any; killed at any write (here:
    between two owner updates, or before the counts, or before the unassigned list), the next
    run applies the rest, and the collection ends as an uninterrupted run leaves it."""
    import shutil

    from facelake.store import users as user_store

    uri = str(tmp_path / "store")
    facelake.client(store=uri).create_collection(CollectionId="lib")
    store, rng = CollectionStore(uri), np.random.default_rng(9)
    for centre in rng.normal(0, 0.07, (4, 128)):
        add_faces(store, "lib", centre, 6, rng)
    add_faces(store, "lib", rng.normal(0, 0.07, 128), 1, rng)  # a face left to no one
    shutil.copytree(uri, tmp_path / "whole")
    monkeypatch.setattr(user_store, "OWNERS_PER_UPDATE", 5)  # several owner updates: die after the first
    calls = []
    real = getattr(user_store.UserStore, step)

    def killed(self, *a, **k):
        calls.append(step)
        if len(calls) == (2 if step == "set_owners" else 1):
            raise SystemExit("killed")
        return real(self, *a, **k)

    def state(path):
        users = CollectionStore(path).users("lib")
        rows = {u["user_id"]: (u["face_count"], np.round(u["vector"], 5).tolist()) for u in users.all().to_pylist()}
        return owners(facelake.client(store=path), "lib"), rows, sorted(users.unassigned().to_pylist())

    if step == "set_owners":  # one update of 24 owners in chunks of 5: kill the second chunk
        monkeypatch.setattr(user_store.UserStore, "set_owners", real)
        original = store.users("lib").faces().__class__.merge_insert
        def merge(self, *a, **k):
            calls.append("merge")
            if len(calls) == 2:
                raise SystemExit("killed")
            return original(self, *a, **k)
        monkeypatch.setattr(store.users("lib").faces().__class__, "merge_insert", merge)
    else:
        monkeypatch.setattr(user_store.UserStore, step, killed)
    with pytest.raises(SystemExit):
        run(uri)
    monkeypatch.undo()
    left = list((tmp_path / "store" / "_grouping").glob("*.parquet"))
    if step in ("set_owners", "set_stats"):  # killed while applying: the file is there, and finished first
        assert left and run(uri)["faces_changed"] == 0
    else:  # killed before the file (only empty persons made) or after it (the old unassigned list)
        assert not left
        run(uri)
    run(str(tmp_path / "whole"))
    assert state(uri) == state(str(tmp_path / "whole"))
    assert not list((tmp_path / "store" / "_grouping").glob("*.parquet"))


def test_a_killed_runs_changes_leave_alone_what_was_done_by_hand_since(tmp_path, monkeypatch):
    from facelake.store import users as user_store

    uri = str(tmp_path / "store")
    client = facelake.client(store=uri)
    client.create_collection(CollectionId="lib")
    store, rng = CollectionStore(uri), np.random.default_rng(10)
    people = [add_faces(store, "lib", centre, 5, rng) for centre in rng.normal(0, 0.07, (2, 128))]

    def killed(self, *a, **k):
        raise SystemExit("killed")

    monkeypatch.setattr(user_store.UserStore, "set_owners", killed)
    with pytest.raises(SystemExit):
        run(uri)
    monkeypatch.undo()
    client.create_user(CollectionId="lib", UserId="alice")
    client.associate_faces(CollectionId="lib", UserId="alice", FaceIds=people[0][:2], UserMatchThreshold=0)
    client.delete_user(CollectionId="lib", UserId="person-000002")  # one the killed run made
    assert store.users("lib").finish_grouping()
    owner = owners(client, "lib")
    assert "person-000002" not in set(owner.values()) and not store.users("lib").get(["person-000002"])
    run(uri)
    owner = owners(client, "lib")
    assert [owner[f] for f in people[0][:2]] == ["alice", "alice"]
    assert len({owner[f] for f in people[0][2:]}) == 1 and owner[people[0][2]].startswith("person-")
    assert client.describe_collection(CollectionId="lib")["UserCount"] == 3


def test_a_hand_made_user_holding_two_people_is_suggested_for_a_split_not_split(tmp_path):
    uri = str(tmp_path / "store")
    client = facelake.client(store=uri)
    client.create_collection(CollectionId="lib")
    store, rng = CollectionStore(uri), np.random.default_rng(11)
    a, b = (add_faces(store, "lib", centre, 4, rng) for centre in rng.normal(0, 0.07, (2, 128)))
    client.create_user(CollectionId="lib", UserId="family")
    client.associate_faces(CollectionId="lib", UserId="family", FaceIds=a + b, UserMatchThreshold=0)
    grouped = group.group(CollectionStore(uri), "lib", group.GroupSettings())
    assert [(s["kind"], s["user_id"], s["face_count"]) for s in grouped.tables["suggestions"].to_pylist()] == [
        ("split", "family", 8)]
    assert set(owners(client, "lib").values()) == {"family"}  # suggested, not done


def test_a_second_run_on_the_same_collection_meanwhile_is_refused(tmp_path):
    from facelake.store.commit import Lease, LeaseHeldError

    uri = str(tmp_path / "store")
    facelake.client(store=uri).create_collection(CollectionId="lib")
    store, rng = CollectionStore(uri), np.random.default_rng(12)
    add_faces(store, "lib", rng.normal(0, 0.07, 128), 4, rng)
    with Lease(store.users("lib").grouping_folder(), "group-running"):  # a run holds it (this live process)
        with pytest.raises(LeaseHeldError, match="group-running"):
            run(uri)
    assert run(uri)["persons"] == 1  # released: the next run goes ahead
