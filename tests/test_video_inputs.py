"""The video job on bad and unusual files: every input ends in exactly one videos or errors row,
with a clear reason, and nothing hangs or stops the run. Also SMPTE timecodes and shapes."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pyarrow.dataset as ds
import pytest

from facelake.pipelines import video
from facelake.schemas.botocore_model import service_model, validate
from facelake.schemas.video import segment, segment_detection, timecode

RATE = Fraction(30000, 1001)


def clip(path: Path, frames: int = 40, size=(320, 240), rate=RATE, rotation: int = 0, pts=None,
         faststart: bool = False, time_base: Fraction | None = None) -> Path:
    """A small H.264 MP4 of moving gradients (``pts``: explicit timestamps, for odd timings)."""
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", format="mp4", options=options) as out:
        s = out.add_stream("libx264", rate=rate)
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        if time_base:
            s.time_base = time_base
        if rotation:
            s.set_display_rotation(rotation)
        yy, xx = np.mgrid[0:size[1], 0:size[0]]
        for i in range(frames):
            img = np.stack([(xx + 3 * i) % 256, (yy + 2 * i) % 256, np.full_like(xx, 128)], -1).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[i], s.time_base
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        s = out.add_stream("aac", rate=44100)
        for i in range(20):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 44100, i * 1024
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def rows(out: Path, table: str) -> list[dict]:
    return ds.dataset(out / table).to_table().to_pylist()


def test_bad_and_unusual_videos_each_end_in_one_row(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    good = clip(src / "good.mp4")
    (src / "empty.mp4").write_bytes(b"")
    (src / "notes.mp4").write_text("not a video at all\n" * 100)
    audio_only(src / "song.m4a")
    whole = clip(tmp_path / "whole.mp4", frames=120).read_bytes()
    (src / "truncated.mp4").write_bytes(whole[: len(whole) // 2])  # moov at the end: unreadable
    streamable = clip(tmp_path / "streamable.mp4", frames=120, faststart=True).read_bytes()
    (src / "truncated-faststart.mp4").write_bytes(streamable[: len(streamable) // 2])  # half the frames
    (src / "clip.jpg").write_bytes(good.read_bytes()[:-1] + b"\0")  # a video named as a photo
    clip(src / "rotated.mp4", rotation=90)
    # variable frame rate: gaps of 1, 2 and 3 frame durations (time base 1/30000)
    clip(src / "vfr.mp4", frames=30, pts=[1001 * (i + i // 10) for i in range(30)], time_base=Fraction(1, 30000))
    clip(src / "seven-hours.mp4", frames=3, pts=[0, 1001, 7 * 3600 * 30000], time_base=Fraction(1, 30000))
    os.mkfifo(src / "pipe.mp4")

    summary = video.run([str(src), str(tmp_path / "missing"), "--output", str(tmp_path / "out"), "--no-progress",
                         "--segments", "SHOT,TECHNICAL_CUE"], stream=open(os.devnull, "w"))
    assert summary["reconciled"] and summary["inputs"] == 12
    videos = {Path(r["uri"]).name: r for r in rows(tmp_path / "out", "videos")}
    errors = {Path(r["uri"]).name: r for r in rows(tmp_path / "out", "errors")}
    assert not set(videos) & set(errors) and len(videos) + len(errors) == 12
    assert set(videos) == {"good.mp4", "clip.jpg", "rotated.mp4", "vfr.mp4"}
    reasons = {name: (r["reason"], r["message"]) for name, r in errors.items()}
    assert reasons["empty.mp4"][0] == "InvalidVideoFormatException" and "empty" in reasons["empty.mp4"][1]
    assert reasons["notes.mp4"][0] == "InvalidVideoFormatException"
    assert "audio only" in reasons["song.m4a"][1]
    assert reasons["truncated.mp4"][0] == "InvalidVideoFormatException"
    assert "truncated" in reasons["truncated-faststart.mp4"][1]
    assert reasons["seven-hours.mp4"][0] == "VideoTooLargeException"
    assert reasons["pipe.mp4"][0] == "InvalidParameterException" and "pipe" in reasons["pipe.mp4"][1]
    assert reasons["missing"][0] == "NotFound"
    assert videos["good.mp4"]["frame_count"] == 40 and videos["good.mp4"]["codec"] == "h264"
    assert (videos["rotated.mp4"]["rotation"], videos["rotated.mp4"]["frame_width"],
            videos["rotated.mp4"]["frame_height"]) == (90, 240, 320)
    assert videos["vfr.mp4"]["frame_count"] <= 40
    segments = [r for r in rows(tmp_path / "out", "segments") if r["uri"].endswith("good.mp4")]
    assert [r["type"] for r in segments].count("SHOT") == 1  # a moving gradient: no cut


def test_smpte_timecodes_drop_frame_and_shapes():
    assert [timecode(f, RATE) for f in (0, 1799, 1800, 17982, 107892)] == [
        "00:00:00;00", "00:00:59;29", "00:01:00;02", "00:10:00;00", "01:00:00;00"]
    assert timecode(3598, RATE) == "00:02:00;02"  # minute 1 holds 1798 frames
    assert timecode(3600, Fraction(60000, 1001)) == "00:01:00;04"
    assert timecode(1500, Fraction(25)) == "00:01:00:00" and timecode(29, Fraction(30)) == "00:00:00:29"
    row = segment("TECHNICAL_CUE", 1800, 1829, RATE, 99.5, cue="BlackFrames")
    assert (row["start_timestamp_millis"], row["end_timestamp_millis"], row["duration_frames"]) == (60060, 61027, 30)
    shape = service_model().shape_for("SegmentDetection")
    validate(segment_detection(row), shape)
    validate(segment_detection(segment("SHOT", 0, 9, RATE, 100.0, shot_index=0)), shape)
    with pytest.raises(ValueError):
        validate({**segment_detection(row), "Extra": 1}, shape)


def test_one_video_commands_print_the_response_and_draw(tmp_path):
    import json
    import subprocess
    import sys

    path = clip(tmp_path / "clip.mp4", frames=30)
    env = {**os.environ, "FACELAKE_STORE": str(tmp_path / "store")}
    run = lambda *a: subprocess.run([sys.executable, "-m", "facelake.cli", *a], capture_output=True, text=True,  # noqa: E731
                                    env=env, timeout=300)
    done = run("detect-segments", str(path), "--draw", str(tmp_path / "drawn.mp4"))
    assert done.returncode == 0, done.stderr
    resp = json.loads(done.stdout)
    assert resp["JobStatus"] == "SUCCEEDED" and [s["Type"] for s in resp["Segments"]] == ["SHOT", "TECHNICAL_CUE"]
    with av.open(str(tmp_path / "drawn.mp4")) as drawn:
        assert sum(1 for _ in drawn.decode(video=0)) == 30
    (tmp_path / "bad.mp4").write_text("no video here")
    failed = run("detect-video-faces", str(tmp_path / "bad.mp4"))
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.count("\n") == 1 and "InvalidVideoFormatException" in failed.stderr, failed.stderr
