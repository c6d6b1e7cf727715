"""The ``facelake`` command line: Rekognition's face calls on local files, URIs and S3 objects.

    facelake detect-faces IMAGE [--attributes ALL] [--draw OUT.png]
    facelake compare-faces SOURCE TARGET [--similarity-threshold 80] [--quality-filter NONE] [--draw OUT.png]
    facelake detect SOURCE... --output OUT [--workers N] [--skip-existing] [beam options]   (see pipelines/detect.py)
    facelake index SOURCE... --collection ID [--store URI] [--create] [beam options]        (see pipelines/index.py)
    facelake search SOURCE... --collection ID [--store URI] --output OUT                    (see pipelines/search.py)
    facelake compare-libraries A [B] --output OUT [--threshold 80]                          (see pipelines/compare.py)
    facelake group --collection ID [--store URI] [--output OUT] [--rebuild] [--sheet F.jpg] (see pipelines/group.py)
    facelake video SOURCE... --output OUT [--faces] [--segments SHOT,TECHNICAL_CUE] [--search ID] (pipelines/video.py)
    facelake report OUT [--html report.html] [--collection ID] [--open]                     (see report.py)
    facelake detect-video-faces VIDEO [--attributes ALL] [--draw OUT.mp4]
    facelake search-video VIDEO --collection ID [--threshold 80] [--draw OUT.mp4]
    facelake detect-segments VIDEO [--segment-types SHOT,TECHNICAL_CUE] [--draw OUT.mp4]

IMAGE is a local path, an ``s3://bucket/key`` (read through s3fs; endpoint and credentials from
the usual AWS_* variables) or any fsspec URI. Responses are printed as JSON. Files on disk and
URIs get the S3 size limit (15 MB), as S3 objects do.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from facelake.schemas.errors import RekognitionError
from facelake.schemas.rekognition import QUALITY_FILTERS

JOBS = ("detect", "index", "search", "compare-libraries", "repair", "group", "video")


def image_param(arg: str) -> dict:
    """A CLI image argument as Rekognition's Image parameter."""
    if arg.startswith("s3://"):
        bucket, _, key = arg[5:].partition("/")
        return {"S3Object": {"Bucket": bucket, "Name": key}}
    from facelake.models.images import ImageLimits, read_uri

    return {"Bytes": read_uri(arg, ImageLimits().max_s3_bytes)}


def draw(image: dict, faces: list[dict], out: str, colors: list[tuple[int, int, int]] | None = None) -> None:
    """Write the image with each face's box and landmarks drawn (faces: FaceDetail-like dicts)."""
    import cv2

    from facelake.models.images import ImageLimits, decode, read_image_param

    limits = ImageLimits(max_bytes=ImageLimits().max_s3_bytes)
    rgb = decode(read_image_param(image, limits), limits).rgb.copy()
    h, w = rgb.shape[:2]
    thick = max(1, round(max(h, w) / 400))
    for i, face in enumerate(faces):
        color = colors[i] if colors else (0, 255, 0)
        bb = face["BoundingBox"]
        p1 = (round(bb["Left"] * w), round(bb["Top"] * h))
        p2 = (round((bb["Left"] + bb["Width"]) * w), round((bb["Top"] + bb["Height"]) * h))
        cv2.rectangle(rgb, p1, p2, color, thick)
        for lm in face.get("Landmarks", []):
            cv2.circle(rgb, (round(lm["X"] * w), round(lm["Y"] * h)), thick + 1, (255, 64, 64), -1)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        ok = cv2.imwrite(out, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    except (OSError, cv2.error) as e:
        raise RekognitionError(f"cannot write {out}: {e}") from None
    if not ok:
        raise RekognitionError(f"cannot write {out} (use a .png or .jpg name in a writable folder)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="facelake", description="Face analysis with Rekognition's API, run locally.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("detect", help="analyse a photo library into Parquet with Beam (facelake detect --help)",
                   add_help=False)
    sub.add_parser("index", help="index a photo library into a face collection with Beam (facelake index --help)",
                   add_help=False)
    sub.add_parser("search", help="search a library's faces in a collection with Beam (facelake search --help)",
                   add_help=False)
    sub.add_parser("compare-libraries", help="face pairs of two libraries' faces tables (--help)", add_help=False)
    sub.add_parser("repair", help="finish what a killed job left in OUT (facelake repair OUT)", add_help=False)
    sub.add_parser("group", help="group a collection's faces into persons (facelake group --help)", add_help=False)
    sub.add_parser("video", help="faces, persons and segments of videos into Parquet with Beam (--help)",
                   add_help=False)
    sub.add_parser("serve", help="Rekognition's HTTP API on this machine (facelake serve --help)", add_help=False)
    sub.add_parser("report", help="one HTML page of a job's output (facelake report OUT --help)", add_help=False)
    d = sub.add_parser("detect-faces", help="detect and describe the faces of an image (DetectFaces)")
    d.add_argument("image")
    d.add_argument("--attributes", nargs="+", default=["DEFAULT"], help="DEFAULT, ALL or attribute names")
    d.add_argument("--draw", metavar="OUT.png", help="also write the image with boxes and landmarks")
    c = sub.add_parser("compare-faces", help="compare the largest face of SOURCE with the faces of TARGET")
    c.add_argument("source")
    c.add_argument("target")
    c.add_argument("--similarity-threshold", type=float, default=80.0)
    c.add_argument("--quality-filter", default="NONE", choices=QUALITY_FILTERS)
    c.add_argument("--draw", metavar="OUT.png", help="also write TARGET with matches green, others red")
    for name, what in (("detect-video-faces", "faces of a video with timestamps (GetFaceDetection's response)"),
                       ("search-video", "persons of a video matched against a collection (GetFaceSearch's)"),
                       ("detect-segments", "shots and technical cues of a video (GetSegmentDetection's)")):
        v = sub.add_parser(name, help=what)
        v.add_argument("video", help="a local path, s3:// or any fsspec URI")
        if name == "search-video":
            v.add_argument("--collection", required=True)
            v.add_argument("--threshold", type=float, default=80.0, help="FaceMatchThreshold (default 80)")
        if name == "detect-segments":
            v.add_argument("--segment-types", default="SHOT,TECHNICAL_CUE")
        else:
            v.add_argument("--attributes", default="DEFAULT", choices=["DEFAULT", "ALL"])
        v.add_argument("--draw", metavar="OUT.mp4", help="also write the video with boxes, persons and segments drawn")
    return p


VIDEO_CALLS = {"detect-video-faces": "GetFaceDetection", "search-video": "GetFaceSearch",
               "detect-segments": "GetSegmentDetection"}


def video_command(ctx, args: argparse.Namespace) -> dict:
    """Run one video's job here and now and return the whole Get* response (every page)."""
    job_log()  # Beam's own logging to a file, as for the jobs
    from dataclasses import replace

    from facelake.models.video_plan import VideoPlan, search_spec
    from facelake.operations import call
    from facelake.pipelines.video import run_job
    from facelake.store.jobs import JobStore
    from facelake.video import segment_plan, start_job

    if args.command == "detect-segments":
        kind = "SegmentDetection"
        plan = segment_plan([t.strip().upper() for t in args.segment_types.split(",") if t.strip()], None)
    elif args.command == "search-video":
        kind = "FaceSearch"
        if not ctx.store.exists(args.collection):
            raise RekognitionError(f"collection {args.collection} does not exist")
        plan = VideoPlan(search=search_spec(ctx.store.uri, args.collection, args.threshold),
                         attributes=(args.attributes,))
    else:
        kind, plan = "FaceDetection", VideoPlan(attributes=(args.attributes,))
    if args.draw and kind != "SegmentDetection":  # the drawing labels shots too
        plan = replace(plan, segment_types=("SHOT",))
    job_id = start_job(ctx, kind, args.video, plan, background=False)
    jobs = JobStore(ctx.store.uri)
    run_job(jobs, job_id)
    resp = call(ctx, VIDEO_CALLS[args.command], {"JobId": job_id})
    listed = {"GetFaceDetection": "Faces", "GetFaceSearch": "Persons", "GetSegmentDetection": "Segments"}[
        VIDEO_CALLS[args.command]]
    token = resp.pop("NextToken", None)
    while token:
        more = call(ctx, VIDEO_CALLS[args.command], {"JobId": job_id, "NextToken": token})
        resp[listed] += more[listed]
        token = more.get("NextToken")
    if resp["JobStatus"] != "SUCCEEDED":
        raise RekognitionError(resp.get("StatusMessage", "the video job failed"))
    if args.draw:
        from facelake.video_draw import draw_video

        draw_video(args.video, jobs.table(job_id, "video_faces").to_pylist(),
                   jobs.table(job_id, "segments").to_pylist(), args.draw)
    return resp


def run(args: argparse.Namespace) -> dict:
    from facelake.context import Context
    from facelake.models.images import ImageLimits
    from facelake.operations import call

    ctx = Context(limits=ImageLimits(max_bytes=ImageLimits().max_s3_bytes))
    if args.command in VIDEO_CALLS:
        return video_command(ctx, args)
    if args.command == "detect-faces":
        image = image_param(args.image)
        resp = call(ctx, "DetectFaces", {"Image": image, "Attributes": args.attributes})
        if args.draw:
            draw(image, resp["FaceDetails"], args.draw)
        return resp
    source, target = image_param(args.source), image_param(args.target)
    resp = call(ctx, "CompareFaces", {"SourceImage": source, "TargetImage": target,
                                      "SimilarityThreshold": args.similarity_threshold,
                                      "QualityFilter": args.quality_filter})
    if args.draw:
        faces = [m["Face"] for m in resp["FaceMatches"]] + resp["UnmatchedFaces"]
        colors = [(0, 200, 0)] * len(resp["FaceMatches"]) + [(220, 0, 0)] * len(resp["UnmatchedFaces"])
        draw(target, faces, args.draw, colors)
    return resp


def job_log() -> str:
    """Beam's and the workers' log (a failed bundle's traceback, ...) and Python warnings (Beam's
    batch-size polyfit RankWarning, ...) go to a file, created only if something is logged, so
    the terminal shows facelake's own one-line messages."""
    import logging
    import tempfile

    path = os.path.join(tempfile.gettempdir(), f"facelake-{os.getpid()}.log")
    handler = logging.FileHandler(path, delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("apache_beam.io.gcp").setLevel(logging.ERROR)  # optional GCP libraries missing
    logging.captureWarnings(True)
    return path


def unreachable(e: BaseException) -> BaseException | None:
    """The object-store connection failure behind an exception, if that is what it is."""
    from botocore.exceptions import ConnectionError as BotoConnectionError

    while e is not None:
        if isinstance(e, BotoConnectionError) or "Could not connect to the endpoint" in str(e):
            return e
        e = e.__cause__ or e.__context__
    return None


def beam_job(command: str, argv: list[str]) -> int:
    """``facelake detect`` / ``index`` / ``search`` / ``compare-libraries`` / ``repair`` (the Beam
    jobs of facelake.pipelines) and ``group``. Every failure ends in one line on stderr (exit 1)."""
    log = job_log()
    from facelake.pipelines import compare, detect, group, index, launcher, search, video
    from facelake.store.commit import LeaseHeldError

    mains = {"detect": detect.main, "index": index.main, "search": search.main, "compare-libraries": compare.main,
             "group": group.main, "video": video.main,
             "repair": lambda a: launcher.main(launcher.run_repair, a, "facelake repair")}
    try:
        return mains[command](argv)
    except Exception as e:
        cause = unreachable(e)
        if cause is not None:
            what = f"the object store did not answer: {str(cause).splitlines()[0]}"
        elif isinstance(e, (OSError, ValueError, LeaseHeldError)):
            what = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        else:
            raise  # a bug of ours: main() says so in one line
        where = f" (log: {log})" if os.path.exists(log) else ""
        print(f"facelake {command}: {what}{where}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        from facelake.server import main as serve

        return serve(argv[1:])
    if argv[:1] == ["report"]:
        from facelake.report import main as report

        return report(argv[1:])
    if argv[:1] and argv[0] in JOBS:
        try:
            return beam_job(argv[0], argv[1:])
        except KeyboardInterrupt:
            return 130
        except Exception as e:  # FACELAKE_DEBUG=1 for the traceback
            if os.environ.get("FACELAKE_DEBUG"):
                raise
            print(f"facelake {argv[0]}: internal error: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
    args = parser().parse_args(argv)
    try:
        resp = run(args)
    except RekognitionError as e:
        print(f"facelake: {e.code}: {e.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a bug of ours: say so in one line (FACELAKE_DEBUG=1 for the traceback)
        if os.environ.get("FACELAKE_DEBUG"):
            raise
        print(f"facelake: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    try:
        sys.stdout.write(json.dumps(resp, indent=2) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into head
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
