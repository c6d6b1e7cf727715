"""pyarrow schemas of every table (images, faces, errors; the search jobs' and the video job's)
and the row <-> Rekognition mapping of the photo tables (the video shapes: schemas.video).

Column names are Rekognition's in snake_case; a faces row holds every FaceDetail member as a
typed column (structs for nested members, null where the attribute was not computed), so
``face_detail_from_row(face_row(detail, ...))`` gives the FaceDetail back unchanged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid

import pyarrow as pa

# every model slot (models/manifest.json); a row's model_versions holds the version of each slot
# that made it (null for slots that did not run). FaceIds derive from the ID_SLOTS only: the
# models that find, place and describe a face, not those of its attributes.
MODEL_SLOTS = ("detector", "mesh", "shape5", "embedder", "age", "gender", "emotion", "iris", "accessories")
ID_SLOTS = ("detector", "mesh", "shape5", "embedder")
MODEL_VERSIONS = pa.struct([(slot, pa.string()) for slot in MODEL_SLOTS])
EMBEDDING_DIM = 128

_bool_attr = pa.struct([("value", pa.bool_()), ("confidence", pa.float32())])

# when the photo was taken (EXIF DateTimeOriginal, in UTC: models.images.capture_time), null when unknown
CAPTURED_AT = pa.timestamp("ms", tz="UTC")

IMAGES = pa.schema([
    ("image_id", pa.string()),  # sha256 of the file's bytes
    ("uri", pa.string()),
    ("width", pa.int32()),  # after EXIF orientation
    ("height", pa.int32()),
    ("format", pa.string()),
    ("orientation_correction", pa.string()),  # ROTATE_0/90/180/270, null without EXIF orientation
    ("captured_at", CAPTURED_AT),
    ("size_bytes", pa.int64()),
    ("face_count", pa.int32()),
    ("run_id", pa.string()),
    ("model_versions", MODEL_VERSIONS),
])

FACES = pa.schema([
    ("face_id", pa.string()),  # UUID derived from image_id, face index and model versions
    ("image_id", pa.string()),
    ("uri", pa.string()),
    ("face_index", pa.int32()),  # 0 = the largest face of the image
    ("bounding_box", pa.struct([("width", pa.float32()), ("height", pa.float32()),
                                ("left", pa.float32()), ("top", pa.float32())])),
    ("age_range", pa.struct([("low", pa.int32()), ("high", pa.int32())])),
    ("smile", _bool_attr),
    ("eyeglasses", _bool_attr),
    ("sunglasses", _bool_attr),
    ("gender", pa.struct([("value", pa.string()), ("confidence", pa.float32())])),
    ("beard", _bool_attr),
    ("mustache", _bool_attr),
    ("eyes_open", _bool_attr),
    ("mouth_open", _bool_attr),
    ("emotions", pa.list_(pa.struct([("type", pa.string()), ("confidence", pa.float32())]))),
    ("landmarks", pa.list_(pa.struct([("type", pa.string()), ("x", pa.float32()), ("y", pa.float32())]))),
    ("pose", pa.struct([("roll", pa.float32()), ("yaw", pa.float32()), ("pitch", pa.float32())])),
    ("quality", pa.struct([("brightness", pa.float32()), ("sharpness", pa.float32())])),
    ("confidence", pa.float32()),
    ("face_occluded", _bool_attr),
    ("eye_direction", pa.struct([("yaw", pa.float32()), ("pitch", pa.float32()), ("confidence", pa.float32())])),
    ("embedding", pa.list_(pa.float32(), EMBEDDING_DIM)),
    ("captured_at", CAPTURED_AT),  # the image's, so a face can be dated without a join
    ("run_id", pa.string()),
    ("model_versions", MODEL_VERSIONS),
])

ERRORS = pa.schema([
    ("uri", pa.string()),
    ("stage", pa.string()),  # match, read, decode, analyze
    ("reason", pa.string()),  # machine-readable: Rekognition's exception name, or another code
    ("message", pa.string()),
    ("run_id", pa.string()),
])

MATCHES = pa.schema([  # facelake search: faces of a query library against a collection
    ("face_id", pa.string()),  # the query face (faces table of the same run)
    ("image_id", pa.string()),
    ("uri", pa.string()),
    ("face_index", pa.int32()),
    ("rank", pa.int32()),  # 1 = the most similar match
    ("match_face_id", pa.string()),
    ("match_external_image_id", pa.string()),
    ("match_source_uri", pa.string()),
    ("similarity", pa.float32()),
    ("distance", pa.float32()),
    ("run_id", pa.string()),
])

THUMBNAILS = pa.schema([  # --thumbnails: a small JPEG crop of each face (image bytes: only when asked)
    ("face_id", pa.string()),
    ("uri", pa.string()),
    ("jpeg", pa.binary()),
    ("run_id", pa.string()),
])

PAIRS = pa.schema([  # facelake compare-libraries: face pairs of two libraries (or one) above a threshold
    ("face_id_a", pa.string()),
    ("uri_a", pa.string()),
    ("face_id_b", pa.string()),
    ("uri_b", pa.string()),
    ("similarity", pa.float32()),
    ("distance", pa.float32()),
    ("run_id", pa.string()),
])

# --- the video job's tables (facelake video) ---------------------------------------------------------

VIDEOS = pa.schema([
    ("video_id", pa.string()),  # sha256 of the file's bytes
    ("uri", pa.string()),
    ("codec", pa.string()),
    ("duration_millis", pa.int64()),
    ("format", pa.string()),
    ("frame_rate", pa.float32()),
    ("frame_height", pa.int64()),  # as displayed (after the rotation its display matrix asks for)
    ("frame_width", pa.int64()),
    ("color_range", pa.string()),  # FULL or LIMITED
    ("frame_count", pa.int64()),
    ("rotation", pa.int32()),  # degrees, from the display matrix
    ("audio", pa.list_(pa.struct([("codec", pa.string()), ("duration_millis", pa.int64()),
                                  ("sample_rate", pa.int64()), ("number_of_channels", pa.int64())]))),
    ("size_bytes", pa.int64()),
    ("analysed_frames", pa.int64()),  # frames the face models ran on
    ("face_count", pa.int64()),  # rows of video_faces
    ("person_count", pa.int64()),
    ("run_id", pa.string()),
    ("model_versions", MODEL_VERSIONS),
])

# one row per face per analysed frame: the faces table's FaceDetail columns and embedding
_FACE_COLUMNS = [f for f in FACES if f.name not in ("face_id", "image_id", "uri", "face_index", "run_id",
                                                      "model_versions")]
VIDEO_FACES = pa.schema([
    ("video_id", pa.string()),
    ("uri", pa.string()),
    ("timestamp", pa.int64()),  # ms from the start, rounded down
    ("frame_number", pa.int64()),
    ("person_index", pa.int64()),  # one person through the whole video
    *_FACE_COLUMNS,
    ("run_id", pa.string()),
    ("model_versions", MODEL_VERSIONS),
])

VIDEO_MATCHES = pa.schema([  # --search: a person's face on one analysed frame, matched to collection faces
    ("video_id", pa.string()),
    ("uri", pa.string()),
    ("timestamp", pa.int64()),
    ("frame_number", pa.int64()),
    ("person_index", pa.int64()),
    ("collection_id", pa.string()),
    ("matches", pa.list_(pa.struct([("face_id", pa.string()), ("similarity", pa.float32())]))),
    ("run_id", pa.string()),
])

SEGMENTS = pa.schema([
    ("video_id", pa.string()),
    ("uri", pa.string()),
    ("type", pa.string()),  # SHOT or TECHNICAL_CUE
    ("technical_cue_type", pa.string()),  # BlackFrames, ColorBars, Content (TECHNICAL_CUE only)
    ("shot_index", pa.int64()),  # SHOT only, from 0
    ("confidence", pa.float32()),
    ("start_timestamp_millis", pa.int64()),
    ("end_timestamp_millis", pa.int64()),  # the last frame's time (inclusive)
    ("duration_millis", pa.int64()),
    ("start_timecode_smpte", pa.string()),
    ("end_timecode_smpte", pa.string()),
    ("duration_smpte", pa.string()),
    ("start_frame_number", pa.int64()),
    ("end_frame_number", pa.int64()),  # inclusive
    ("duration_frames", pa.int64()),
    ("run_id", pa.string()),
])

TABLES = {"images": IMAGES, "faces": FACES, "errors": ERRORS, "matches": MATCHES, "pairs": PAIRS, "thumbnails": THUMBNAILS,
          "videos": VIDEOS, "video_faces": VIDEO_FACES, "video_matches": VIDEO_MATCHES, "segments": SEGMENTS}

def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# FaceDetail member -> column (its name in snake_case). Every member of botocore's FaceDetail has a column.
FACE_DETAIL_MEMBERS = ("BoundingBox", "AgeRange", "Smile", "Eyeglasses", "Sunglasses", "Gender", "Beard", "Mustache",
                       "EyesOpen", "MouthOpen", "Emotions", "Landmarks", "Pose", "Quality", "Confidence",
                       "FaceOccluded", "EyeDirection")
FACE_DETAIL_COLUMNS = {member: snake(member) for member in FACE_DETAIL_MEMBERS}
_COLUMN_MEMBERS = {v: k for k, v in FACE_DETAIL_COLUMNS.items()}


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _to_snake(value):
    if isinstance(value, dict):
        return {snake(k): _to_snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_snake(v) for v in value]
    return value


def _to_camel(value):
    if isinstance(value, dict):
        return {camel(k): _to_camel(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist") and getattr(value, "ndim", 0) == 1:
        return [_to_camel(v) for v in value]  # lists, or numpy arrays as pandas gives them
    return value.item() if hasattr(value, "item") else value  # numpy scalars to Python


def image_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stable_uuid(key: str) -> str:
    """A UUID-shaped id that depends on ``key`` only (its sha256's first 16 bytes)."""
    return str(uuid.UUID(bytes=hashlib.sha256(key.encode()).digest()[:16]))


def face_id(image_id_: str, face_index: int, model_versions: dict[str, str | None]) -> str:
    """Deterministic, Rekognition-style FaceId: the same image and models give the same id."""
    return stable_uuid(f"{image_id_}:{face_index}:" + ",".join(f"{k}={model_versions.get(k) or ''}" for k in ID_SLOTS))


def face_row(detail: dict, *, image_id_: str, uri: str, face_index: int, embedding, run_id: str,
             model_versions: dict[str, str], captured_at: dt.datetime | None = None) -> dict:
    """A faces-table row from a Rekognition FaceDetail dict."""
    row = {col: None for col in FACES.names}
    row.update(face_detail_columns(detail))
    row.update(face_id=face_id(image_id_, face_index, model_versions), image_id=image_id_, uri=uri,
               face_index=face_index, run_id=run_id, model_versions={k: model_versions.get(k) for k in MODEL_SLOTS},
               embedding=None if embedding is None else [float(v) for v in embedding], captured_at=captured_at)
    return row


def face_detail_columns(detail: dict) -> dict:
    """Every FaceDetail column (null where the member is absent) from a FaceDetail dict."""
    return {col: _to_snake(detail[m]) if m in detail else None for m, col in FACE_DETAIL_COLUMNS.items()}


def image_row(*, image_id_: str, uri: str, width: int, height: int, format: str, orientation_correction: str | None,
              size_bytes: int, face_count: int, run_id: str, model_versions: dict[str, str | None],
              captured_at: dt.datetime | None = None) -> dict:
    """An images-table row."""
    return {"image_id": image_id_, "uri": uri, "width": width, "height": height, "format": format,
            "orientation_correction": orientation_correction, "captured_at": captured_at,
            "size_bytes": size_bytes, "face_count": face_count,
            "run_id": run_id, "model_versions": {k: model_versions.get(k) for k in MODEL_SLOTS}}


def error_row(uri: str, stage: str, reason: str, message: str, run_id: str) -> dict:
    """An errors-table row: ``reason`` is machine-readable (Rekognition's exception name where there is one)."""
    return {"uri": uri, "stage": stage, "reason": reason, "message": message, "run_id": run_id}


def match_row(face: dict, rank: int, match: dict, similarity_: float, distance: float, run_id: str) -> dict:
    """A matches-table row: a query face (a faces row) and its rank-th match (a collection row)."""
    return {"face_id": face["face_id"], "image_id": face["image_id"], "uri": face["uri"],
            "face_index": face["face_index"], "rank": rank, "match_face_id": match["face_id"],
            "match_external_image_id": match["external_image_id"], "match_source_uri": match["source_uri"],
            "similarity": similarity_, "distance": distance, "run_id": run_id}


def pair_row(face_id_a: str, uri_a: str, face_id_b: str, uri_b: str, similarity_: float, distance: float,
             run_id: str) -> dict:
    """A pairs-table row (compare-libraries)."""
    return {"face_id_a": face_id_a, "uri_a": uri_a, "face_id_b": face_id_b, "uri_b": uri_b,
            "similarity": similarity_, "distance": distance, "run_id": run_id}


def face_detail_from_row(row: dict) -> dict:
    """The Rekognition FaceDetail a faces-table row holds (members that are null are left out)."""
    detail = {}
    for col, member in _COLUMN_MEMBERS.items():
        value = row.get(col)
        if value is not None:
            detail[member] = _to_camel(value)
    return detail  # landmark types ("eyeLeft") are values, not keys: they stay as stored
