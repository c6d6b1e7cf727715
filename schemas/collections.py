"""Face collections: the LanceDB table of a collection, id rules, and Rekognition's Face shape."""

from __future__ import annotations

import re

import pyarrow as pa

from .tables import CAPTURED_AT, EMBEDDING_DIM, stable_uuid


COLLECTION_FACES = pa.schema([
    ("face_id", pa.string()),
    ("image_id", pa.string()),  # UUID from the image's content and ExternalImageId
    ("content_sha256", pa.string()),  # sha256 of the image bytes
    ("external_image_id", pa.string()),
    ("source_uri", pa.string()),  # where the image was read from, for faces indexed in bulk
    ("user_id", pa.string()),
    ("bounding_box", pa.struct([("width", pa.float32()), ("height", pa.float32()),
                                ("left", pa.float32()), ("top", pa.float32())])),
    ("confidence", pa.float32()),
    ("model_version", pa.string()),
    ("vector", pa.list_(pa.float32(), EMBEDDING_DIM)),
    ("captured_at", CAPTURED_AT),  # when its photo was taken (EXIF), null when unknown; added to older tables on open
])

# the users of a collection (CreateUser, or the persons ``facelake group`` makes); ``vector``:
# the mean of its faces' descriptors (null while it has none), what SearchUsers compares
USERS = pa.schema([
    ("user_id", pa.string()),
    ("origin", pa.string()),  # "hand" (CreateUser) or "auto" (facelake group)
    ("created_at", pa.timestamp("ms", tz="UTC")),
    ("face_count", pa.int32()),
    ("vector", pa.list_(pa.float32(), EMBEDDING_DIM)),
])

# face-user changes made by hand (AssociateFaces / DisassociateFaces): what grouping never undoes
USER_EDITS = pa.schema([
    ("face_id", pa.string()),
    ("user_id", pa.string()),
    ("action", pa.string()),  # "associate" or "disassociate"
    ("at", pa.timestamp("ms", tz="UTC")),
])

# the faces the last ``facelake group`` run left to no one (Rekognition's anonymous user): the
# next incremental run groups only faces that are neither owned nor listed here (new faces)
UNASSIGNED = pa.schema([("face_id", pa.string())])

# answers to requests that carried a ClientRequestToken, so a repeated request is answered the same
REQUESTS = pa.schema([
    ("key", pa.string()),  # operation, collection and token
    ("params_sha256", pa.string()),
    ("response", pa.string()),  # JSON
    ("at", pa.timestamp("ms", tz="UTC")),
])

COLLECTIONS = pa.schema([
    ("collection_id", pa.string()),
    ("face_model_version", pa.string()),
    ("created_at", pa.timestamp("ms", tz="UTC")),
])


def external_image_id_for(uri: str) -> str:
    """The ExternalImageId bulk indexing gives a file: its name, with characters Rekognition's
    pattern (letters, digits and "_.-:", at most 255) forbids replaced by '_' (the full URI is kept in
    source_uri); tests check the result against the service model."""
    name = uri.rstrip("/").rsplit("/", 1)[-1] or "image"
    return re.sub(r"[^a-zA-Z0-9_.\-:]", "_", name)[:255]


def image_uuid(content_sha256: str, external_image_id: str | None) -> str:
    return stable_uuid(f"image:{content_sha256}:{external_image_id or ''}")


def collection_face_id(collection_id: str, content_sha256: str, external_image_id: str | None,
                       face_index: int, model_version: str) -> str:
    """The same image with the same ExternalImageId indexed again gives the same FaceId, so
    re-indexing adds nothing (as Rekognition documents)."""
    return stable_uuid(f"face:{collection_id}:{content_sha256}:{external_image_id or ''}:{face_index}:{model_version}")


# the columns face_from_row reads (a search reads only these: each column costs a read per face found)
FACE_COLUMNS = ["face_id", "bounding_box", "image_id", "confidence", "model_version", "external_image_id", "user_id"]


def face_from_row(row: dict) -> dict:
    """Rekognition's Face for a stored face."""
    bb = row["bounding_box"]
    face = {"FaceId": row["face_id"],
            "BoundingBox": {"Width": float(bb["width"]), "Height": float(bb["height"]),
                            "Left": float(bb["left"]), "Top": float(bb["top"])},
            "ImageId": row["image_id"], "Confidence": float(row["confidence"]),
            "IndexFacesModelVersion": row["model_version"]}
    if row.get("external_image_id"):
        face["ExternalImageId"] = row["external_image_id"]
    if row.get("user_id"):
        face["UserId"] = row["user_id"]
    return face
