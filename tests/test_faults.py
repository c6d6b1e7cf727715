"""Inputs that block or hide, remote faults and awkward ids: each gets a clear row or message."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time

import pyarrow.dataset as ds
import pytest
from PIL import Image

import facelake
from conftest import SAMPLES
from facelake.pipelines import detect


def rows(out, table: str) -> list[dict]:
    return ds.dataset(str(out / table), format="parquet").to_table().to_pylist()


def mpo(first: bytes, second: bytes) -> bytes:
    """A multi-picture JPEG (as many cameras write): two pictures in one file."""
    buf = io.BytesIO()
    Image.open(io.BytesIO(first)).save(buf, "MPO", save_all=True,
                                       append_images=[Image.open(io.BytesIO(second)).convert("RGB")])
    return buf.getvalue()


@pytest.fixture()
def awkward(tmp_path):
    """A folder of awkward entries: a FIFO, a socket, a symlinked folder (and a link loop), a
    name with glob characters, an MPO, a hidden file."""
    import socket

    root = tmp_path / "awkward"
    (root / "real").mkdir(parents=True)
    (root / "real" / "cat.jpg").write_bytes((SAMPLES / "cat.jpg").read_bytes())
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "linked.jpg").write_bytes((SAMPLES / "astronaut.jpg").read_bytes())
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "real" / "loop").symlink_to(root, target_is_directory=True)  # a link loop
    (root / "party[1].jpg").write_bytes((SAMPLES / "astronaut.jpg").read_bytes())
    (root / "camera.jpg").write_bytes(mpo((SAMPLES / "astronaut.jpg").read_bytes(), (SAMPLES / "cat.jpg").read_bytes()))
    (root / ".hidden.jpg").write_bytes(b"hidden")
    os.mkfifo(root / "pipe.jpg")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "sock"))
    yield root
    sock.close()


def test_a_folder_of_awkward_entries_gives_one_row_each_and_never_blocks(awkward, tmp_path):
    out = tmp_path / "out"
    started = time.time()
    summary = detect.run([str(awkward), "--output", str(out), "--no-progress"])
    assert time.time() - started < 120
    images = {r["uri"].removeprefix(str(awkward) + "/"): r for r in rows(out, "images")}
    errors = {r["uri"].removeprefix(str(awkward) + "/"): r for r in rows(out, "errors")}
    assert set(images) == {"real/cat.jpg", "link/linked.jpg", "party[1].jpg", "camera.jpg"}
    assert images["camera.jpg"]["format"] == "JPEG" and images["camera.jpg"]["face_count"] == 1  # the first picture
    assert images["link/linked.jpg"]["face_count"] == 1  # a symlinked folder is followed
    assert set(errors) == {"pipe.jpg", "sock"}
    assert "named pipe (FIFO)" in errors["pipe.jpg"]["message"] and "socket" in errors["sock"]["message"]
    assert {e["reason"] for e in errors.values()} == {"InvalidParameterException"}
    assert summary["reconciled"] and summary["inputs"] == 6


def test_a_fifo_given_directly_fails_at_once(awkward):
    started = time.time()
    with pytest.raises(Exception, match="named pipe"):
        facelake.analyze_faces(str(awkward / "pipe.jpg"))
    r = subprocess.run([sys.executable, "-m", "facelake.cli", "detect-faces", str(awkward / "pipe.jpg")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "named pipe (FIFO)" in r.stderr and "Traceback" not in r.stderr
    assert time.time() - started < 60


def test_an_existing_file_is_taken_literally_before_a_glob(awkward, tmp_path):
    summary = detect.run([str(awkward / "party[1].jpg"), "--output", str(tmp_path / "o"), "--no-progress"])
    assert summary["images"] == 1 and summary["errors"] == 0
    globbed = detect.run([str(awkward / "party*.jpg"), "--output", str(tmp_path / "g"), "--no-progress"])
    assert globbed["images"] == 1


def test_a_multi_picture_jpeg_is_read_through_the_api(client):
    data = mpo((SAMPLES / "astronaut.jpg").read_bytes(), (SAMPLES / "cat.jpg").read_bytes())
    assert len(client.detect_faces(Image={"Bytes": data})["FaceDetails"]) == 1


def test_credential_problems_become_access_denied(monkeypatch):
    from botocore.exceptions import ClientError, NoCredentialsError
    from s3fs.errors import translate_boto_error

    from facelake.models.images import storage_error

    for code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"):
        err = storage_error("s3://b/k", translate_boto_error(ClientError({"Error": {"Code": code, "Message": "no"}},
                                                                         "GetObject")))
        assert err.code == "AccessDeniedException" and "access denied" in err.message
    err = storage_error("s3://b/k", NoCredentialsError())
    assert err.code == "AccessDeniedException" and "no credentials" in err.message


def without_credentials(monkeypatch, tmp_path):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask an instance-metadata address


def test_missing_credentials_give_access_denied_rows(s3_server, monkeypatch, tmp_path):
    import boto3
    import s3fs

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="private")
    s3.put_object(Bucket="private", Key="p/cat.jpg", Body=(SAMPLES / "cat.jpg").read_bytes())
    without_credentials(monkeypatch, tmp_path)
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        summary = detect.run(["s3://private/p/", "s3://private/p/cat.jpg", "--output", str(tmp_path / "o"),
                              "--no-progress"])
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
    errors = {r["uri"]: r for r in rows(tmp_path / "o", "errors")}
    assert {e["reason"] for e in errors.values()} == {"AccessDeniedException"}
    assert all("no credentials" in e["message"] for e in errors.values())
    assert summary["reconciled"]


def test_an_output_bucket_that_does_not_exist_is_an_error(s3_server):
    import boto3

    r = subprocess.run([sys.executable, "-m", "facelake.cli", "detect", str(SAMPLES), "--output",
                        "s3://no-such-bucket/out", "--no-progress"], capture_output=True, text=True, timeout=300,
                       env={**os.environ})
    assert r.returncode == 1 and "bucket no-such-bucket does not exist" in r.stderr and "Traceback" not in r.stderr
    assert "no-such-bucket" not in [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]]


def test_an_s3_outage_mid_run_ends_fast_with_rows_and_a_summary(monkeypatch, tmp_path):
    """moto's S3 server is stopped after the 5th object is read; the other 35 get error rows,
    the run finishes within 60 s of the outage and its summary is written."""
    import boto3
    import s3fs
    from moto.server import ThreadedMotoServer

    from facelake.transforms import faces

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for k, v in {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    s3fs.S3FileSystem.clear_instance_cache()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="flaky")
    cat = (SAMPLES / "cat.jpg").read_bytes()
    for i in range(40):
        s3.put_object(Bucket="flaky", Key=f"photos/{i:02d}.jpg", Body=cat)
    reads, outage = [0], [None]
    real_read = faces.read_uri

    def read_then_fail(uri, *args, **kwargs):
        reads[0] += 1
        if reads[0] == 6 and outage[0] is None:
            server.stop()
            outage[0] = time.time()
        return real_read(uri, *args, **kwargs)

    monkeypatch.setattr(faces, "read_uri", read_then_fail)
    try:
        summary = detect.run(["s3://flaky/photos/", "--output", str(tmp_path / "o"), "--no-progress"])
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
    assert outage[0] and time.time() - outage[0] < 60
    assert summary["reconciled"] and summary["inputs"] == 40 and summary["images"] == 5
    assert summary["errors_by_reason"] == {"InvalidS3ObjectException": 35}
    errors = rows(tmp_path / "o", "errors")
    assert all("did not answer" in e["message"] or "stopped answering" in e["message"] for e in errors)
    assert (tmp_path / "o" / "runs" / f"{summary['run_id']}.json").exists()


@pytest.mark.parametrize("cid", [".", "..", "x" * 255, "__collections", "a-b_c.d"])
def test_every_collection_id_the_pattern_allows_works(tmp_path, cid, astronaut_bytes):
    client = facelake.client(store=str(tmp_path / "store"))
    client.create_collection(CollectionId=cid)
    client.index_faces(CollectionId=cid, Image={"Bytes": astronaut_bytes})
    assert client.describe_collection(CollectionId=cid)["FaceCount"] == 1
    assert client.list_collections()["CollectionIds"] == [cid]
    client.delete_collection(CollectionId=cid)
    assert client.list_collections()["CollectionIds"] == []


def test_an_s3_output_that_dies_mid_run_ends_in_one_line(tmp_path):
    """The output store stops answering while the job writes: exit 1 within 60 s, one line
    naming the cause (Beam's traceback goes to a log file), no traceback on the terminal."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {**os.environ, "AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing").create_bucket(Bucket="out")
    lib = tmp_path / "lib"
    lib.mkdir()
    for i in range(30):
        (lib / f"{i:02d}.jpg").write_bytes((SAMPLES / "astronaut.jpg").read_bytes())
    proc = subprocess.Popen([sys.executable, "-m", "facelake.cli", "detect", str(lib), "--output", "s3://out/run",
                             "--no-progress"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    while time.time() < deadline and not s3.list_objects_v2(Bucket="out", Prefix="run/_lease").get("KeyCount"):
        time.sleep(0.1)
    time.sleep(1.0)
    server.stop()
    stopped = time.time()
    out, err = proc.communicate(timeout=300)
    assert time.time() - stopped < 60
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and "object store did not answer" in err
