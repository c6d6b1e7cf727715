"""Rekognition's operations on face collections: create/describe/list/delete collections, and
index, list, delete and search their faces (users: facelake.users). Shapes and errors are Rekognition's; storage is
facelake.store's CollectionStore."""

from __future__ import annotations

import base64
import hashlib
import json

from facelake.schemas import errors
from facelake.schemas.collections import collection_face_id, face_from_row, image_uuid
from facelake.schemas.rekognition import (
    QUALITY_BARS, bounding_box, distance_for_similarity, face_detail, parse_attributes, quality_reasons,
    requested_attributes, similarity)

from .context import Context, operation
from .faces import image, largest_face


def page_token(offset: int, scope: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"c": scope, "o": offset}).encode()).decode()


def page_offset(token: str | None, scope: str) -> int:
    """The offset a NextToken of ours stands for (``scope``: what it pages through)."""
    if token is None:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if data["c"] != scope or not isinstance(data["o"], int) or data["o"] < 0:
            raise ValueError
        return data["o"]
    except Exception:
        raise errors.InvalidPaginationTokenException("NextToken is not one this listing returned") from None


def arn(collection_id: str) -> str:
    return f"arn:facelake:rekognition:local:000000000000:collection/{collection_id}"


def existing(ctx: Context, collection_id: str) -> str:
    if not ctx.store.exists(collection_id):
        raise errors.ResourceNotFoundException(f"collection {collection_id} does not exist")
    return collection_id


@operation("CreateCollection", changes=True)
def create_collection(ctx: Context, *, CollectionId: str, Tags: dict | None = None) -> dict:
    if ctx.store.exists(CollectionId):
        raise errors.ResourceAlreadyExistsException(f"collection {CollectionId} already exists")
    ctx.store.create(CollectionId, ctx.face_model_version)
    return {"StatusCode": 200, "CollectionArn": arn(CollectionId), "FaceModelVersion": ctx.face_model_version}


@operation("DescribeCollection")
def describe_collection(ctx: Context, *, CollectionId: str) -> dict:
    info = ctx.store.info(existing(ctx, CollectionId))
    out = {"FaceCount": info["face_count"], "FaceModelVersion": info["face_model_version"],
           "CollectionARN": arn(CollectionId), "UserCount": ctx.store.users(CollectionId).count()}
    if info["created_at"] is not None:
        out["CreationTimestamp"] = info["created_at"]
    return out


@operation("ListCollections")
def list_collections(ctx: Context, *, NextToken: str | None = None, MaxResults: int = 1000) -> dict:
    offset = page_offset(NextToken, "")
    rows = ctx.store.collections()
    page = rows[offset:offset + MaxResults]
    out = {"CollectionIds": [c for c, _ in page], "FaceModelVersions": [v for _, v in page]}
    if offset + MaxResults < len(rows):
        out["NextToken"] = page_token(offset + MaxResults, "")
    return out


@operation("DeleteCollection", changes=True)
def delete_collection(ctx: Context, *, CollectionId: str) -> dict:
    ctx.store.drop(existing(ctx, CollectionId))
    return {"StatusCode": 200}


@operation("IndexFaces", changes=True)
def index_faces(ctx: Context, *, CollectionId: str, Image: dict, ExternalImageId: str | None = None,
                DetectionAttributes: list[str] | None = None, MaxFaces: int | None = None,
                QualityFilter: str = "AUTO") -> dict:
    cid = existing(ctx, CollectionId)
    attrs = parse_attributes(DetectionAttributes)
    data, img = image(ctx, Image)
    sha = hashlib.sha256(data).hexdigest()
    faces = ctx.analyzer.analyze(img, attributes=requested_attributes(attrs))
    version = ctx.face_model_version
    records, unindexed, rows = [], [], []
    for i, face in enumerate(faces):
        detail = face_detail(face, img.width, img.height, attrs)
        reasons = quality_reasons(face.confidence, face.quality["Sharpness"], face.quality["Brightness"], QualityFilter)
        if not reasons and MaxFaces is not None and len(rows) >= MaxFaces:
            reasons = ["EXCEEDS_MAX_FACES"]
        if reasons:
            unindexed.append({"Reasons": reasons, "FaceDetail": detail})
            continue
        bb = bounding_box(face.box, img.width, img.height)
        row = {"face_id": collection_face_id(cid, sha, ExternalImageId, i, version),
               "image_id": image_uuid(sha, ExternalImageId), "content_sha256": sha,
               "external_image_id": ExternalImageId, "source_uri": None, "user_id": None,
               "bounding_box": {k.lower(): v for k, v in bb.items()}, "confidence": face.confidence,
               "model_version": version, "vector": [float(v) for v in face.embedding],
               "captured_at": img.captured_at}
        rows.append(row)
        records.append({"Face": face_from_row(row), "FaceDetail": detail})
    ctx.store.add(cid, rows)  # faces already there (same image, same ExternalImageId) are not added twice
    out = {"FaceRecords": records, "FaceModelVersion": version, "UnindexedFaces": unindexed}
    if img.orientation_correction:
        out["OrientationCorrection"] = img.orientation_correction
    return out


@operation("ListFaces")
def list_faces(ctx: Context, *, CollectionId: str, NextToken: str | None = None, MaxResults: int = 1000,
               UserId: str | None = None, FaceIds: list[str] | None = None) -> dict:
    cid = existing(ctx, CollectionId)
    offset = page_offset(NextToken, cid)
    rows, more = ctx.store.page(cid, offset, MaxResults, UserId, FaceIds)
    out = {"Faces": [face_from_row(r) for r in rows], "FaceModelVersion": ctx.face_model_version}
    if more:
        out["NextToken"] = page_token(offset + MaxResults, cid)
    return out


@operation("DeleteFaces", changes=True)
def delete_faces(ctx: Context, *, CollectionId: str, FaceIds: list[str]) -> dict:
    cid = existing(ctx, CollectionId)
    asked = list(dict.fromkeys(FaceIds))
    users = ctx.store.users(cid)
    with users.lock:
        owned = {f: u for f, u in users.face_owners(asked).items() if u}  # as Rekognition: disassociate first
        deleted = set(ctx.store.remove(cid, [f for f in asked if f not in owned]))
    failed = [{"FaceId": f, "UserId": owned[f], "Reasons": ["ASSOCIATED_TO_AN_EXISTING_USER"]} if f in owned
              else {"FaceId": f, "Reasons": ["FACE_NOT_FOUND"]} for f in asked if f not in deleted]
    return {"DeletedFaces": [f for f in asked if f in deleted], "UnsuccessfulFaceDeletions": failed}


def matches(ctx: Context, cid: str, vector, max_faces: int, threshold: float, exclude: str | None = None) -> list[dict]:
    """FaceMatches: the collection's faces at or above ``threshold`` similarity, best first."""
    hits = ctx.store.nearest(cid, vector, max_faces, distance_for_similarity(threshold), exclude)
    return [{"Similarity": similarity(d), "Face": face_from_row(row)} for row, d in hits if similarity(d) >= threshold]


@operation("SearchFaces")
def search_faces(ctx: Context, *, CollectionId: str, FaceId: str, MaxFaces: int = 4096,
                 FaceMatchThreshold: float = 80.0) -> dict:
    cid = existing(ctx, CollectionId)
    found = ctx.store.get(cid, [FaceId])
    if not found:
        raise errors.InvalidParameterException(f"face {FaceId} is not in collection {cid}")
    return {"SearchedFaceId": FaceId, "FaceModelVersion": ctx.face_model_version,
            "FaceMatches": matches(ctx, cid, found[0]["vector"], MaxFaces, FaceMatchThreshold, exclude=FaceId)}


@operation("SearchFacesByImage")
def search_faces_by_image(ctx: Context, *, CollectionId: str, Image: dict, MaxFaces: int = 4096,
                          FaceMatchThreshold: float = 80.0, QualityFilter: str = "NONE") -> dict:
    cid = existing(ctx, CollectionId)
    _, img = image(ctx, Image)
    face = largest_face(ctx, img, QUALITY_BARS[QualityFilter], "the image")
    return {"SearchedFaceBoundingBox": bounding_box(face.box, img.width, img.height),
            "SearchedFaceConfidence": face.confidence, "FaceModelVersion": ctx.face_model_version,
            "FaceMatches": matches(ctx, cid, face.embedding, MaxFaces, FaceMatchThreshold)}
