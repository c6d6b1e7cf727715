"""Rekognition's users API on a collection: CreateUser, DeleteUser, ListUsers, AssociateFaces,
DisassociateFaces, SearchUsers and SearchUsersByImage. Storage is facelake.store's UserStore.

A user's match vector is the mean of its faces' descriptors; a face's similarity to a user is
``similarity(distance(face, mean))``, on the same scale as face-to-face similarity. Chosen over
"the nearest of its faces" by benchmarks/persons.py: at the default threshold (80) both keep
99.6% of true matches on deepface's photos, the mean lets in 0.77% of strangers against 0.92%,
and with one wrongly associated face among a user's six, 3.0% against 10.5% (BENCHMARKS.md).

ClientRequestToken (boto3 fills one in) is honoured by facelake.operations.call, for every
operation whose request the service model gives an idempotency token.
"""

from __future__ import annotations

import numpy as np

from facelake.schemas import errors
from facelake.schemas.rekognition import (
    QUALITY_BARS, distance_for_similarity, face_detail, face_quality_score, parse_attributes,
    quality_reasons, similarity)

from .collections import existing, page_offset, page_token
from .context import Context, operation
from .faces import image

MAX_FACES_PER_USER = 100  # Rekognition's limit


def status(user: dict | None) -> str:
    return "ACTIVE" if user and user["face_count"] else "CREATED"


def existing_user(users, user_id: str) -> dict:
    user = users.get([user_id]).get(user_id)
    if user is None:
        raise errors.ResourceNotFoundException(f"user {user_id} does not exist in collection {users.collection_id}")
    return user


def move_by_hand(users, face_ids: list[str], user_id: str, action: str) -> str:
    """Faces associated to ("associate") or taken from ("disassociate") a user by hand: set their
    owner, recount the user, record the edit (grouping never undoes it); the user's status after."""
    users.set_owners({f: user_id if action == "associate" else None for f in face_ids})
    users.refresh({user_id})
    users.record_edits(face_ids, user_id, action)
    return status(users.get([user_id]).get(user_id))


@operation("CreateUser", changes=True)
def create_user(ctx: Context, *, CollectionId: str, UserId: str) -> dict:
    users = ctx.store.users(existing(ctx, CollectionId))
    with users.lock:
        if users.get([UserId]):
            raise errors.ConflictException(f"user {UserId} already exists in collection {CollectionId}")
        users.create([{"user_id": UserId, "origin": "hand"}])
    return {}


@operation("DeleteUser", changes=True)
def delete_user(ctx: Context, *, CollectionId: str, UserId: str) -> dict:
    users = ctx.store.users(existing(ctx, CollectionId))
    with users.lock:
        existing_user(users, UserId)
        users.delete([UserId])  # its faces stay in the collection, belonging to no one
    return {}


@operation("ListUsers")
def list_users(ctx: Context, *, CollectionId: str, MaxResults: int = 500, NextToken: str | None = None) -> dict:
    cid = existing(ctx, CollectionId)
    offset = page_offset(NextToken, f"users:{cid}")
    rows, more = ctx.store.users(cid).page(offset, MaxResults)
    out = {"Users": [{"UserId": r["user_id"], "UserStatus": status(r)} for r in rows]}
    if more:
        out["NextToken"] = page_token(offset + MaxResults, f"users:{cid}")
    return out


def association_refusal(face: dict | None, user_id: str, mean, threshold: float) -> dict | None:
    """Why a face cannot join a user (an UnsuccessfulFaceAssociation), or None if it can."""
    if face is None:
        return {"Reasons": ["FACE_NOT_FOUND"]}
    if face["user_id"] not in (None, user_id):
        return {"Reasons": ["ASSOCIATED_TO_A_DIFFERENT_USER"]}
    if face["user_id"] is None and mean is not None:
        confidence = similarity(float(np.linalg.norm(np.asarray(face["vector"]) - mean)))
        if confidence < threshold:
            return {"Confidence": confidence, "Reasons": ["LOW_MATCH_CONFIDENCE"]}
    return None


@operation("AssociateFaces", changes=True)
def associate_faces(ctx: Context, *, CollectionId: str, UserId: str, FaceIds: list[str],
                    UserMatchThreshold: float = 75.0) -> dict:
    cid = existing(ctx, CollectionId)
    users = ctx.store.users(cid)
    with users.lock:
        user = existing_user(users, UserId)
        asked = list(dict.fromkeys(FaceIds))
        faces = {r["face_id"]: r for r in ctx.store.get(cid, asked)}
        mean = np.asarray(user["vector"], np.float32) if user["vector"] is not None else None
        done, failed = [], []
        for face_id in asked:
            refusal = association_refusal(faces.get(face_id), UserId, mean, UserMatchThreshold)
            if refusal:
                failed.append({"FaceId": face_id, "UserId": UserId, **refusal})
            else:
                done.append(face_id)
        new = [f for f in done if faces[f]["user_id"] is None]
        if user["face_count"] + len(new) > MAX_FACES_PER_USER:
            raise errors.ServiceQuotaExceededException(
                f"user {UserId} has {user['face_count']} faces; {len(new)} more would pass the limit of "
                f"{MAX_FACES_PER_USER}")
        after = move_by_hand(users, new, UserId, "associate")
    return {"AssociatedFaces": [{"FaceId": f} for f in done], "UnsuccessfulFaceAssociations": failed,
            "UserStatus": after}


@operation("DisassociateFaces", changes=True)
def disassociate_faces(ctx: Context, *, CollectionId: str, UserId: str, FaceIds: list[str]) -> dict:
    users = ctx.store.users(existing(ctx, CollectionId))
    with users.lock:
        existing_user(users, UserId)
        asked = list(dict.fromkeys(FaceIds))
        owners = users.face_owners(asked)
        done = [f for f in asked if f in owners and owners[f] == UserId]
        failed = [{"FaceId": f, "UserId": UserId,
                   "Reasons": ["FACE_NOT_FOUND" if f not in owners else "ASSOCIATED_TO_A_DIFFERENT_USER"]}
                  for f in asked if f not in done]
        after = move_by_hand(users, done, UserId, "disassociate")
    return {"DisassociatedFaces": [{"FaceId": f} for f in done], "UnsuccessfulFaceDisassociations": failed,
            "UserStatus": after}


def user_matches(ctx: Context, cid: str, vector, max_users: int, threshold: float,
                 exclude: str | None = None) -> list[dict]:
    """UserMatches: the users whose match vector is at or above ``threshold`` similarity, best first."""
    hits = ctx.store.users(cid).nearest(vector, max_users, distance_for_similarity(threshold), exclude)
    return [{"Similarity": similarity(d), "User": {"UserId": row["user_id"], "UserStatus": status(row)}}
            for row, d in hits if similarity(d) >= threshold]


@operation("SearchUsers")
def search_users(ctx: Context, *, CollectionId: str, UserId: str | None = None, FaceId: str | None = None,
                 UserMatchThreshold: float = 80.0, MaxUsers: int = 500) -> dict:
    cid = existing(ctx, CollectionId)
    if (UserId is None) == (FaceId is None):
        raise errors.InvalidParameterException("give exactly one of UserId and FaceId")
    out = {"FaceModelVersion": ctx.face_model_version}
    if FaceId is not None:
        found = ctx.store.get(cid, [FaceId])
        if not found:
            raise errors.InvalidParameterException(f"face {FaceId} is not in collection {cid}")
        vector, out["SearchedFace"] = found[0]["vector"], {"FaceId": FaceId}
    else:
        user = existing_user(ctx.store.users(cid), UserId)
        if user["vector"] is None:
            raise errors.InvalidParameterException(f"user {UserId} has no faces to search with")
        vector, out["SearchedUser"] = user["vector"], {"UserId": UserId}
    out["UserMatches"] = user_matches(ctx, cid, vector, MaxUsers, UserMatchThreshold, exclude=UserId)
    return out


@operation("SearchUsersByImage")
def search_users_by_image(ctx: Context, *, CollectionId: str, Image: dict, UserMatchThreshold: float = 80.0,
                          MaxUsers: int = 500, QualityFilter: str = "NONE") -> dict:
    cid = existing(ctx, CollectionId)
    _, img = image(ctx, Image)
    faces = ctx.analyzer.analyze(img, embed=False)
    attrs = parse_attributes(None)
    bar = QUALITY_BARS[QualityFilter]
    searched = next((f for f in faces if face_quality_score(f) >= bar), None)
    if searched is None:
        raise errors.InvalidParameterException("no face in the image passes the quality filter")
    unsearched = []
    for face in faces:
        if face is searched:
            continue
        reasons = quality_reasons(face.confidence, face.quality["Sharpness"], face.quality["Brightness"],
                                  QualityFilter) if face_quality_score(face) < bar else ["FACE_NOT_LARGEST"]
        unsearched.append({"FaceDetails": face_detail(face, img.width, img.height, attrs), "Reasons": reasons})
    searched.embedding = ctx.analyzer.embed_face(img, searched)
    detail = face_detail(searched, img.width, img.height, attrs)
    return {"UserMatches": user_matches(ctx, cid, searched.embedding, MaxUsers, UserMatchThreshold),
            "FaceModelVersion": ctx.face_model_version, "SearchedFace": {"FaceDetail": detail},
            "UnsearchedFaces": unsearched}
