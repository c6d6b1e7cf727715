"""The detect job end to end: a corpus of good and bad files, local and on S3, re-runs, workers."""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import SAMPLES, dated, encode
from test_images import png_header_only

from facelake.pipelines import detect


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, astronaut_bytes):
    """Photos that must each give one face, and files that must each give one error row."""
    root = tmp_path_factory.mktemp("library")
    img = Image.open(io.BytesIO(astronaut_bytes)).convert("RGB")
    good = {
        "plain.jpg": astronaut_bytes,
        "exif-rotated.jpg": (SAMPLES / "astronaut-exif-rotated.jpg").read_bytes(),
        "cmyk.jpg": encode(img.convert("CMYK"), "JPEG", quality=92),
        "gray.jpg": encode(img.convert("L"), "JPEG", quality=92),
        "alpha.png": encode(img.convert("RGBA")),
        "sixteen-bit.png": encode(Image.fromarray(np.asarray(img.convert("L")).astype(np.uint16) * 257)),
        "nested/deeper/photo.webp": encode(img, "WEBP", quality=90),
        "dated.jpg": dated(astronaut_bytes, "2019:05:01 10:00:00", "+02:00"),
    }
    bad = {
        "empty.jpg": (b"", "InvalidImageFormatException"),
        "text.jpg": (b"not a photo at all\n" * 20, "InvalidImageFormatException"),
        "truncated.jpg": (astronaut_bytes[:20000], "InvalidImageFormatException"),
        "bomb.png": (png_header_only(30000, 30000), "ImageTooLargeException"),
        "tiny.png": (encode(Image.new("RGB", (1, 1))), "InvalidParameterException"),
        "notes.txt": (b"shopping list", "InvalidImageFormatException"),
        "data.bin": (bytes(range(256)) * 40, "InvalidImageFormatException"),
    }
    for name, data in list(good.items()) + [(k, v[0]) for k, v in bad.items()]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    os.symlink(root / "gone.jpg", root / "dangling.jpg")  # listed, but unreadable when read
    reasons = {k: v[1] for k, v in bad.items()}
    reasons["dangling.jpg"] = "InvalidParameterException"
    (root / ".hidden.jpg").write_bytes(b"ignored: hidden files are not inputs")
    return root, good, reasons


def read(out, table):
    return pd.read_parquet(f"{out}/{table}")


def check(summary, out, root, good, reasons, prefix=""):
    images, faces, errors = read(out, "images"), read(out, "faces"), read(out, "errors")
    assert summary["reconciled"] and summary["inputs"] == len(good) + len(reasons)
    assert summary["images"] == len(images) == len(good)
    assert summary["errors"] == len(errors) == len(reasons)
    name = lambda uri: uri.split(str(root) + "/", 1)[-1] if not prefix else uri.split(prefix, 1)[-1]
    assert {name(u): c for u, c in zip(images.uri, images.face_count)} == {k: 1 for k in good}
    assert {name(u): r for u, r in zip(errors.uri, errors.reason)} == reasons
    assert all(errors.message.str.len() > 5) and set(errors.stage) <= {"read", "decode"}
    assert len(faces) == len(good) and faces.face_id.is_unique
    assert faces.embedding.map(len).eq(128).all()
    rotated = images[images.uri.str.endswith("exif-rotated.jpg")].iloc[0]
    assert rotated.orientation_correction == "ROTATE_90"
    # when the photo was taken, in UTC, on its image and its faces; null for photos that do not say
    taken = pd.Timestamp("2019-05-01 08:00:00", tz="UTC")
    for table in (images, faces):
        assert {name(u): t for u, t in zip(table.uri, table.captured_at) if not pd.isna(t)} == {"dated.jpg": taken}
    return images, faces, errors


def test_local_library_every_input_ends_in_one_row(corpus, tmp_path):
    root, good, reasons = corpus
    out = tmp_path / "out"
    summary = detect.run([str(root), "--output", str(out), "--no-progress"])
    images, faces, errors = check(summary, out, root, good, reasons)
    assert summary["errors_by_reason"]["InvalidImageFormatException"] == 5
    saved = json.loads((out / "runs" / f"{summary['run_id']}.json").read_text())
    assert saved["images"] == summary["images"] and saved["model_versions"]["embedder"] == "dlib-resnet-v1"
    assert not (out / "_staging").exists()
    # rows hold the same FaceDetail the API gives for the same photo
    from facelake.schemas.tables import face_detail_from_row
    import facelake

    row = faces[faces.uri.str.endswith("plain.jpg")].iloc[0].to_dict()
    api = facelake.client().detect_faces(Image={"Bytes": (root / "plain.jpg").read_bytes()})["FaceDetails"][0]
    back = face_detail_from_row(row)
    assert back.keys() == api.keys()
    assert back["BoundingBox"]["Left"] == pytest.approx(api["BoundingBox"]["Left"], abs=1e-5)
    assert back["Pose"]["Yaw"] == pytest.approx(api["Pose"]["Yaw"], abs=1e-4)
    assert [lm["Type"] for lm in back["Landmarks"]] == [lm["Type"] for lm in api["Landmarks"]]
    assert back["Landmarks"][0]["X"] == pytest.approx(api["Landmarks"][0]["X"], abs=1e-5)
    from facelake.schemas.botocore_model import service_model, validate

    validate(back, service_model().shape_for("FaceDetail"))  # a row gives back a valid FaceDetail
    # a missing source is an error row too, and the run still finishes
    summary2 = detect.run([str(root / "plain.jpg"), str(root / "no-such-folder"), "--output", str(tmp_path / "o2"),
                           "--no-progress"])
    assert summary2["inputs"] == 2 and summary2["images"] == 1 and summary2["errors_by_reason"] == {"NotFound": 1}


def test_every_attribute_on_every_kind_of_photo(corpus, tmp_path):
    root, good, reasons = corpus
    out = tmp_path / "out"
    summary = detect.run([str(root), "--output", str(out), "--attributes", "ALL", "--no-progress"])
    _, faces, _ = check(summary, out, root, good, reasons)
    from facelake.schemas.botocore_model import service_model, validate
    from facelake.schemas.tables import face_detail_from_row

    shape = service_model().shape_for("FaceDetail")
    for row in faces.to_dict("records"):
        detail = face_detail_from_row(row)
        assert set(detail) == set(shape.members), row["uri"]  # gray, CMYK, 16-bit, alpha... alike
        validate(detail, shape)
        assert detail["EyesOpen"]["Value"] is True and detail["Beard"]["Value"] is False, row["uri"]


def test_rerun_with_skip_existing_adds_nothing(corpus, tmp_path):
    root, good, reasons = corpus
    out = str(tmp_path / "out")
    first = detect.run([str(root), "--output", out, "--no-progress"])
    second = detect.run([str(root), "--output", out, "--no-progress", "--skip-existing"])
    assert second["images"] == 0 and second["skipped"] == len(good) and second["reconciled"]
    assert second["errors"] == len(reasons)  # bad files are tried again: they may have been fixed
    assert len(read(out, "images")) == first["images"] and len(read(out, "faces")) == first["faces"]
    # ids are deterministic: a fresh run elsewhere gives the same face ids
    other = str(tmp_path / "other")
    detect.run([str(root), "--output", other, "--no-progress"])
    assert set(read(out, "faces").face_id) == set(read(other, "faces").face_id)


def test_s3_library_to_s3_output(corpus, s3_server):
    import boto3
    import s3fs

    root, good, reasons = corpus
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="library")
    s3.create_bucket(Bucket="results")
    for path in root.rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            s3.put_object(Bucket="library", Key=f"photos/{path.relative_to(root)}", Body=path.read_bytes())
    s3.put_object(Bucket="library", Key="other/elsewhere.jpg", Body=b"not in the prefix")
    bad = {k: v for k, v in reasons.items() if k != "dangling.jpg"}  # a symlink does not upload
    summary = detect.run(["s3://library/photos/", "--output", "s3://results/run", "--no-progress"])
    fs = s3fs.S3FileSystem()
    fs.invalidate_cache()

    def s3_table(table):
        files = fs.glob(f"results/run/{table}/*.parquet")
        return pd.concat([pd.read_parquet(fs.open(f, "rb")) for f in files])

    assert summary["reconciled"] and summary["images"] == len(good) and summary["errors"] == len(bad)
    images, errors = s3_table("images"), s3_table("errors")
    assert set(images.uri) == {f"s3://library/photos/{k}" for k in good}
    assert dict(zip(errors.uri, errors.reason)) == {f"s3://library/photos/{k}": v for k, v in bad.items()}
    assert fs.exists(f"results/run/runs/{summary['run_id']}.json")
    # worker processes get the S3 settings through the environment they inherit
    r = subprocess.run([sys.executable, "-m", "facelake.cli", "detect", "s3://library/photos/", "--output",
                        "s3://results/two-workers", "--workers", "2", "--no-progress"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["images"] == len(good)
    # a key prefix (not a folder) selects by key, as S3 does
    by_prefix = detect.run(["s3://library/photos/ex", "--output", "s3://results/prefix", "--no-progress"])
    assert by_prefix["inputs"] == 1 and by_prefix["images"] == 1
    # an object listed but gone when read is an error row, not a crash
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    from facelake.transforms.faces import DetectFaces

    with beam.Pipeline(runner="FnApiRunner") as p:
        found = p | beam.Create(["s3://library/photos/vanished.jpg"]) | DetectFaces("t")
        assert_that(found["errors"] | beam.Map(lambda r: (r["stage"], r["reason"])),
                    equal_to([("read", "InvalidS3ObjectException")]))


def test_two_workers_and_the_cli(corpus, tmp_path):
    root, good, reasons = corpus
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "facelake.cli", "detect", str(root), "--output", str(out),
                        "--workers", "2"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads(r.stdout)
    assert summary["workers"] == 2 and summary["worker_processes"] == 1  # two threads of one process
    check(summary, out, root, good, reasons)
    n = len(good) + len(reasons)
    assert f"files {n}/{n}," in r.stderr  # the progress line's last state
    assert "Traceback" not in r.stderr
    bad = subprocess.run([sys.executable, "-m", "facelake.cli", "detect", str(root), "--output", "/proc/nope"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "facelake detect:" in bad.stderr
