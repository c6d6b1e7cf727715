"""facelake serve: a real server process, spoken to by boto3, the AWS CLI and the JavaScript SDK
with only the endpoint set; signatures, bad requests, throttling and concurrency."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import ROOT, SAMPLES

KEY, SECRET = "AKIDFACELAKETEST", "test-secret-not-for-production"
FACE, OTHER = SAMPLES / "astronaut.jpg", SAMPLES / "astronaut-exif-rotated.jpg"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(tmp: Path, *extra: str, cafile: Path | None = None):
    """A server on a free port (``cafile``: it serves TLS with this certificate)."""
    port = free_port()
    (tmp / "keys").write_text(f"# test keys\n{KEY} {SECRET}\n")
    proc = subprocess.Popen([sys.executable, "-m", "facelake.cli", "serve", "--port", str(port), "--keys",
                             str(tmp / "keys"), "--store", str(tmp / "store"), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"{'https' if cafile else 'http'}://127.0.0.1:{port}"
    tls = ssl.create_default_context(cafile=str(cafile)) if cafile else None
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2, context=tls) as r:
                if json.load(r) == {"status": "ok"}:
                    return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"facelake serve did not start: {proc.stderr.read()[-2000:]}")


def stop(proc) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return proc.returncode, err


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc, url = start(tmp_path_factory.mktemp("serve"))
    yield url
    code, err = stop(proc)
    # uvicorn shuts down gracefully on SIGTERM, then exits by that signal
    assert code in (0, -signal.SIGTERM) and "Traceback" not in err, err[-2000:]


def rekognition(url: str, secret: str = SECRET, key: str = KEY, verify: Path | None = None, **config):
    return boto3.client("rekognition", endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret, verify=str(verify) if verify else None,
                        config=Config(**config) if config else None)


def test_boto3_with_endpoint_url(server):
    client = rekognition(server)
    face, other = FACE.read_bytes(), OTHER.read_bytes()
    detected = client.detect_faces(Image={"Bytes": face}, Attributes=["ALL"])
    assert len(detected["FaceDetails"]) == 1 and "Smile" in detected["FaceDetails"][0]
    assert detected["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"] == detected["ResponseMetadata"]["RequestId"]
    compared = client.compare_faces(SourceImage={"Bytes": face}, TargetImage={"Bytes": other})
    assert compared["FaceMatches"][0]["Similarity"] > 95
    assert compared["TargetImageOrientationCorrection"] == "ROTATE_90"
    client.create_collection(CollectionId="py")
    face_id = client.index_faces(CollectionId="py", Image={"Bytes": face})["FaceRecords"][0]["Face"]["FaceId"]
    found = client.search_faces_by_image(CollectionId="py", Image={"Bytes": other})
    assert found["FaceMatches"][0]["Face"]["FaceId"] == face_id
    client.create_user(CollectionId="py", UserId="astronaut")  # boto3 adds a ClientRequestToken
    assert client.associate_faces(CollectionId="py", UserId="astronaut", FaceIds=[face_id])["UserStatus"] == "ACTIVE"
    users = client.search_users_by_image(CollectionId="py", Image={"Bytes": other})["UserMatches"]
    assert [u["User"]["UserId"] for u in users] == ["astronaut"]
    described = client.describe_collection(CollectionId="py")
    assert described["UserCount"] == 1
    assert described["FaceCount"] == 1 and described["CreationTimestamp"].year >= 2026  # epoch seconds on the wire
    pages = list(client.get_paginator("list_faces").paginate(CollectionId="py", PaginationConfig={"PageSize": 1}))
    assert [f["FaceId"] for p in pages for f in p["Faces"]] == [face_id]
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_collection(CollectionId="missing")
    with pytest.raises(client.exceptions.InvalidImageFormatException):
        client.detect_faces(Image={"Bytes": b"not a photo"})
    with pytest.raises(ClientError, match="ValidationException"):
        client.create_collection(CollectionId="a/b")


def test_boto3_with_only_the_endpoint_variable(server, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_REKOGNITION", server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    client = boto3.session.Session().client("rekognition", region_name="eu-west-1")
    assert client.meta.endpoint_url == server
    assert len(client.detect_faces(Image={"Bytes": FACE.read_bytes()})["FaceDetails"]) == 1


def test_the_javascript_sdk(server, tmp_path):
    js = ROOT / "tests" / "js"
    if not (js / "node_modules" / "@aws-sdk" / "client-rekognition").exists():
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=js, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
    env = {**os.environ, "AWS_ENDPOINT_URL_REKOGNITION": server, "AWS_ACCESS_KEY_ID": KEY,
           "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1"}
    r = subprocess.run(["node", str(js / "rekognition.mjs"), str(FACE), str(OTHER)], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert out["detect"]["faces"] == 1 and "Value" in out["detect"]["smile"] and out["detect"]["requestId"]
    assert out["compare"]["matches"] == 1 and out["compare"]["similarity"] > 95
    assert out["search"]["faceId"] == out["index"]["faceId"]
    assert out["describe"]["faceCount"] == 1 and out["describe"]["created"].startswith("20")
    assert out["listed"] == 1
    assert out["error"] == {"name": "ResourceNotFoundException", "status": 400}


@pytest.fixture(scope="module")
def aws_cli():
    """The AWS CLI from PyPI, in a virtualenv of its own (it pins its own botocore)."""
    venv = ROOT / ".cache" / "awscli"
    aws = venv / "bin" / "aws"
    if not aws.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        r = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "awscli==1.46.2"], capture_output=True,
                           text=True, timeout=900)
        assert r.returncode == 0, r.stderr[-2000:]
    return aws


def test_the_aws_cli(server, aws_cli, tmp_path):
    env = {**os.environ, "AWS_ENDPOINT_URL_REKOGNITION": server, "AWS_ACCESS_KEY_ID": KEY,
           "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1"}

    def aws(*args: str) -> dict:
        r = subprocess.run([str(aws_cli), "rekognition", *args, "--output", "json"], env=env, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        return json.loads(r.stdout)

    # the CLI's own options for image files (--image-bytes: its customisation for Rekognition)
    assert len(aws("detect-faces", "--image-bytes", f"fileb://{FACE}")["FaceDetails"]) == 1
    assert aws("compare-faces", "--source-image-bytes", f"fileb://{FACE}", "--target-image-bytes",
               f"fileb://{OTHER}")["FaceMatches"][0]["Similarity"] > 95
    aws("create-collection", "--collection-id", "cli")
    face_id = aws("index-faces", "--collection-id", "cli", "--image-bytes",
                  f"fileb://{FACE}")["FaceRecords"][0]["Face"]["FaceId"]
    found = aws("search-faces-by-image", "--collection-id", "cli", "--image-bytes", f"fileb://{OTHER}")
    assert found["FaceMatches"][0]["Face"]["FaceId"] == face_id
    r = subprocess.run([str(aws_cli), "rekognition", "describe-collection", "--collection-id", "missing"], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "ResourceNotFoundException" in r.stderr


def raw(url: str, target: str, body: bytes, key: str = KEY, secret: str = SECRET, when: str | None = None,
        headers: dict | None = None) -> AWSRequest:
    """A request signed with SigV4 the way SDKs sign it (``when``: its X-Amz-Date)."""
    req = AWSRequest(method="POST", url=url + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target, **(headers or {})})
    signer = SigV4Auth(Credentials(key, secret), "rekognition", "us-east-1")
    if when is None:
        signer.add_auth(req)
    else:  # sign as a client whose clock says ``when``
        req.headers["X-Amz-Date"] = when
        req.headers["host"] = url.split("://", 1)[1]
        req.context["timestamp"] = when
        sig = signer.signature(signer.string_to_sign(req, signer.canonical_request(req)), req)
        req.headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={key}/{when[:8]}/us-east-1/rekognition/"
                                        f"aws4_request, SignedHeaders={signer.signed_headers(signer.headers_to_sign(req))}, "
                                        f"Signature={sig}")
    return req


def send(req: AWSRequest, cafile: Path | None = None) -> tuple[int, dict]:
    """Sends a request on a new connection (``cafile``: the TLS server's certificate)."""
    r = urllib.request.Request(req.url, data=req.body, method="POST", headers=dict(req.headers.items()))
    tls = ssl.create_default_context(cafile=str(cafile)) if cafile else None
    try:
        with urllib.request.urlopen(r, timeout=60, context=tls) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_nothing_but_the_configured_keys_gets_an_answer(server):
    with pytest.raises(ClientError) as info:
        rekognition(server, secret="wrong").list_collections()
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"
    with pytest.raises(ClientError) as info:
        rekognition(server, key="AKIDSTRANGER").list_collections()
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"
    from botocore import UNSIGNED

    with pytest.raises(ClientError) as info:
        rekognition(server, signature_version=UNSIGNED).list_collections()
    assert info.value.response["Error"]["Code"] == "MissingAuthenticationTokenException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_skewed_and_tampered_requests_are_refused(server):
    for minutes in (-10, 10):
        when = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() + 60 * minutes))
        status, body = send(raw(server, "RekognitionService.ListCollections", b"{}", when=when))
        assert status == 403 and body["__type"] == "InvalidSignatureException" and "expired" in body["message"]
    now = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    req = raw(server, "RekognitionService.ListCollections", b"{}", when=now)
    assert send(req)[0] == 200
    req.data = b'{"MaxResults": 1}'  # the body changed after signing
    status, body = send(req)
    assert status == 403 and body["__type"] == "InvalidSignatureException"


def test_bad_requests_get_the_services_answers_and_the_server_survives(server):
    status, body = send(raw(server, "RekognitionService.DetectFaces", b"{not json"))
    assert status == 400 and body["__type"] == "SerializationException"
    status, body = send(raw(server, "RekognitionService.FlyToTheMoon", b"{}"))
    assert status == 400 and body["__type"] == "UnknownOperationException"
    status, body = send(raw(server, "RekognitionService.DetectLabels", b'{"Image": {"Bytes": "AA=="}}'))
    assert status == 400 and body["__type"] == "UnknownOperationException"  # in the model, not offered
    status, body = send(raw(server, "RekognitionService.DetectFaces", b'{"Image": {"Bytes": "***"}}'))
    assert status == 400 and body["__type"] == "ValidationException"
    status, body = send(raw(server, "RekognitionService.DetectFaces", b"[1, 2]"))
    assert status == 400 and body["__type"] == "SerializationException"
    # a request over the limit (a 5 MB image is ~6.7 MB of base64) is refused from its headers
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
                  b"X-Amz-Target: RekognitionService.DetectFaces\r\nContent-Length: 9437184\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 413")
    # a truncated request: the client promises more than it sends, then goes away
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{\"Image\":")
    # garbage that is not HTTP at all
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(os.urandom(4096))
        try:
            s.recv(1024)
        except OSError:
            pass
    assert rekognition(server).list_collections()["ResponseMetadata"]["HTTPStatusCode"] == 200
    with urllib.request.urlopen(server + "/metrics", timeout=10) as r:
        metrics = r.read().decode()
    assert 'facelake_requests_total{operation="DetectFaces",status="400"}' in metrics


def test_concurrent_clients(server):
    face = FACE.read_bytes()
    results, errors = [], []

    def work():
        client = rekognition(server)
        try:
            for _ in range(3):
                results.append(len(client.detect_faces(Image={"Bytes": face})["FaceDetails"]))
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == [1] * 24


def test_a_full_queue_answers_throttling_which_sdks_retry(tmp_path):
    proc, url = start(tmp_path, "--queue", "1", "--threads", "1")
    try:
        face = FACE.read_bytes()
        codes = []
        clients = {n: rekognition(url, retries={"max_attempts": n, "mode": "standard"}) for n in (1, 10)}

        def once(retries: int, photo: bytes = face):
            try:  # every attribute: long enough a request for the others to find the queue full
                clients[retries].detect_faces(Image={"Bytes": photo}, Attributes=["ALL"])
                codes.append("ok")
            except ClientError as e:
                codes.append(e.response["Error"]["Code"])

        # one long request (16 faces, every attribute) holds the only slot; requests sent while it
        # runs find the queue full (polled, so a loaded machine's timing cannot make them miss it)
        from PIL import Image

        tiles = Image.new("RGB", (2048, 2048))
        for i in range(16):
            tiles.paste(Image.open(FACE).convert("RGB"), (512 * (i % 4), 512 * (i // 4)))
        crowd = io.BytesIO()
        tiles.save(crowd, "JPEG", quality=90)
        for _ in range(5):  # a loaded machine may still serve the two one after the other: again
            long = threading.Thread(target=once, args=(1, crowd.getvalue()))
            long.start()
            while long.is_alive() and "ThrottlingException" not in codes:
                once(1)
            long.join()
            if "ThrottlingException" in codes:
                break
        assert "ThrottlingException" in codes and "ok" in codes and set(codes) <= {"ok", "ThrottlingException"}
        codes.clear()
        threads = [threading.Thread(target=once, args=(10,)) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert codes == ["ok"] * 3  # with the SDK's retries every request gets through
        # a request in flight when the server is told to stop still gets its answer
        late = threading.Thread(target=once, args=(1,))
        codes.clear()
        late.start()
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        late.join()
        assert codes == ["ok"]
    finally:
        stop(proc)


def test_s3_images_only_from_the_allowed_buckets(s3_server, tmp_path):
    """The server reads S3Object images with its own credentials, from --allow-buckets only."""
    s3 = boto3.client("s3")
    for bucket in ("allowed-photos", "private-photos"):
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="me.jpg", Body=FACE.read_bytes())
    proc, url = start(tmp_path, "--allow-buckets", "allowed-photos")  # inherits the S3 endpoint settings
    try:
        client = rekognition(url)
        ok = client.detect_faces(Image={"S3Object": {"Bucket": "allowed-photos", "Name": "me.jpg"}})
        assert len(ok["FaceDetails"]) == 1
        with pytest.raises(client.exceptions.AccessDeniedException, match="private-photos is not one"):
            client.detect_faces(Image={"S3Object": {"Bucket": "private-photos", "Name": "me.jpg"}})
    finally:
        stop(proc)


def test_serve_refuses_to_start_without_keys_or_anonymously_off_loopback(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "FACELAKE_ACCESS_KEYS"}
    r = subprocess.run([sys.executable, "-m", "facelake.cli", "serve", "--port", str(free_port())], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no access keys" in r.stderr
    r = subprocess.run([sys.executable, "-m", "facelake.cli", "serve", "--host", "0.0.0.0", "--allow-anonymous"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "loopback" in r.stderr


def test_anonymous_on_loopback_when_asked(tmp_path):
    from botocore import UNSIGNED

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "facelake.cli", "serve", "--port", str(port), "--allow-anonymous",
                             "--store", str(tmp_path / "store")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                urllib.request.urlopen(url + "/health", timeout=2).close()
                break
            except OSError:
                time.sleep(0.2)
        client = rekognition(url, signature_version=UNSIGNED)
        assert client.list_collections()["CollectionIds"] == []
    finally:
        stop(proc)
    shutil.rmtree(tmp_path / "store", ignore_errors=True)


def self_signed_certificate(cert: Path, key: Path) -> None:
    """A one-day certificate for 127.0.0.1 (cryptography comes with moto)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(private, hashes.SHA256()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """Two server processes with a self-signed certificate for 127.0.0.1 and a 2-second read timeout."""
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    self_signed_certificate(cert, key)
    proc, url = start(tmp, "--tls-cert", str(cert), "--tls-key", str(key), "--read-timeout", "2", "--workers", "2",
                      cafile=cert)
    yield url, cert
    stop(proc)


def test_tls_with_the_operators_certificate(tls_server):
    url, cert = tls_server
    client = rekognition(url, verify=cert)
    assert len(client.detect_faces(Image={"Bytes": FACE.read_bytes()})["FaceDetails"]) == 1
    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED|SSL"):  # a client that does not trust it
        rekognition(url, retries={"max_attempts": 1}).list_collections()
    with pytest.raises(OSError):  # plain HTTP on the TLS port gets no answer
        send(raw(url.replace("https", "http"), "RekognitionService.ListCollections", b"{}"))


def test_slow_clients_are_cut_off(tls_server):
    url, cert = tls_server
    host, port = url.removeprefix("https://").split(":")
    tls = ssl.create_default_context(cafile=str(cert))

    def connect():
        return tls.wrap_socket(socket.create_connection((host, int(port)), timeout=30), server_hostname=host)

    with connect() as s:  # headers that never end
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
        started = time.time()
        assert s.recv(4096) == b"" and time.time() - started < 10  # closed after the read timeout
    with connect() as s:  # a body that never comes
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: RekognitionService.DetectFaces\r\n"
                  b"Content-Length: 1000\r\n\r\n{")
        answer = s.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408") and b"RequestTimeoutException" in answer
    assert rekognition(url, verify=cert).list_collections()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_replayed_requests_that_change_the_store_are_refused(tls_server):
    url, cert = tls_server
    create = raw(url, "RekognitionService.CreateCollection", b'{"CollectionId": "replayed"}')
    # the same signed request six times, each on a new connection to either of the two processes
    answers = [send(create, cert) for _ in range(6)]
    assert sorted(status for status, _ in answers) == [200] + [403] * 5
    assert all(b["__type"] == "InvalidSignatureException" and "replayed" in b["message"] for st, b in answers if st == 403)
    assert rekognition(url, verify=cert).describe_collection(CollectionId="replayed")["FaceCount"] == 0
    # identical reads are what concurrent SDK clients send in the same second: they are answered
    read = raw(url, "RekognitionService.ListCollections", b"{}")
    assert send(read, cert)[0] == send(read, cert)[0] == 200
    time.sleep(1.1)  # a new signature of the same kind of call (a later second) is a new request
    status, body = send(raw(url, "RekognitionService.DeleteCollection", b'{"CollectionId": "replayed"}'), cert)
    assert status == 200 and body["StatusCode"] == 200


def test_video_jobs_over_http(s3_server, tmp_path):
    """StartSegmentDetection / GetSegmentDetection through facelake serve, from an allowed bucket."""
    from test_video_inputs import clip

    s3 = boto3.client("s3")
    for bucket in ("allowed-videos", "private-videos"):
        s3.create_bucket(Bucket=bucket)
        s3.upload_file(str(clip(tmp_path / "clip.mp4")), bucket, "clip.mp4")
    proc, url = start(tmp_path, "--allow-buckets", "allowed-videos")
    try:
        client = rekognition(url)
        job = client.start_segment_detection(Video={"S3Object": {"Bucket": "allowed-videos", "Name": "clip.mp4"}},
                                             SegmentTypes=["SHOT"], ClientRequestToken="clip-1")["JobId"]
        again = client.start_segment_detection(Video={"S3Object": {"Bucket": "allowed-videos", "Name": "clip.mp4"}},
                                               SegmentTypes=["SHOT"], ClientRequestToken="clip-1")["JobId"]
        assert again == job
        with pytest.raises(client.exceptions.AccessDeniedException):
            client.start_face_detection(Video={"S3Object": {"Bucket": "private-videos", "Name": "clip.mp4"}})
        deadline = time.time() + 180
        while (resp := client.get_segment_detection(JobId=job))["JobStatus"] == "IN_PROGRESS" and time.time() < deadline:
            time.sleep(1)
        assert resp["JobStatus"] == "SUCCEEDED", resp.get("StatusMessage")
        assert [(s["Type"], s["StartFrameNumber"], s["EndFrameNumber"]) for s in resp["Segments"]] == [("SHOT", 0, 39)]
    finally:
        stop(proc)
