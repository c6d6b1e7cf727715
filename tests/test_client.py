"""facelake.client() is a genuine botocore client: boto3's own surface, answered in this process."""

import socket

import boto3
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from botocore.stub import Stubber

import facelake
from facelake.operations import OPERATIONS
from facelake.schemas.botocore_model import validate_response


@pytest.fixture()
def client(tmp_path):
    return facelake.client(store=str(tmp_path / "store"))


def test_it_is_a_boto3_rekognition_client(client):
    mine = boto3.client("rekognition", region_name="us-east-1")
    assert type(client).__name__ == type(mine).__name__ == "Rekognition"
    assert client.meta.service_model.service_name == "rekognition"
    assert client.meta.region_name == "us-east-1"
    assert set(dir(client.exceptions)) == set(dir(mine.exceptions))
    assert client.exceptions.ThrottlingException is mine.exceptions.ThrottlingException
    assert client.exceptions.from_code("ResourceNotFoundException") is mine.exceptions.ResourceNotFoundException
    other = facelake.client(region_name="eu-west-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret")
    assert other.meta.region_name == "eu-west-1"
    assert other.list_collections()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_facelakes_errors_are_caught_as_a_users_own_boto3_clients(client):
    try:
        client.describe_collection(CollectionId="nowhere")
    except boto3.client("rekognition", region_name="us-east-1").exceptions.ResourceNotFoundException as e:
        assert e.response["Error"]["Code"] == "ResourceNotFoundException"
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400 and e.response["ResponseMetadata"]["RequestId"]
        assert e.operation_name == "DescribeCollection"
    else:
        pytest.fail("no ResourceNotFoundException")


def test_parameters_are_validated_by_botocore(client):
    with pytest.raises(ParamValidationError, match='Missing required parameter in input: "Image"'):
        client.detect_faces()
    with pytest.raises(ParamValidationError, match="Unknown parameter"):
        client.detect_faces(Image={"Bytes": b"x"}, Colour="red")
    with pytest.raises(ParamValidationError, match="Invalid type"):
        client.list_faces(CollectionId="c", MaxResults="ten")


def test_constraints_botocore_leaves_to_the_service_are_the_services_validation_errors(client):
    with pytest.raises(ClientError) as info:
        client.list_faces(CollectionId="c", MaxResults=5000)
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert "'maxResults'" in info.value.response["Error"]["Message"]


def test_a_bad_next_token(client):
    client.create_collection(CollectionId="c")
    with pytest.raises(client.exceptions.InvalidPaginationTokenException):
        client.list_collections(NextToken="garbage")
    with pytest.raises(client.exceptions.InvalidPaginationTokenException):
        token = facelake.collections.page_token(5, "another")
        client.list_faces(CollectionId="c", NextToken=token)


def test_every_response_carries_response_metadata(client, astronaut_bytes):
    responses = {"CreateCollection": client.create_collection(CollectionId="m"),
                 "ListCollections": client.list_collections(),
                 "DescribeCollection": client.describe_collection(CollectionId="m"),
                 "IndexFaces": client.index_faces(CollectionId="m", Image={"Bytes": astronaut_bytes}),
                 "ListFaces": client.list_faces(CollectionId="m"),
                 "DetectFaces": client.detect_faces(Image={"Bytes": astronaut_bytes}),
                 "DeleteCollection": client.delete_collection(CollectionId="m")}
    for name, resp in responses.items():
        meta = resp["ResponseMetadata"]
        assert meta["HTTPStatusCode"] == 200 and len(meta["RequestId"]) == 36
        assert meta["HTTPHeaders"]["x-amzn-requestid"] == meta["RequestId"]
        validate_response(name, resp)


def test_paginators(client, astronaut_bytes):
    for i in range(5):
        client.create_collection(CollectionId=f"c{i}")
    pages = list(client.get_paginator("list_collections").paginate(PaginationConfig={"PageSize": 2}))
    assert [p["CollectionIds"] for p in pages] == [["c0", "c1"], ["c2", "c3"], ["c4"]]
    whole = client.get_paginator("list_collections").paginate().build_full_result()
    assert whole["CollectionIds"] == [f"c{i}" for i in range(5)]


def test_stubber_works_as_on_any_client(client, astronaut_bytes):
    """The awsdocs pattern: stub a response, call, assert; nothing reaches facelake meanwhile."""
    stubbed = {"FaceDetails": [{"Confidence": 12.5}]}
    with Stubber(client) as stubber:
        stubber.add_response("detect_faces", stubbed, {"Image": {"Bytes": b"any"}})
        stubber.add_client_error("describe_collection", service_error_code="ThrottlingException",
                                 http_status_code=400)
        assert client.detect_faces(Image={"Bytes": b"any"})["FaceDetails"] == stubbed["FaceDetails"]
        with pytest.raises(client.exceptions.ThrottlingException):
            client.describe_collection(CollectionId="x")
        stubber.assert_no_pending_responses()
    # deactivated: facelake answers again
    assert client.detect_faces(Image={"Bytes": astronaut_bytes})["FaceDetails"][0]["Confidence"] > 90


def test_nothing_is_sent_and_no_body_is_built(client, astronaut_bytes, monkeypatch):
    bodies = []
    client.meta.events.register("before-call.rekognition.DetectFaces",
                                lambda params, **_: bodies.append(params["body"]))

    def no_network(*args, **kwargs):
        raise AssertionError("facelake's client opened a connection")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    resp = client.detect_faces(Image={"Bytes": astronaut_bytes})
    assert len(resp["FaceDetails"]) == 1
    assert bodies and len(bodies[0]) < 100  # the 2 MB photo was never base64-encoded into a body


def test_operations_offered_and_the_rest(client):
    model = client.meta.service_model
    assert set(OPERATIONS) <= set(model.operation_names)
    assert {"DetectFaces", "CompareFaces", "CreateCollection", "IndexFaces", "SearchFaces", "SearchFacesByImage",
            "ListFaces", "DeleteFaces", "ListCollections", "DescribeCollection", "DeleteCollection"} <= set(OPERATIONS)
    with pytest.raises(ClientError) as info:
        client.detect_labels(Image={"Bytes": b"x"})
    assert info.value.response["Error"]["Code"] == "UnknownOperationException"
    assert "DetectLabels" in info.value.response["Error"]["Message"]


def test_a_bug_becomes_the_services_internal_error(client, monkeypatch):
    def broken(ctx, **params):
        raise RuntimeError("boom")

    monkeypatch.setitem(OPERATIONS, "ListCollections", broken)
    with pytest.raises(client.exceptions.InternalServerError, match="RuntimeError: boom") as info:
        client.list_collections()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


@pytest.mark.parametrize("name", ["party[1].jpg", "été 2024.png", "a" * 300 + ".jpg", "x:y/z.jpg", ".hidden"])
def test_bulk_external_image_ids_satisfy_the_service_model(name):
    from facelake.schemas.collections import external_image_id_for
    from facelake.schemas.requests import check_member

    check_member("IndexFaces", "ExternalImageId", external_image_id_for(f"s3://bucket/photos/{name}"))
