"""Rekognition's users API through facelake.client(): shapes checked against botocore's model,
limits, reasons, pagination and idempotency."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from botocore.exceptions import ClientError

import facelake
from facelake.schemas.botocore_model import validate_response
from facelake.schemas.collections import COLLECTION_FACES
from facelake.store.collections import CollectionStore

from conftest import SAMPLES


def checked(name: str, response: dict) -> dict:
    validate_response(name, response)
    return response


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, insightface_images):
    """A collection with the astronaut twice (one person) and the six people of t1.jpg."""
    client = facelake.client(store=str(tmp_path_factory.mktemp("users") / "store"))
    client.create_collection(CollectionId="people")
    faces = {}
    for name, data in (("astronaut", (SAMPLES / "astronaut.jpg").read_bytes()),
                       ("rotated", (SAMPLES / "astronaut-exif-rotated.jpg").read_bytes()),
                       ("group", insightface_images["t1.jpg"])):
        records = client.index_faces(CollectionId="people", Image={"Bytes": data}, ExternalImageId=name)["FaceRecords"]
        faces[name] = [r["Face"]["FaceId"] for r in records]
    assert len(faces["group"]) == 6
    return client, faces


def test_users_are_created_listed_and_counted(indexed):
    client, _ = indexed
    for user in ("u-b", "u-a", "u-c"):
        checked("CreateUser", client.create_user(CollectionId="people", UserId=user))
    with pytest.raises(client.exceptions.ConflictException):
        client.create_user(CollectionId="people", UserId="u-a")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.create_user(CollectionId="nobody", UserId="u-a")
    with pytest.raises(ClientError, match="ValidationException"):
        client.create_user(CollectionId="people", UserId="not allowed/")
    pages = list(client.get_paginator("list_users").paginate(CollectionId="people", PaginationConfig={"PageSize": 2}))
    for page in pages:
        checked("ListUsers", page)
    assert [len(p["Users"]) for p in pages] == [2, 1]
    assert [u["UserId"] for p in pages for u in p["Users"]] == ["u-a", "u-b", "u-c"]
    assert {u["UserStatus"] for p in pages for u in p["Users"]} == {"CREATED"}
    assert checked("DescribeCollection", client.describe_collection(CollectionId="people"))["UserCount"] == 3
    checked("DeleteUser", client.delete_user(CollectionId="people", UserId="u-c"))
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.delete_user(CollectionId="people", UserId="u-c")
    assert client.describe_collection(CollectionId="people")["UserCount"] == 2


def test_associating_faces_and_the_reasons_for_refusals(indexed):
    client, faces = indexed
    client.create_user(CollectionId="people", UserId="astronaut")
    first = checked("AssociateFaces", client.associate_faces(
        CollectionId="people", UserId="astronaut", FaceIds=faces["astronaut"]))
    assert first["AssociatedFaces"] == [{"FaceId": faces["astronaut"][0]}] and first["UserStatus"] == "ACTIVE"
    stranger, missing = faces["group"][0], str(uuid.uuid4())
    second = checked("AssociateFaces", client.associate_faces(
        CollectionId="people", UserId="astronaut", FaceIds=[faces["rotated"][0], stranger, missing]))
    assert second["AssociatedFaces"] == [{"FaceId": faces["rotated"][0]}]
    reasons = {u["FaceId"]: u for u in second["UnsuccessfulFaceAssociations"]}
    assert reasons[missing]["Reasons"] == ["FACE_NOT_FOUND"]
    assert reasons[stranger]["Reasons"] == ["LOW_MATCH_CONFIDENCE"] and reasons[stranger]["Confidence"] < 75
    client.create_user(CollectionId="people", UserId="other")
    taken = client.associate_faces(CollectionId="people", UserId="other", FaceIds=faces["astronaut"])
    assert taken["UnsuccessfulFaceAssociations"][0]["Reasons"] == ["ASSOCIATED_TO_A_DIFFERENT_USER"]
    assert taken["UserStatus"] == "CREATED"
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.associate_faces(CollectionId="people", UserId="nobody", FaceIds=[stranger])
    with pytest.raises(ClientError, match="ValidationException"):  # at most 100 FaceIds per call
        client.associate_faces(CollectionId="people", UserId="other", FaceIds=[str(uuid.uuid4()) for _ in range(101)])

    # faces carry their UserId in every answer that has them
    listed = checked("ListFaces", client.list_faces(CollectionId="people", UserId="astronaut"))
    assert sorted(f["FaceId"] for f in listed["Faces"]) == sorted(faces["astronaut"] + faces["rotated"])
    assert {f["UserId"] for f in listed["Faces"]} == {"astronaut"}
    found = client.search_faces(CollectionId="people", FaceId=faces["astronaut"][0])["FaceMatches"]
    assert found[0]["Face"]["FaceId"] == faces["rotated"][0] and found[0]["Face"]["UserId"] == "astronaut"

    # a face of a user cannot be deleted until it is disassociated (Rekognition's rule)
    refused = checked("DeleteFaces", client.delete_faces(CollectionId="people", FaceIds=faces["rotated"]))
    assert refused["DeletedFaces"] == []
    assert refused["UnsuccessfulFaceDeletions"] == [
        {"FaceId": faces["rotated"][0], "UserId": "astronaut", "Reasons": ["ASSOCIATED_TO_AN_EXISTING_USER"]}]
    gone = checked("DisassociateFaces", client.disassociate_faces(
        CollectionId="people", UserId="astronaut", FaceIds=[faces["rotated"][0], stranger, missing]))
    assert gone["DisassociatedFaces"] == [{"FaceId": faces["rotated"][0]}] and gone["UserStatus"] == "ACTIVE"
    assert {u["FaceId"]: u["Reasons"] for u in gone["UnsuccessfulFaceDisassociations"]} == {
        stranger: ["ASSOCIATED_TO_A_DIFFERENT_USER"], missing: ["FACE_NOT_FOUND"]}
    assert client.delete_faces(CollectionId="people", FaceIds=faces["rotated"])["DeletedFaces"] == faces["rotated"]


def test_searching_users_by_face_by_user_and_by_image(indexed, insightface_images):
    client, faces = indexed
    client.create_user(CollectionId="people", UserId="s-astronaut")
    client.create_user(CollectionId="people", UserId="s-group0")
    client.create_user(CollectionId="people", UserId="s-empty")
    for user, face in (("s-astronaut", faces["astronaut"][0]), ("s-group0", faces["group"][0])):
        client.disassociate_faces(CollectionId="people", UserId="astronaut", FaceIds=[face])  # from the test above
        assert client.associate_faces(CollectionId="people", UserId=user, FaceIds=[face])["AssociatedFaces"]
    by_face = checked("SearchUsers", client.search_users(CollectionId="people", FaceId=faces["astronaut"][0]))
    assert by_face["SearchedFace"] == {"FaceId": faces["astronaut"][0]}
    assert [m["User"]["UserId"] for m in by_face["UserMatches"]] == ["s-astronaut"]
    assert by_face["UserMatches"][0]["Similarity"] > 99 and by_face["UserMatches"][0]["User"]["UserStatus"] == "ACTIVE"
    low = client.search_users(CollectionId="people", FaceId=faces["group"][1], UserMatchThreshold=0, MaxUsers=1)
    assert len(low["UserMatches"]) == 1  # MaxUsers caps the matches
    by_user = checked("SearchUsers", client.search_users(CollectionId="people", UserId="s-astronaut",
                                                          UserMatchThreshold=0))
    assert by_user["SearchedUser"] == {"UserId": "s-astronaut"}
    assert "s-astronaut" not in [m["User"]["UserId"] for m in by_user["UserMatches"]]
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.search_users(CollectionId="people", UserId="s-astronaut", FaceId=faces["astronaut"][0])
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.search_users(CollectionId="people", UserId="s-empty")
    by_image = checked("SearchUsersByImage", client.search_users_by_image(
        CollectionId="people", Image={"Bytes": (SAMPLES / "astronaut.jpg").read_bytes()}))
    assert [m["User"]["UserId"] for m in by_image["UserMatches"]] == ["s-astronaut"]
    assert by_image["UnsearchedFaces"] == [] and "BoundingBox" in by_image["SearchedFace"]["FaceDetail"]
    group = checked("SearchUsersByImage", client.search_users_by_image(
        CollectionId="people", Image={"Bytes": insightface_images["t1.jpg"]}))
    assert [u["Reasons"] for u in group["UnsearchedFaces"]] == [["FACE_NOT_LARGEST"]] * 5


def test_a_user_holds_at_most_100_faces(tmp_path):
    client = facelake.client(store=str(tmp_path / "store"))
    client.create_collection(CollectionId="many")
    store = CollectionStore(str(tmp_path / "store"))
    rng = np.random.default_rng(0)
    centre = rng.normal(0, 0.1, 128)
    ids = [str(uuid.uuid4()) for _ in range(101)]
    store.add("many", [{name: None for name in COLLECTION_FACES.names} | {
        "face_id": f, "bounding_box": {"width": .5, "height": .5, "left": .2, "top": .2}, "confidence": 99.0,
        "model_version": "test", "vector": (centre + rng.normal(0, 0.01, 128)).tolist()} for f in ids])
    client.create_user(CollectionId="many", UserId="crowd")
    assert len(client.associate_faces(CollectionId="many", UserId="crowd", FaceIds=ids[:100])["AssociatedFaces"]) == 100
    with pytest.raises(client.exceptions.ServiceQuotaExceededException):
        client.associate_faces(CollectionId="many", UserId="crowd", FaceIds=ids[100:])
    # deleting the user releases its faces; deleting the collection removes its users
    client.delete_user(CollectionId="many", UserId="crowd")
    assert all("UserId" not in f for f in client.list_faces(CollectionId="many")["Faces"])
    client.create_user(CollectionId="many", UserId="again")
    client.delete_collection(CollectionId="many")
    client.create_collection(CollectionId="many")
    assert client.describe_collection(CollectionId="many")["UserCount"] == 0
    assert client.list_users(CollectionId="many")["Users"] == []
    assert not any(t.startswith("__u") for t in CollectionStore(str(tmp_path / "store"))._tables())  # reads made none


def test_a_client_request_token_makes_a_call_idempotent(tmp_path):
    client = facelake.client(store=str(tmp_path / "store"))
    client.create_collection(CollectionId="tokens")
    client.create_user(CollectionId="tokens", UserId="once", ClientRequestToken="token-1")
    client.create_user(CollectionId="tokens", UserId="once", ClientRequestToken="token-1")  # answered as before
    assert [u["UserId"] for u in client.list_users(CollectionId="tokens")["Users"]] == ["once"]
    with pytest.raises(client.exceptions.IdempotentParameterMismatchException):
        client.create_user(CollectionId="tokens", UserId="twice", ClientRequestToken="token-1")
    with pytest.raises(client.exceptions.ConflictException):  # boto3 gives each call a fresh token
        client.create_user(CollectionId="tokens", UserId="once")
    client.delete_user(CollectionId="tokens", UserId="once", ClientRequestToken="token-2")
    client.delete_user(CollectionId="tokens", UserId="once", ClientRequestToken="token-2")
    assert client.list_users(CollectionId="tokens")["Users"] == []


def test_a_token_is_honoured_for_its_window_then_forgotten_and_purged(tmp_path, monkeypatch):
    """After REQUEST_TOKEN_HOURS a token's answer is forgotten (the call acts again), and every
    REQUESTS_PURGE_EVERY answers the forgotten ones leave the store."""
    import datetime as dt

    import facelake.store.collections as collections
    from facelake.settings import REQUEST_TOKEN_HOURS

    store = str(tmp_path / "store")
    client = facelake.client(store=store)
    client.create_collection(CollectionId="old")
    client.create_user(CollectionId="old", UserId="first", ClientRequestToken="token-old")
    requests = CollectionStore(store).open_if_there(collections.REQUESTS_TABLE)
    long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=REQUEST_TOKEN_HOURS + 1)
    requests.update(where="key = 'CreateUser:token-old'", values={"at": long_ago})
    client.create_user(CollectionId="old", UserId="second", ClientRequestToken="token-old")  # no mismatch: forgotten
    assert sorted(u["UserId"] for u in client.list_users(CollectionId="old")["Users"]) == ["first", "second"]
    with pytest.raises(client.exceptions.IdempotentParameterMismatchException):  # the new answer is honoured
        client.create_user(CollectionId="old", UserId="third", ClientRequestToken="token-old")
    monkeypatch.setattr(collections, "REQUESTS_PURGE_EVERY", 1)
    client.delete_user(CollectionId="old", UserId="first", ClientRequestToken="token-purge")
    kept = CollectionStore(store).open_if_there(collections.REQUESTS_TABLE)
    assert sorted(r["key"] for r in kept.to_arrow().to_pylist()) == ["CreateUser:token-old", "DeleteUser:token-purge"]
    assert all(r["at"] > long_ago for r in kept.to_arrow().to_pylist()) and len(kept.list_versions()) == 1


def test_search_users_by_image_skips_faces_below_the_quality_filter_with_their_reasons(tmp_path):
    """The largest face is blurred: with QualityFilter HIGH the sharp smaller face is searched and
    the blurred one is listed with LOW_SHARPNESS; with NONE the largest is searched."""
    import io

    from PIL import Image, ImageFilter

    astronaut = Image.open(SAMPLES / "astronaut.jpg").convert("RGB")
    canvas = Image.new("RGB", (1280, 640), "white")
    canvas.paste(astronaut.resize((640, 640)).filter(ImageFilter.GaussianBlur(3)), (0, 0))
    canvas.paste(astronaut.resize((384, 384)), (700, 100))
    buf = io.BytesIO()
    canvas.save(buf, "JPEG", quality=95)
    client = facelake.client(store=str(tmp_path / "store"))
    client.create_collection(CollectionId="q")
    high = checked("SearchUsersByImage", client.search_users_by_image(
        CollectionId="q", Image={"Bytes": buf.getvalue()}, QualityFilter="HIGH"))
    assert [u["Reasons"] for u in high["UnsearchedFaces"]] == [["LOW_SHARPNESS"]]
    assert high["SearchedFace"]["FaceDetail"]["BoundingBox"]["Left"] > 0.5  # the sharp face, on the right
    none = client.search_users_by_image(CollectionId="q", Image={"Bytes": buf.getvalue()})
    assert [u["Reasons"] for u in none["UnsearchedFaces"]] == [["FACE_NOT_LARGEST"]]
    assert none["SearchedFace"]["FaceDetail"]["BoundingBox"]["Left"] < 0.5
