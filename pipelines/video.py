"""The video job: faces with timestamps, persons, matches against a collection, shots and cues.

    facelake video SOURCE... --output OUT [--faces] [--search COLLECTION --store URI]
                   [--segments SHOT,TECHNICAL_CUE] [--fps 5 | --every-frame] [--attributes DEFAULT|ALL]
                   [--workers N] [beam options]

SOURCE as for ``facelake detect`` (files, folders, globs, s3://). Without --faces, --search or
--segments the job does everything but search. Tables in OUT (zstd Parquet, committed exactly
once like the photo tables): videos, video_faces, video_matches (with --search), segments,
errors; every video ends in exactly one videos or errors row.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from facelake import settings
from facelake.models.analyzer import FaceAnalyzer
from facelake.models.segments import BlackRule
from facelake.models.video_plan import SEGMENT_TYPES, VideoPlan, search_spec
from facelake.schemas.rekognition import ATTRIBUTE_NAMES, parse_attributes, requested_attributes
from facelake.store.collections import CollectionStore, default_store
from facelake.store.jobs import JobStore
from facelake.store.tables import absolute, column_values
from facelake.transforms.parquet import WriteTable
from facelake.transforms.sources import MatchImages
from facelake.transforms.video import VideoTables

from . import launcher

TABLES = ("videos", "video_faces", "video_matches", "segments", "errors")


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="facelake video", description=__doc__.splitlines()[0])
    ap.add_argument("sources", nargs="+", metavar="SOURCE", type=absolute)
    ap.add_argument("--output", required=True, metavar="OUT", type=absolute)
    ap.add_argument("--faces", action="store_true", help="faces with timestamps and persons")
    ap.add_argument("--search", metavar="COLLECTION", help="match each person's faces against a collection")
    ap.add_argument("--store", metavar="URI", type=absolute, help="the collection's store (default $FACELAKE_STORE)")
    ap.add_argument("--threshold", type=float, default=80.0, help="FaceMatchThreshold for --search (default 80)")
    ap.add_argument("--segments", type=lambda s: [t.strip().upper() for t in s.split(",") if t.strip()],
                    metavar="SHOT,TECHNICAL_CUE", help="segment types to detect")
    sampling = ap.add_mutually_exclusive_group()
    sampling.add_argument("--fps", type=float, default=settings.VIDEO_FPS,
                          help=f"frames analysed for faces per second (default {settings.VIDEO_FPS})")
    sampling.add_argument("--every-frame", action="store_true", help="analyse every frame for faces")
    ap.add_argument("--attributes", nargs="+", default=["DEFAULT"], choices=ATTRIBUTE_NAMES)
    ap.add_argument("--black-max-pixel-threshold", type=float, default=BlackRule.max_pixel_threshold)
    ap.add_argument("--black-min-coverage", type=float, default=BlackRule.min_coverage)
    ap.add_argument("--min-segment-confidence", type=float, default=50.0)
    ap.add_argument("--range-frames", type=int, default=settings.VIDEO_RANGE_FRAMES,
                    help="frames per range analysed in parallel (default %(default)s)")
    ap.add_argument("--workers", type=int, default=1, help="workers on this machine, threads of one process (default 1)")
    ap.add_argument("--no-progress", action="store_true")
    return ap.parse_known_args(argv)


def plan_from_args(args) -> VideoPlan:
    """The job's VideoPlan; raises ValueError on a bad argument."""
    segments = tuple(args.segments or ())
    bad = set(segments) - set(SEGMENT_TYPES)
    if bad:
        raise ValueError(f"--segments takes {','.join(SEGMENT_TYPES)}, not {','.join(sorted(bad))}")
    if not (args.faces or args.search or segments):  # nothing asked: everything that needs no collection
        args.faces, segments = True, SEGMENT_TYPES
    if args.fps <= 0:
        raise ValueError("--fps must be above 0 (or use --every-frame)")
    if not 0 <= args.black_max_pixel_threshold <= 1 or not 0 <= args.black_min_coverage <= 100:
        raise ValueError("--black-max-pixel-threshold is 0..1 and --black-min-coverage 0..100")
    if not 50 <= args.min_segment_confidence <= 100:
        raise ValueError("--min-segment-confidence is 50..100, as Rekognition's MinSegmentConfidence")
    if args.range_frames < 10:
        raise ValueError("--range-frames must be at least 10")
    search = None
    if args.search:
        store = args.store or default_store()
        if not CollectionStore(store).exists(args.search):
            raise ValueError(f"no collection {args.search!r} in {store}")
        search = search_spec(store, args.search, args.threshold)
    return VideoPlan(faces=bool(args.faces or args.search), segment_types=segments,
                     fps=None if args.every_frame else args.fps, attributes=tuple(args.attributes),
                     black=BlackRule(args.black_max_pixel_threshold, args.black_min_coverage),
                     min_shot_confidence=args.min_segment_confidence, min_cue_confidence=args.min_segment_confidence,
                     range_frames=args.range_frames, search=search)


def run(argv: list[str] | None = None, stream=sys.stderr) -> dict:
    args, beam_args = parse_args(argv)
    plan = plan_from_args(args)
    return run_plan(args.sources, args.output, plan, workers=args.workers, beam_args=beam_args,
                    show_progress=not args.no_progress, stream=stream)


def run_plan(sources: list[str], output: str, plan: VideoPlan, *, workers: int = 1, beam_args: list[str] = (),
             show_progress: bool = False, stream=sys.stderr, job: str = "video") -> dict:
    """Run the video job on ``sources`` into ``output``; returns its summary (as printed)."""
    wanted = requested_attributes(parse_attributes(list(plan.attributes)))
    if workers > 1:  # every worker gets ranges, even of one short video
        plan = replace(plan, parallelism=max(plan.parallelism, 2 * workers))

    def build(p, run_id, config):
        versions = FaceAnalyzer(config).versions_used(plan.faces, wanted) if plan.faces else {}
        matched = p | "Match" >> MatchImages(list(sources), run_id)
        tables = matched["uris"] | "Videos" >> VideoTables(output, run_id, plan, config=config,
                                                           model_versions=versions)
        match_errors = matched["errors"] | "WriteMatchErrors" >> WriteTable(output, "errors", run_id)
        return [tables["staged"], match_errors]

    def summarize(counters, counts, seconds):
        inputs = counters.get("inputs", 0)
        frames = counters.get("video_frames", 0)
        return {"sources": list(sources), "inputs": inputs, "videos": counts["videos"],
                "video_faces": counts["video_faces"], "segments": counts["segments"],
                "video_matches": counts["video_matches"], "errors": counts["errors"],
                "errors_by_reason": counts["errors_by_reason"],
                "reconciled": inputs == counts["videos"] + counts["errors"],
                "frames_decoded": frames, "frames_per_second": round(frames / max(seconds, 1e-9), 1),
                "face_detection": plan.faces, "segment_types": list(plan.segment_types),
                "fps": plan.fps, "attributes": list(plan.attributes)}

    return launcher.launch(job, build, output=output, workers=workers, beam_args=list(beam_args),
                           summarize=summarize, tables=TABLES,
                           keys=lambda m: column_values(m.get("videos", []) + m.get("errors", []), "uri"),
                           show_progress=show_progress, stream=stream)


# --- the background runs of Rekognition's Start* calls (facelake.video) -------------------------------

def run_job(jobs: JobStore, job_id: str) -> dict:
    """Run a recorded video job to its end; records SUCCEEDED, or FAILED with a StatusMessage
    (the video's error row, or what stopped the run)."""
    record = jobs.get(job_id)
    try:
        run_plan([record["Uri"]], jobs.output(job_id), VideoPlan.from_dict(record["Plan"]), job=record["Kind"])
        failed = jobs.table(job_id, "errors").to_pylist()
        if failed:
            return jobs.update(job_id, JobStatus="FAILED", StatusMessage=f"{failed[0]['reason']}: "
                                                                          f"{failed[0]['message']}"[:1000])
        return jobs.update(job_id, JobStatus="SUCCEEDED")
    except Exception as e:
        return jobs.update(job_id, JobStatus="FAILED", StatusMessage=f"{type(e).__name__}: {e}"[:1000])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--job"]:  # the background run of a Start* call
        ap = argparse.ArgumentParser(prog="facelake.pipelines.video --job")
        ap.add_argument("--job", required=True)
        ap.add_argument("--store", required=True)
        a = ap.parse_args(argv)
        return 0 if run_job(JobStore(a.store), a.job)["JobStatus"] == "SUCCEEDED" else 1
    return launcher.main(run, argv, "facelake video")


if __name__ == "__main__":
    sys.exit(main())
