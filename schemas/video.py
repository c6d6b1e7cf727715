"""Video shapes: SMPTE timecodes, Rekognition's VideoMetadata, SegmentDetection and the face and
person entries of GetFaceDetection / GetFaceSearch, and the rows of the video tables.

Frame-number conventions (Rekognition's): frames are numbered from 0; a segment's end is its
last frame, inclusive; timestamps are milliseconds from the start, rounded down.
"""

from __future__ import annotations

from fractions import Fraction

from .tables import MODEL_SLOTS, face_detail_columns

DROP_FRAME_RATES = (Fraction(30000, 1001), Fraction(60000, 1001))


def millis(frame: int, rate: Fraction) -> int:
    """The time of a frame in ms from the start, rounded down."""
    return int(frame * 1000 // rate)


def timecode(frame: int, rate: Fraction) -> str:
    """SMPTE timecode of a 0-based frame number: ``HH:MM:SS:FF``, or ``HH:MM:SS;FF`` with
    drop-frame counting at 29.97 and 59.94 fps (frame labels 0 and 1, or 0-3 at 59.94, are
    skipped at the start of every minute that is not a multiple of ten)."""
    nominal = round(rate)
    if rate in DROP_FRAME_RATES:
        drop = nominal // 15  # 2 at 29.97, 4 at 59.94
        per_minute = nominal * 60 - drop
        per_ten = per_minute * 10 + drop
        tens, rest = divmod(frame, per_ten)
        frame += 9 * drop * tens + (drop * ((rest - drop) // per_minute) if rest > drop else 0)
        sep = ";"
    else:
        sep = ":"
    ff = frame % nominal
    seconds = frame // nominal
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}{sep}{ff:02d}"


def video_metadata(row: dict) -> dict:
    """Rekognition's VideoMetadata from a videos-table row."""
    return {"Codec": row["codec"], "DurationMillis": row["duration_millis"], "Format": row["format"],
            "FrameRate": row["frame_rate"], "FrameHeight": row["frame_height"], "FrameWidth": row["frame_width"],
            "ColorRange": row["color_range"]}


def audio_metadata(row: dict) -> list[dict]:
    return [{"Codec": a["codec"], "DurationMillis": a["duration_millis"], "SampleRate": a["sample_rate"],
             "NumberOfChannels": a["number_of_channels"]} for a in row.get("audio") or []]


def segment(kind: str, start: int, end: int, rate: Fraction, confidence: float, *, cue: str | None = None,
            shot_index: int | None = None) -> dict:
    """A segments-table row for frames ``start``..``end`` (inclusive) of a video at ``rate``."""
    frames = end - start + 1
    return {"type": kind, "technical_cue_type": cue, "shot_index": shot_index, "confidence": round(confidence, 3),
            "start_timestamp_millis": millis(start, rate), "end_timestamp_millis": millis(end, rate),
            "duration_millis": millis(frames, rate), "start_timecode_smpte": timecode(start, rate),
            "end_timecode_smpte": timecode(end, rate), "duration_smpte": timecode(frames, rate),
            "start_frame_number": start, "end_frame_number": end, "duration_frames": frames}


def segment_detection(row: dict) -> dict:
    """Rekognition's SegmentDetection from a segments-table row."""
    out = {"Type": row["type"], "StartTimestampMillis": row["start_timestamp_millis"],
           "EndTimestampMillis": row["end_timestamp_millis"], "DurationMillis": row["duration_millis"],
           "StartTimecodeSMPTE": row["start_timecode_smpte"], "EndTimecodeSMPTE": row["end_timecode_smpte"],
           "DurationSMPTE": row["duration_smpte"], "StartFrameNumber": row["start_frame_number"],
           "EndFrameNumber": row["end_frame_number"], "DurationFrames": row["duration_frames"]}
    if row["type"] == "SHOT":
        out["ShotSegment"] = {"Index": row["shot_index"], "Confidence": row["confidence"]}
    else:
        out["TechnicalCueSegment"] = {"Type": row["technical_cue_type"], "Confidence": row["confidence"]}
    return out




def video_face_row(detail: dict, *, video_id: str, uri: str, frame: int, rate: Fraction, person_index: int,
                   embedding, run_id: str, model_versions: dict) -> dict:
    """A video_faces row from a FaceDetail (its columns as in the faces table)."""
    return {"video_id": video_id, "uri": uri, "timestamp": millis(frame, rate), "frame_number": frame,
            "person_index": person_index, **face_detail_columns(detail),
            "face_occluded": None, "eye_direction": None,  # as Rekognition Video returns them
            "embedding": None if embedding is None else [float(v) for v in embedding], "run_id": run_id,
            "model_versions": {k: model_versions.get(k) for k in MODEL_SLOTS}}


def video_row(info, *, video_id: str, uri: str, size_bytes: int, frame_count: int, analysed_frames: int,
              face_count: int, person_count: int, run_id: str, model_versions: dict) -> dict:
    """A videos-table row from a facelake.models.video.VideoInfo (``frame_count``: the frames
    that decoded)."""
    return {"video_id": video_id, "uri": uri, "codec": info.codec, "duration_millis": info.duration_millis,
            "format": info.format, "frame_rate": float(info.rate), "frame_height": info.height,
            "frame_width": info.width, "color_range": info.color_range, "frame_count": frame_count,
            "rotation": info.rotation, "audio": list(info.audio), "size_bytes": size_bytes,
            "analysed_frames": analysed_frames, "face_count": face_count, "person_count": person_count,
            "run_id": run_id, "model_versions": {k: model_versions.get(k) for k in MODEL_SLOTS}}
