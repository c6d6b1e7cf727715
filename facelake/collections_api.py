"""Rekognition's collection calls for FaceClient: create/describe/list/delete collections,
index, list, delete and search faces. Shapes and errors are Rekognition's."""

from __future__ import annotations

import base64
import hashlib
import json

from facelake.collections import CollectionStore
from facelake.schemas import errors
from facelake.schemas.collections import (
    COLLECTION_ID, EXTERNAL_IMAGE_ID, FACE_ID, USER_ID, collection_face_id, face_from_row, image_uuid, valid_id)
from facelake.schemas.rekognition import (
    QUALITY_BARS, bounding_box, check_quality_filter, distance_for_similarity, face_detail, parse_attributes,
    quality_reasons, requested_attributes, similarity)


def _check(pattern, value, name: str) -> None:
    if not valid_id(pattern, value):
        raise errors.InvalidParameterException(f"{name} must match {pattern.pattern}")


def _int(value, name: str, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        raise errors.InvalidParameterException(f"{name} must be an integer from {lo}" + (f" to {hi}" if hi else ""))
    return value


def _token(offset: int, collection_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"c": collection_id, "o": offset}).encode()).decode()


def _offset(token, collection_id: str) -> int:
    if token is None:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if data["c"] != collection_id or data["o"] < 0:
            raise ValueError
        return int(data["o"])
    except Exception:
        raise errors.InvalidParameterException("NextToken is not one this collection returned") from None


class CollectionsMixin:
    """Mixed into FaceClient, which provides ``analyzer``, ``_image``, ``_largest_face`` and ``store_uri``."""

    @property
    def store(self) -> CollectionStore:
        if getattr(self, "_store", None) is None:
            self._store = CollectionStore(self.store_uri)
        return self._store

    @property
    def face_model_version(self) -> str:
        return self.analyzer.model_versions["embedder"]

    def _collection(self, collection_id) -> str:
        _check(COLLECTION_ID, collection_id, "CollectionId")
        if not self.store.exists(collection_id):
            raise errors.ResourceNotFoundException(f"collection {collection_id} does not exist")
        return collection_id

    @errors.operation("CreateCollection")
    def create_collection(self, *, CollectionId: str, Tags: dict | None = None) -> dict:
        _check(COLLECTION_ID, CollectionId, "CollectionId")
        if self.store.exists(CollectionId):
            raise errors.ResourceAlreadyExistsException(f"collection {CollectionId} already exists")
        self.store.create(CollectionId, self.face_model_version)
        return {"StatusCode": 200, "CollectionArn": self._arn(CollectionId), "FaceModelVersion": self.face_model_version}

    def _arn(self, collection_id: str) -> str:
        return f"arn:facelake:rekognition:local:000000000000:collection/{collection_id}"

    @errors.operation("DescribeCollection")
    def describe_collection(self, *, CollectionId: str) -> dict:
        info = self.store.info(self._collection(CollectionId))
        out = {"FaceCount": info["face_count"], "FaceModelVersion": info["face_model_version"],
               "CollectionARN": self._arn(CollectionId), "UserCount": 0}
        if info["created_at"] is not None:
            out["CreationTimestamp"] = info["created_at"]
        return out

    @errors.operation("ListCollections")
    def list_collections(self, *, NextToken: str | None = None, MaxResults: int = 1000) -> dict:
        _int(MaxResults, "MaxResults", 0, 4096)
        offset = _offset(NextToken, "")
        rows = self.store.collections()
        page = rows[offset:offset + MaxResults]
        out = {"CollectionIds": [c for c, _ in page], "FaceModelVersions": [v for _, v in page]}
        if offset + MaxResults < len(rows):
            out["NextToken"] = _token(offset + MaxResults, "")
        return out

    @errors.operation("DeleteCollection")
    def delete_collection(self, *, CollectionId: str) -> dict:
        self.store.drop(self._collection(CollectionId))
        return {"StatusCode": 200}

    @errors.operation("IndexFaces")
    def index_faces(self, *, CollectionId: str, Image: dict, ExternalImageId: str | None = None,
                    DetectionAttributes: list[str] | None = None, MaxFaces: int | None = None,
                    QualityFilter: str = "AUTO") -> dict:
        cid = self._collection(CollectionId)
        if ExternalImageId is not None:
            _check(EXTERNAL_IMAGE_ID, ExternalImageId, "ExternalImageId")
        if MaxFaces is not None:
            _int(MaxFaces, "MaxFaces", 1)
        check_quality_filter(QualityFilter)
        attrs = parse_attributes(DetectionAttributes)
        data, img = self._image_with_bytes(Image)
        sha = hashlib.sha256(data).hexdigest()
        faces = self.analyzer.analyze(img, attributes=requested_attributes(attrs))
        version = self.face_model_version
        records, unindexed, rows = [], [], []
        for i, face in enumerate(faces):
            detail = face_detail(face, img.width, img.height, attrs)
            reasons = quality_reasons(face.confidence, face.quality["Sharpness"], face.quality["Brightness"],
                                      QualityFilter)
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
                   "model_version": version, "vector": [float(v) for v in face.embedding]}
            rows.append(row)
            records.append({"Face": face_from_row(row), "FaceDetail": detail})
        self.store.add(cid, rows)  # faces already there (same image, same ExternalImageId) are not added twice
        out = {"FaceRecords": records, "FaceModelVersion": version, "UnindexedFaces": unindexed}
        if img.orientation_correction:
            out["OrientationCorrection"] = img.orientation_correction
        return out

    @errors.operation("ListFaces")
    def list_faces(self, *, CollectionId: str, NextToken: str | None = None, MaxResults: int = 1000,
                   UserId: str | None = None, FaceIds: list[str] | None = None) -> dict:
        cid = self._collection(CollectionId)
        _int(MaxResults, "MaxResults", 0, 4096)
        if UserId is not None:
            _check(USER_ID, UserId, "UserId")
        if FaceIds is not None:
            self._face_ids(FaceIds)
        offset = _offset(NextToken, cid)
        rows, more = self.store.page(cid, offset, MaxResults, UserId, FaceIds)
        out = {"Faces": [face_from_row(r) for r in rows], "FaceModelVersion": self.face_model_version}
        if more:
            out["NextToken"] = _token(offset + MaxResults, cid)
        return out

    @staticmethod
    def _face_ids(face_ids) -> None:
        if not isinstance(face_ids, list) or not 1 <= len(face_ids) <= 4096:
            raise errors.InvalidParameterException("FaceIds must be a list of 1 to 4096 face ids")
        for f in face_ids:
            _check(FACE_ID, f, "FaceId")

    @errors.operation("DeleteFaces")
    def delete_faces(self, *, CollectionId: str, FaceIds: list[str]) -> dict:
        cid = self._collection(CollectionId)
        self._face_ids(FaceIds)
        deleted = set(self.store.remove(cid, list(dict.fromkeys(FaceIds))))
        return {"DeletedFaces": [f for f in dict.fromkeys(FaceIds) if f in deleted],
                "UnsuccessfulFaceDeletions": [{"FaceId": f, "Reasons": ["FACE_NOT_FOUND"]}
                                              for f in dict.fromkeys(FaceIds) if f not in deleted]}

    def _matches(self, cid: str, vector, max_faces: int, threshold: float, exclude: str | None = None) -> list[dict]:
        _int(max_faces, "MaxFaces", 1, 4096)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 100:
            raise errors.InvalidParameterException("FaceMatchThreshold must be a number from 0 to 100")
        hits = self.store.nearest(cid, vector, max_faces, distance_for_similarity(threshold), exclude)
        return [{"Similarity": similarity(d), "Face": face_from_row(row)} for row, d in hits
                if similarity(d) >= threshold]

    @errors.operation("SearchFaces")
    def search_faces(self, *, CollectionId: str, FaceId: str, MaxFaces: int = 4096,
                     FaceMatchThreshold: float = 80.0) -> dict:
        cid = self._collection(CollectionId)
        _check(FACE_ID, FaceId, "FaceId")
        found = self.store.get(cid, [FaceId])
        if not found:
            raise errors.InvalidParameterException(f"face {FaceId} is not in collection {cid}")
        return {"SearchedFaceId": FaceId, "FaceModelVersion": self.face_model_version,
                "FaceMatches": self._matches(cid, found[0]["vector"], MaxFaces, FaceMatchThreshold, exclude=FaceId)}

    @errors.operation("SearchFacesByImage")
    def search_faces_by_image(self, *, CollectionId: str, Image: dict, MaxFaces: int = 4096,
                              FaceMatchThreshold: float = 80.0, QualityFilter: str = "NONE") -> dict:
        cid = self._collection(CollectionId)
        bar = QUALITY_BARS[check_quality_filter(QualityFilter)]
        img = self._image(Image)
        face = self._largest_face(img, bar, "the image")
        return {"SearchedFaceBoundingBox": bounding_box(face.box, img.width, img.height),
                "SearchedFaceConfidence": face.confidence, "FaceModelVersion": self.face_model_version,
                "FaceMatches": self._matches(cid, face.embedding, MaxFaces, FaceMatchThreshold)}
