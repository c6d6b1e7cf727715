"""The video job and Rekognition's video calls on a labelled video the test makes (tests/videos.py):
hard cuts to the frame (none in the dissolve, the fade, the flash or the fast pan), black runs
and colour bars within a frame, faces found and tracked into one person each, also across
non-adjacent shots, matched against a collection; the Start*/Get* calls through boto3's client."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pyarrow.dataset as ds
import pytest
from PIL import Image

from facelake.models.tracking import iou
from facelake.pipelines import video
from facelake.schemas.botocore_model import validate_response

from videos import make_video, photos_with_faces, standard_plan

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


@pytest.fixture(scope="module")
def labelled(tmp_path_factory, insightface_images):
    """The standard test video at 640x360: A = the astronaut; B, C, D = three people of
    insightface's group photo, each cropped from it."""
    from facelake.models.analyzer import FaceAnalyzer
    from facelake.models.images import decode

    work = tmp_path_factory.mktemp("video")
    files = {"A": [SAMPLES / "astronaut.jpg"]}
    group = decode(insightface_images["t1.jpg"])
    for who, face in zip("BCD", FaceAnalyzer().analyze(group, embed=False)[:3]):
        x1, y1, x2, y2 = face.box
        w, h = x2 - x1, y2 - y1
        crop = Image.fromarray(group.rgb).crop((int(max(0, x1 - w)), int(max(0, y1 - h)), int(x2 + w), int(y2 + h)))
        files[who] = [work / f"{who}.png"]
        crop.resize((crop.width * 2, crop.height * 2)).save(files[who][0])
    photos = photos_with_faces(files)
    assert sorted(photos) == ["A", "B", "C", "D"]
    path = work / "standard.mp4"
    labels = make_video(path, standard_plan(photos), size=(640, 360))
    return path, json.loads(Path(f"{path}.json").read_text()), files


def rows(out: Path, table: str) -> list[dict]:
    return ds.dataset(out / table).to_table().to_pylist()


def segments_by_kind(segments):
    cuts = sorted(s["start_frame_number"] for s in segments if s["type"] == "SHOT" and s["shot_index"] > 0)
    cues = {kind: sorted([s["start_frame_number"], s["end_frame_number"]] for s in segments
                         if s["technical_cue_type"] == kind) for kind in ("BlackFrames", "ColorBars", "Content")}
    return cuts, cues


def test_video_job_finds_cuts_cues_faces_and_persons(labelled, tmp_path):
    path, labels, _ = labelled
    out = tmp_path / "out"
    summary = video.run([str(path), "--output", str(out), "--range-frames", "150", "--no-progress"],
                        stream=open(os.devnull, "w"))
    assert summary["reconciled"] and summary["videos"] == 1 and summary["frames_decoded"] == labels["frames"]
    (v,) = rows(out, "videos")
    assert (v["frame_count"], v["frame_width"], v["frame_height"], v["codec"]) == (labels["frames"], 640, 360, "h264")
    segments = rows(out, "segments")
    cuts, cues = segments_by_kind(segments)
    assert cuts == labels["cuts"]  # exact: none in the dissolve, the fade, the flash or the fast pan
    for kind, truth in (("BlackFrames", labels["black"]), ("ColorBars", labels["bars"])):
        assert len(cues[kind]) == len(truth)
        assert all(abs(a - c) <= 1 and abs(b - d) <= 1 for (a, b), (c, d) in zip(cues[kind], truth)), kind
    assert all(";" in s["start_timecode_smpte"] for s in segments)  # 29.97 fps: drop-frame timecodes

    faces = rows(out, "video_faces")
    assert all(f["face_occluded"] is None and f["eye_direction"] is None for f in faces)
    by_frame = {}
    for f in faces:
        bb = f["bounding_box"]
        by_frame.setdefault(f["frame_number"], []).append(
            (f["person_index"], (bb["left"], bb["top"], bb["left"] + bb["width"], bb["top"] + bb["height"])))
    found = missed = 0
    person_of: dict[str, set[int]] = {}
    for n in sorted(by_frame | {int(k): None for k in labels["faces"]}):
        if n not in by_frame and n % 6:  # not an analysed frame (5 of 29.97 per second)
            continue
        for who, *box in labels["faces"].get(str(n), []):
            best = max(by_frame.get(n, []), key=lambda d: iou(box, d[1]), default=None)
            if best and iou(box, best[1]) >= 0.5:
                found += 1
                person_of.setdefault(who, set()).add(best[0])
            else:
                missed += 1
    assert found / (found + missed) >= 0.98, (found, missed)
    # one person each, A and B across non-adjacent shots, four different people
    assert all(len(p) == 1 for p in person_of.values()), person_of
    assert len({next(iter(p)) for p in person_of.values()}) == 4


def test_frame_ranges_and_workers_do_not_change_the_segments(labelled, tmp_path):
    path, labels, _ = labelled
    quiet = open(os.devnull, "w")
    one = video.run([str(path), "--output", str(tmp_path / "one"), "--segments", "SHOT,TECHNICAL_CUE",
                     "--no-progress"], stream=quiet)
    many = video.run([str(path), "--output", str(tmp_path / "many"), "--segments", "SHOT,TECHNICAL_CUE",
                      "--range-frames", "64", "--workers", "2", "--no-progress"], stream=quiet)
    assert one["video_faces"] == many["video_faces"] == 0
    strip = lambda rs: sorted((json.dumps({k: v for k, v in r.items() if k != "run_id"}, sort_keys=True) for r in rs))  # noqa: E731
    assert strip(rows(tmp_path / "one", "segments")) == strip(rows(tmp_path / "many", "segments"))
    assert segments_by_kind(rows(tmp_path / "many", "segments"))[0] == labels["cuts"]


def wait(get, job_id: str, timeout: float = 240) -> dict:
    deadline = time.time() + timeout
    while True:
        resp = get(JobId=job_id)
        if resp["JobStatus"] != "IN_PROGRESS" or time.time() > deadline:
            return resp
        time.sleep(1)


def test_start_and_get_calls_through_boto3(labelled, s3_server, tmp_path):
    import facelake

    path, labels, files = labelled
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="videos")
    s3.upload_file(str(path), "videos", "standard.mp4")
    s3.put_object(Bucket="videos", Key="notes.mp4", Body=b"not a video\n" * 100)
    store = str(tmp_path / "store")
    client = facelake.client(store=store)
    client.create_collection(CollectionId="people")
    identity = {}
    for who, (f,) in files.items():
        resp = client.index_faces(CollectionId="people", Image={"Bytes": f.read_bytes()}, ExternalImageId=who,
                                  MaxFaces=1)
        identity[resp["FaceRecords"][0]["Face"]["FaceId"]] = who
    video_param = {"S3Object": {"Bucket": "videos", "Name": "standard.mp4"}}

    # a job started by a process that exits at once runs on, and is read from here
    code = ("import facelake, sys; c = facelake.client(store=sys.argv[1]); print(c.start_segment_detection("
            "Video={'S3Object': {'Bucket': 'videos', 'Name': 'standard.mp4'}}, SegmentTypes=['TECHNICAL_CUE', 'SHOT'],"
            " JobTag='nightly')['JobId'])")
    started = subprocess.run([sys.executable, "-c", code, store], capture_output=True, text=True, timeout=120)
    segment_job = started.stdout.strip().splitlines()[-1]
    search = client.start_face_search(Video=video_param, CollectionId="people", ClientRequestToken="search-1")
    again = client.start_face_search(Video=video_param, CollectionId="people", ClientRequestToken="search-1")
    assert again["JobId"] == search["JobId"]
    bad = client.start_face_detection(Video={"S3Object": {"Bucket": "videos", "Name": "notes.mp4"}})
    with pytest.raises(client.exceptions.InvalidS3ObjectException):
        client.start_face_detection(Video={"S3Object": {"Bucket": "videos", "Name": "missing.mp4"}})
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.start_face_search(Video=video_param, CollectionId="nobody")

    resp = wait(client.get_segment_detection, segment_job)
    assert resp["JobStatus"] == "SUCCEEDED", resp.get("StatusMessage")
    validate_response("GetSegmentDetection", resp)
    assert resp["JobTag"] == "nightly" and resp["Video"] == video_param
    assert [s["Type"] for s in resp["SelectedSegmentTypes"]] == ["TECHNICAL_CUE", "SHOT"]
    kinds = [s["Type"] for s in resp["Segments"]]
    assert kinds == sorted(kinds, key=["TECHNICAL_CUE", "SHOT"].index)  # in the order asked for
    cuts = [s["StartFrameNumber"] for s in resp["Segments"] if s["Type"] == "SHOT"][1:]
    assert cuts == labels["cuts"]
    assert resp["VideoMetadata"][0]["FrameWidth"] == 640

    resp = wait(client.get_face_search, search["JobId"])
    assert resp["JobStatus"] == "SUCCEEDED", resp.get("StatusMessage")
    pages = [client.get_face_search(JobId=search["JobId"], SortBy="INDEX", MaxResults=50)]
    while "NextToken" in pages[-1]:
        pages.append(client.get_face_search(JobId=search["JobId"], SortBy="INDEX", MaxResults=50,
                                            NextToken=pages[-1]["NextToken"]))
    for page in pages:
        validate_response("GetFaceSearch", page)
    persons = [p for page in pages for p in page["Persons"]]
    assert len(pages) > 1 and [p["Person"]["Index"] for p in persons] == sorted(p["Person"]["Index"] for p in persons)
    matched: dict[int, set[str]] = {}
    for p in persons:
        matched.setdefault(p["Person"]["Index"], set()).update(identity[m["Face"]["FaceId"]] for m in p["FaceMatches"])
    # four people matched, each to one collection face, a different one (a ghost face of the
    # dissolve, if found, is a person of its own that matches nobody)
    found = [m for m in matched.values() if m]
    assert sorted(len(m) for m in found) == [1, 1, 1, 1] and len(set().union(*found)) == 4

    resp = wait(client.get_face_detection, bad["JobId"])
    assert resp["JobStatus"] == "FAILED" and "InvalidVideoFormatException" in resp["StatusMessage"]
    validate_response("GetFaceDetection", resp)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_face_detection(JobId=search["JobId"])  # a face search job is not a face detection job
