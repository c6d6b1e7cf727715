"""Rekognition's stored-video operations: StartFaceDetection / GetFaceDetection, StartFaceSearch /
GetFaceSearch, StartSegmentDetection / GetSegmentDetection.

A Start* call checks the video (an S3 object), records the job (store.jobs) and starts the
video job in a background process of its own (facelake.jobs), which outlives the caller and
records SUCCEEDED or FAILED with a StatusMessage. Get* pages through the job's tables. A
repeated ClientRequestToken returns the first JobId (facelake.operations.call).
"""

from __future__ import annotations

import subprocess
import sys
import uuid

import fsspec

from facelake import settings
from facelake.models.images import s3_object_uri, storage_error
from facelake.models.segments import BlackRule
from facelake.models.video_plan import SEGMENT_TYPES, VideoPlan, search_spec
from facelake.schemas import errors
from facelake.schemas.collections import face_from_row
from facelake.schemas.tables import face_detail_from_row
from facelake.schemas.video import audio_metadata, segment_detection, video_metadata
from facelake.store.jobs import JobStore

from .collections import existing, page_offset, page_token
from .context import Context, operation

MAX_RESULTS = 1000  # Rekognition's cap on MaxResults of the Get* calls
SEGMENTS_MODEL_VERSION = "facelake-segments-1"


def video_uri(ctx: Context, video: dict) -> str:
    """The URI of a Video parameter's S3 object, checked to exist and to be within the limits."""
    obj = video.get("S3Object") if isinstance(video, dict) else None
    uri = s3_object_uri(obj, ctx.limits, "Video")
    if obj.get("Version"):
        raise errors.InvalidParameterException("S3Object.Version is not supported for video")
    try:
        fs, path = fsspec.core.url_to_fs(uri)
        size = fs.size(path)
    except Exception as e:
        raise storage_error(uri, e) from e
    if size is not None and size > settings.MAX_VIDEO_BYTES:
        raise errors.VideoTooLargeException(f"{uri} is {size} bytes; the limit is {settings.MAX_VIDEO_BYTES}")
    return uri


def start_job(ctx: Context, kind: str, uri: str, plan: VideoPlan, *, video: dict | None = None,
              job_tag: str | None = None, background: bool = True) -> str:
    """Record a video job over ``uri`` and start it in a background process (with
    ``background=False`` only record it: the caller runs facelake.pipelines.video.run_job);
    returns its JobId."""
    store = JobStore(ctx.store.uri)
    job_id = uuid.uuid4().hex + uuid.uuid4().hex  # 64 hex digits, like Rekognition's
    record = {"JobId": job_id, "Kind": kind, "JobStatus": "IN_PROGRESS", "Uri": uri, "Plan": plan.to_dict()}
    if video is not None:
        record["Video"] = video
    if job_tag is not None:
        record["JobTag"] = job_tag
    store.create(record)
    if background:
        spawn(store, job_id)
    return job_id


def spawn(jobs: JobStore, job_id: str) -> None:
    """Start the job's run (facelake.pipelines.video.run_job) in a process of its own session,
    which outlives this one; its log goes beside the job record (a temp file for remote stores)."""
    with open(jobs.log_path(job_id), "ab") as log:
        subprocess.Popen([sys.executable, "-m", "facelake.pipelines.video", "--job", job_id, "--store", jobs.store_uri],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True)


@operation("StartFaceDetection", changes=True)
def start_face_detection(ctx: Context, *, Video: dict, FaceAttributes: str = "DEFAULT",
                         NotificationChannel: dict | None = None, JobTag: str | None = None) -> dict:
    _no_notifications(NotificationChannel)
    plan = VideoPlan(faces=True, attributes=(FaceAttributes,))
    return {"JobId": start_job(ctx, "FaceDetection", video_uri(ctx, Video), plan, video=Video, job_tag=JobTag)}


@operation("StartFaceSearch", changes=True)
def start_face_search(ctx: Context, *, Video: dict, CollectionId: str, FaceMatchThreshold: float = 80.0,
                      NotificationChannel: dict | None = None, JobTag: str | None = None) -> dict:
    _no_notifications(NotificationChannel)
    existing(ctx, CollectionId)
    plan = VideoPlan(faces=True, search=search_spec(ctx.store.uri, CollectionId, FaceMatchThreshold))
    return {"JobId": start_job(ctx, "FaceSearch", video_uri(ctx, Video), plan, video=Video, job_tag=JobTag)}


@operation("StartSegmentDetection", changes=True)
def start_segment_detection(ctx: Context, *, Video: dict, SegmentTypes: list[str], Filters: dict | None = None,
                            NotificationChannel: dict | None = None, JobTag: str | None = None) -> dict:
    _no_notifications(NotificationChannel)
    return {"JobId": start_job(ctx, "SegmentDetection", video_uri(ctx, Video),
                               segment_plan(SegmentTypes, Filters), video=Video, job_tag=JobTag)}


def segment_plan(types: list[str], filters: dict | None) -> VideoPlan:
    """StartSegmentDetection's SegmentTypes and Filters as a VideoPlan."""
    if not types:
        raise errors.InvalidParameterException("SegmentTypes needs at least one of SHOT, TECHNICAL_CUE")
    filters = filters or {}
    cue, shot = filters.get("TechnicalCueFilter") or {}, filters.get("ShotFilter") or {}
    black = cue.get("BlackFrame") or {}
    unknown = set(types) - set(SEGMENT_TYPES)
    if unknown:
        raise errors.InvalidParameterException(f"SegmentTypes are {', '.join(SEGMENT_TYPES)}, not {sorted(unknown)}")
    # segments come back in the order of the types asked for
    return VideoPlan(faces=False, segment_types=tuple(dict.fromkeys(types)),
                     black=BlackRule(black.get("MaxPixelThreshold", BlackRule.max_pixel_threshold),
                                     black.get("MinCoveragePercentage", BlackRule.min_coverage)),
                     min_cue_confidence=cue.get("MinSegmentConfidence", 50.0),
                     min_shot_confidence=shot.get("MinSegmentConfidence", 50.0))


def _no_notifications(channel: dict | None) -> None:
    if channel:
        raise errors.InvalidParameterException("NotificationChannel (SNS) is not offered: poll the Get* call")


def _job(ctx: Context, job_id: str, kind: str) -> tuple[JobStore, dict, dict]:
    """The job's store, record and the members every Get* response has."""
    store = JobStore(ctx.store.uri)
    record = store.get(job_id)
    if record is None or record.get("Kind") != kind:
        raise errors.ResourceNotFoundException(f"no {kind} job {job_id}")
    out = {"JobStatus": record["JobStatus"], "JobId": job_id}
    for member in ("Video", "JobTag"):
        if member in record:
            out[member] = record[member]
    if record.get("StatusMessage"):
        out["StatusMessage"] = record["StatusMessage"]
    return store, record, out


def _page(out: dict, rows: list, token: str | None, max_results: int, scope: str) -> list:
    """The page of ``rows`` that ``token`` asks for; sets out's NextToken when more follow."""
    offset = page_offset(token, scope)
    size = min(max_results, MAX_RESULTS)
    if offset + size < len(rows):
        out["NextToken"] = page_token(offset + size, scope)
    return rows[offset: offset + size]


def _video_row(store: JobStore, job_id: str) -> dict | None:
    rows = store.table(job_id, "videos").to_pylist()
    return rows[0] if rows else None


@operation("GetFaceDetection")
def get_face_detection(ctx: Context, *, JobId: str, MaxResults: int = MAX_RESULTS,
                       NextToken: str | None = None) -> dict:
    store, record, out = _job(ctx, JobId, "FaceDetection")
    if out["JobStatus"] != "SUCCEEDED":
        return out
    video = _video_row(store, JobId)
    out["VideoMetadata"] = video_metadata(video)
    rows = sorted(store.table(JobId, "video_faces").to_pylist(), key=lambda r: (r["timestamp"], r["person_index"]))
    page = _page(out, rows, NextToken, MaxResults, f"faces:{JobId}")
    out["Faces"] = [{"Timestamp": r["timestamp"], "Face": face_detail_from_row(r)} for r in page]
    return out


@operation("GetFaceSearch")
def get_face_search(ctx: Context, *, JobId: str, MaxResults: int = MAX_RESULTS, NextToken: str | None = None,
                    SortBy: str = "TIMESTAMP") -> dict:
    store, record, out = _job(ctx, JobId, "FaceSearch")
    if out["JobStatus"] != "SUCCEEDED":
        return out
    out["VideoMetadata"] = video_metadata(_video_row(store, JobId))
    matches = {(m["frame_number"], m["person_index"]): m["matches"]
               for m in store.table(JobId, "video_matches").to_pylist()}
    order = (lambda r: (r["timestamp"], r["person_index"])) if SortBy == "TIMESTAMP" else (
        lambda r: (r["person_index"], r["timestamp"]))
    rows = sorted(store.table(JobId, "video_faces").to_pylist(), key=order)
    page = _page(out, rows, NextToken, MaxResults, f"search:{SortBy}:{JobId}")
    collection = record["Plan"]["search"]["collection_id"]
    wanted = sorted({m["face_id"] for r in page for m in matches.get((r["frame_number"], r["person_index"]), [])})
    known = {row["face_id"]: row for row in ctx.store.get(collection, wanted)} if ctx.store.exists(collection) else {}
    persons = []
    for r in page:
        detail = face_detail_from_row(r)
        found = [{"Similarity": m["similarity"], "Face": face_from_row(known[m["face_id"]])}
                 for m in matches.get((r["frame_number"], r["person_index"]), []) if m["face_id"] in known]
        persons.append({"Timestamp": r["timestamp"],
                        "Person": {"Index": r["person_index"], "BoundingBox": detail["BoundingBox"], "Face": detail},
                        "FaceMatches": found})
    out["Persons"] = persons
    return out


@operation("GetSegmentDetection")
def get_segment_detection(ctx: Context, *, JobId: str, MaxResults: int = MAX_RESULTS,
                          NextToken: str | None = None) -> dict:
    store, record, out = _job(ctx, JobId, "SegmentDetection")
    if out["JobStatus"] != "SUCCEEDED":
        return out
    video = _video_row(store, JobId)
    out["VideoMetadata"] = [video_metadata(video)]
    out["AudioMetadata"] = audio_metadata(video)
    types = record["Plan"]["segment_types"]
    rows = sorted(store.table(JobId, "segments").to_pylist(),
                  key=lambda r: (types.index(r["type"]), r["start_frame_number"], r["technical_cue_type"] or ""))
    page = _page(out, rows, NextToken, MaxResults, f"segments:{JobId}")
    out["Segments"] = [segment_detection(r) for r in page]
    out["SelectedSegmentTypes"] = [{"Type": t, "ModelVersion": SEGMENTS_MODEL_VERSION} for t in types]
    return out
