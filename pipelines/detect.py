"""The detect job: analyse every face of a photo library into images / faces / errors Parquet.

    facelake detect SOURCE... --output OUT [--attributes ...] [--workers N] [--skip-existing] [beam options]

SOURCE: files, folders, globs or prefixes, local or s3:// (any fsspec URL). OUT: a local path
or s3://. Runs on Beam's in-process runner by default; ``--workers N`` runs N worker processes
on this machine; any other Beam runner is chosen with Beam's own options (--runner=...).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
import uuid

import apache_beam as beam
import fsspec
import pyarrow.parquet as pq
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from facelake.models.analyzer import AnalyzerConfig
from facelake.models.images import ImageLimits
from facelake.models.registry import ModelRegistry
from facelake.schemas.rekognition import ATTRIBUTE_NAMES
from facelake.transforms.faces import DetectFaces
from facelake.transforms.parquet import WriteTable, join
from facelake.transforms.progress import ENV as PROGRESS_ENV
from facelake.transforms.progress import ProgressPrinter
from facelake.transforms.sources import MatchImages

LOCAL_RUNNERS = {"FnApiRunner", "DirectRunner", "BundleBasedDirectRunner", None}


def pipeline_options(beam_args: list[str], workers: int) -> PipelineOptions:
    """Beam's options from the command line: Beam's in-process runner unless another is named
    (the DirectRunner would first fetch Prism), with ``workers`` local worker processes."""
    options = PipelineOptions(beam_args)
    if options.view_as(StandardOptions).runner in (None, "DirectRunner"):
        options.view_as(StandardOptions).runner = "FnApiRunner"
    if workers > 1:
        direct = options.view_as(DirectOptions)
        direct.direct_num_workers = workers
        direct.direct_running_mode = "multi_processing"
    return options


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def existing_image_ids(output: str) -> frozenset[str]:
    """image_ids already in OUT/images (for --skip-existing)."""
    fs, path = fsspec.core.url_to_fs(join(output, "images"))
    if not fs.exists(path):
        return frozenset()
    ids: set[str] = set()
    for f in fs.glob(join(path, "*.parquet")):
        with fs.open(f, "rb") as fh:
            ids.update(pq.read_table(fh, columns=["image_id"]).column("image_id").to_pylist())
    return frozenset(ids)


def build(p: beam.Pipeline, sources: list[str], output: str, run_id: str, *, config: AnalyzerConfig,
          limits: ImageLimits, attributes: list[str], skip_ids: frozenset[str], batch_size: int = 8) -> dict:
    """The detect job's graph; returns its images / faces / errors PCollections for jobs that
    add steps (facelake index)."""
    matched = p | "Match" >> MatchImages(sources, run_id)
    found = matched["uris"] | "Detect" >> DetectFaces(run_id, config, limits, attributes, skip_ids, batch_size)
    errors = (matched["errors"], found["errors"]) | "AllErrors" >> beam.Flatten()
    found["images"] | "WriteImages" >> WriteTable(output, "images", run_id)
    found["faces"] | "WriteFaces" >> WriteTable(output, "faces", run_id)
    errors | "WriteErrors" >> WriteTable(output, "errors", run_id)
    return {"images": found["images"], "faces": found["faces"], "errors": errors}


def table_counts(output: str, run_id: str, tables=("images", "faces", "errors")) -> dict:
    """Rows this run committed, per table, and errors by reason (read back from the files)."""
    fs, _ = fsspec.core.url_to_fs(output)
    fs.invalidate_cache()  # listings cached before the run would miss its files
    counts, reasons = {}, Counter()
    for table in tables:
        n = 0
        for f in fs.glob(join(output, table, f"{run_id}-*.parquet")):
            with fs.open(f, "rb") as fh:
                if table == "errors":
                    rows = pq.read_table(fh, columns=["reason"]).column("reason").to_pylist()
                    reasons.update(rows)
                    n += len(rows)
                else:
                    n += pq.ParquetFile(fh).metadata.num_rows
        counts[table] = n
    counts["errors_by_reason"] = dict(sorted(reasons.items()))
    return counts


@contextlib.contextmanager
def local_run_display(show_progress: bool, quiet_workers: bool, stream):
    """While a local run works: a progress line on ``stream``, and local worker processes'
    own logging (INFO by default, inherited stderr) diverted to a log file. Yields its path."""
    log_path = saved_fd = own_stream = None
    if quiet_workers:
        fd, log_path = tempfile.mkstemp(prefix="facelake-workers-", suffix=".log")
        sys.stderr.flush()
        saved_fd = os.dup(2)
        os.dup2(fd, 2)
        os.close(fd)
        if stream is sys.stderr:
            stream = own_stream = os.fdopen(os.dup(saved_fd), "w")
    printer = progress_dir = None
    if show_progress:
        progress_dir = tempfile.mkdtemp(prefix="facelake-progress-")
        os.environ[PROGRESS_ENV] = progress_dir
        printer = ProgressPrinter(progress_dir, stream)
        printer.start()
    try:
        yield log_path
    finally:
        if printer:
            printer.stop()
            os.environ.pop(PROGRESS_ENV, None)
            shutil.rmtree(progress_dir, ignore_errors=True)
        if saved_fd is not None:
            sys.stderr.flush()
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
        if own_stream:
            own_stream.close()


def parse_args(argv: list[str] | None, prog: str = "facelake detect", description: str = __doc__.splitlines()[0],
               add_arguments=None, output_required: bool = True):
    ap = argparse.ArgumentParser(prog=prog, description=description)
    ap.add_argument("sources", nargs="+", metavar="SOURCE")
    ap.add_argument("--output", required=output_required, metavar="OUT")
    if add_arguments:
        add_arguments(ap)
    ap.add_argument("--attributes", nargs="+", default=["DEFAULT"], choices=ATTRIBUTE_NAMES)
    ap.add_argument("--workers", type=int, default=1, help="worker processes on this machine (default 1)")
    ap.add_argument("--skip-existing", action="store_true", help="skip images whose content is already in OUT")
    ap.add_argument("--batch-size", type=int, default=8, help="images per model batch (default 8)")
    ap.add_argument("--no-progress", action="store_true")
    return ap.parse_known_args(argv)


def run(argv: list[str] | None = None, stream=sys.stderr) -> dict:
    return execute(*parse_args(argv), stream=stream)


def execute(args, beam_args: list[str], stream=sys.stderr, extend=None) -> dict:
    """Run the detect job; ``extend(pcollections, run_id)`` may add steps (facelake index)."""
    if args.workers < 1 or args.batch_size < 1:
        raise ValueError("--workers and --batch-size must be at least 1")
    options = pipeline_options(beam_args, args.workers)
    local = options.view_as(StandardOptions).runner in LOCAL_RUNNERS
    threads = max(1, (os.cpu_count() or 1) // args.workers) if local else 0
    config = AnalyzerConfig(threads=threads)
    run_id = new_run_id()
    skip_ids = existing_image_ids(args.output) if args.skip_existing else frozenset()
    fs, out_path = fsspec.core.url_to_fs(args.output)
    fs.makedirs(out_path, exist_ok=True)

    started = time.time()
    with local_run_display(local and not args.no_progress, args.workers > 1, stream) as log_path:
        try:
            with beam.Pipeline(options=options) as p:
                pcolls = build(p, args.sources, args.output, run_id, config=config, limits=ImageLimits(),
                               attributes=args.attributes, skip_ids=skip_ids, batch_size=args.batch_size)
                if extend:
                    extend(pcolls, run_id)
        except Exception as e:
            if log_path:
                e.add_note(f"worker log: {log_path}")
            raise
    result = p.result

    counters = {}
    if result is not None:
        for c in result.metrics().query()["counters"]:
            counters[c.key.metric.name] = counters.get(c.key.metric.name, 0) + c.committed
    counts = table_counts(args.output, run_id)
    inputs = counters.get("inputs", 0)
    skipped = counters.get("skipped", 0)
    summary = {
        "run_id": run_id,
        "output": args.output,
        "sources": args.sources,
        "inputs": inputs,
        "images": counts["images"],
        "faces": counts["faces"],
        "errors": counts["errors"],
        "skipped": skipped,
        "errors_by_reason": counts["errors_by_reason"],
        "reconciled": inputs == counts["images"] + counts["errors"] + skipped,
        "seconds": round(time.time() - started, 2),
        "images_per_second": round(counts["images"] / max(time.time() - started, 1e-9), 2),
        "runner": options.view_as(StandardOptions).runner,
        "workers": args.workers,
        "attributes": args.attributes,
        "model_versions": ModelRegistry().versions(),
        "counters": dict(sorted(counters.items())),
    }
    staging = join(out_path, "_staging")
    if fs.exists(join(staging, run_id)):
        fs.rm(join(staging, run_id), recursive=True)
    if fs.exists(staging) and not fs.ls(staging):
        fs.rm(staging, recursive=True)
    fs.makedirs(join(out_path, "runs"), exist_ok=True)
    with fs.open(join(out_path, "runs", f"{run_id}.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


def main(argv: list[str] | None = None, run=run, prog: str = "facelake detect") -> int:
    summary = run(argv)
    print(json.dumps(summary, indent=2, default=str))
    if not summary["reconciled"]:
        print(f"{prog}: counts do not reconcile: inputs {summary['inputs']} != images "
              f"{summary['images']} + errors {summary['errors']} + skipped {summary['skipped']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
