"""What every Beam job shares: Beam's options, the run id, the lease on OUT and the recovery of
killed runs, local progress, the exactly-once commit and the run summary. A job module only
parses its own arguments and adds its steps.

    summary = launch("detect", build, output=OUT, workers=N, beam_args=[...], summarize=..., tables=...)

``build(pipeline, run_id, config)`` adds the job's steps and returns their staged files;
``summarize(counters, counts, seconds)`` gives the job's own summary fields. The summary is
printed by ``main`` and saved as ``OUT/runs/<run_id>.json`` by the commit.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, PortableOptions, StandardOptions

from facelake.models.analyzer import AnalyzerConfig
from facelake.models.images import ImageLimits
from facelake.models.registry import ModelRegistry
from facelake.schemas.rekognition import ATTRIBUTE_NAMES
from facelake.settings import IMAGES_PER_BATCH
from facelake.store.commit import Lease, apply, prepare, read_manifest, recover
from facelake.store.tables import absolute, column_values, existing_image_ids, make_output, remove, row_counts, staging_folder
from facelake.transforms.parquet import RecordStaged
from facelake.transforms.photos import PhotoTables
from facelake.transforms.progress import ENV as PROGRESS_ENV
from facelake.transforms.progress import WORKERS_NAMESPACE
from facelake.transforms.progress import ProgressPrinter

LOCAL_RUNNERS = {"FnApiRunner", "DirectRunner", "BundleBasedDirectRunner", None}


def pipeline_options(beam_args: list[str], workers: int) -> PipelineOptions:
    """Beam's options from the command line: Beam's in-process runner unless another is named
    (the DirectRunner would first fetch Prism), with ``workers`` local workers: threads of this
    process sharing one set of loaded models (FnApiRunner's multi-threading mode; its worker
    processes start slower and pass every element between processes: 256 photos took 40% longer
    on two of them than on two threads, BENCHMARKS.md). Any other
    runner is refused ``workers``: its own options set its parallelism (Beam's Python job service
    behind the PortableRunner ignores direct_num_workers and runs one worker). The run summary's
    ``worker_processes`` says how many processes did the work, whatever the runner."""
    if workers < 1:
        raise ValueError("--workers must be at least 1")
    options = PipelineOptions(beam_args)
    standard = options.view_as(StandardOptions)
    if standard.runner in LOCAL_RUNNERS:
        refuse_unknown(options, beam_args)
    if standard.runner in (None, "DirectRunner"):
        standard.runner = "FnApiRunner"
    if workers > 1:
        if standard.runner not in LOCAL_RUNNERS:
            raise ValueError(f"--workers is for local runs; on {standard.runner} the runner's own options set "
                             "its parallelism (FlinkRunner: --parallelism N)")
        direct = options.view_as(DirectOptions)
        direct.direct_num_workers = workers
        direct.direct_running_mode = "multi_threading"
    return options


def refuse_unknown(options: PipelineOptions, beam_args: list[str]) -> None:
    """Refuse an argument that is neither the command's nor one of Beam's options (a misspelt
    --treshold would otherwise be handed to Beam, which drops it with a line in the log). Only
    on local runners: a portable runner forwards options Beam's Python SDK does not know (a Flink
    job server's own) to the runner, which may know them."""
    parsers = []
    options.get_all_options(add_extra_args_fn=parsers.append)  # Beam's parser of every option it knows
    _, unknown = parsers[0].parse_known_args(beam_args)
    if unknown:
        known = [o for action in parsers[0]._actions for o in action.option_strings]
        near = difflib.get_close_matches(unknown[0].split("=", 1)[0], known, n=1)
        hint = f" (a Beam option is close: {near[0]})" if near else ""
        raise ValueError(f"unrecognised argument {unknown[0]}: neither this command's nor one of Beam's "
                         f"options{hint}; see --help")


def check_endpoints(options: PipelineOptions) -> None:
    """Fail at once, saying which, where a portable job's job service or external worker pool
    does not answer (Beam itself would wait minutes, then raise a bare timeout)."""
    portable = options.view_as(PortableOptions)
    endpoints = []
    if options.view_as(StandardOptions).runner == "PortableRunner" and portable.job_endpoint not in (None, "embed"):
        endpoints.append(("Beam job service (--job_endpoint)", portable.job_endpoint))
    if (portable.environment_type or "").upper() == "EXTERNAL" and portable.environment_config:
        endpoints.append(("SDK worker pool (--environment_config)", portable.environment_config))
    for what, endpoint in endpoints:
        host, _, port = endpoint.rpartition(":")
        try:
            socket.create_connection((host or "localhost", int(port)), timeout=10).close()
        except (OSError, ValueError) as e:
            raise ValueError(f"no {what} answers at {endpoint}: {e}") from None


def worker_counts(result) -> tuple[dict[str, int], dict[str, int]]:
    """A finished pipeline's counters by name, and the inputs each worker process analysed."""
    counters: dict[str, int] = {}
    workers: dict[str, int] = {}
    for c in result.metrics().query()["counters"]:
        into = workers if c.key.metric.namespace == WORKERS_NAMESPACE else counters
        into[c.key.metric.name] = into.get(c.key.metric.name, 0) + c.committed
    return counters, workers


def is_local(options: PipelineOptions) -> bool:
    return options.view_as(StandardOptions).runner in LOCAL_RUNNERS


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


@contextlib.contextmanager
def progress_display(show: bool, stream):
    """While a local run works: a progress line on ``stream``."""
    if not show:
        yield
        return
    progress_dir = tempfile.mkdtemp(prefix="facelake-progress-")
    os.environ[PROGRESS_ENV] = progress_dir
    printer = ProgressPrinter(progress_dir, stream)
    printer.start()
    try:
        yield
    finally:
        printer.stop()
        os.environ.pop(PROGRESS_ENV, None)
        shutil.rmtree(progress_dir, ignore_errors=True)


def launch(job: str, build: Callable[[beam.Pipeline, str, AnalyzerConfig], list], *, output: str, workers: int,
           beam_args: list[str], summarize: Callable[[dict, dict, float], dict], tables: tuple[str, ...],
           key: str = "uri", keys: Callable[[dict], set[str]] | None = None, collection: dict | None = None,
           show_progress: bool = True, stream=sys.stderr) -> dict:
    """Run one job (see the module docstring) and return its summary.

    ``build`` returns the PCollections of (table, staged file) the job writes; ``tables`` names
    them. Rows already in those tables whose ``key`` is in ``keys(manifest)`` (default: the uris
    of this run's images and errors rows, i.e. its inputs) are replaced by this run's."""
    options = pipeline_options(beam_args, workers)
    check_endpoints(options)
    local = is_local(options)
    # onnxruntime threads: the local workers share this machine's cores
    config = AnalyzerConfig(threads=max(1, (os.cpu_count() or 1) // workers) if local else 0)
    run_id = new_run_id()
    make_output(output)
    started = time.time()
    with Lease(output, run_id):
        recover(output, running=run_id)  # finish what a killed run left; drop dead runs' staging
        with progress_display(local and show_progress, stream):
            try:
                with beam.Pipeline(options=options) as p:
                    staged = build(p, run_id, config)
                    tuple(staged) | "Commit" >> RecordStaged(output, run_id)
            except BaseException as e:
                try:  # a failed run commits nothing; what it staged goes (or goes at the next run's recovery)
                    remove(staging_folder(output, run_id))
                except Exception:
                    pass
                raise
        counters, processes = worker_counts(p.result) if p.result is not None else ({}, {})
        manifest = read_manifest(output, run_id)
        counts = row_counts(manifest, tables)
        seconds = time.time() - started
        summary = {"run_id": run_id, "job": job, "output": output, **summarize(counters, counts, seconds),
                   "seconds": round(seconds, 2), "runner": options.view_as(StandardOptions).runner,
                   "workers": workers if local else None, "worker_processes": sum(1 for n in processes.values() if n > 0),
                   "model_versions": ModelRegistry().versions(),
                   "counters": dict(sorted(counters.items()))}
        superseded = keys(manifest) if keys else column_values(manifest.get("images", []) + manifest.get("errors", []),
                                                                  "uri")
        intent = prepare(output, run_id, manifest, tables, key, superseded, summary, collection)
        apply(output, intent)
    return intent["summary"]


def repair(output: str) -> dict:
    """``facelake repair OUT``: finish the commit a killed run left, remove dead runs' staging."""
    with Lease(output, "repair-" + new_run_id()):
        return recover(output)


# --- the photo jobs (detect, index, search): the same arguments and the same tables -------------------

def photo_parser(prog: str, description: str, add_arguments=None, output_required: bool = True):
    ap = argparse.ArgumentParser(prog=prog, description=description)
    ap.add_argument("sources", nargs="+", metavar="SOURCE", type=absolute)
    ap.add_argument("--output", required=output_required, metavar="OUT", type=absolute)
    if add_arguments:
        add_arguments(ap)
    ap.add_argument("--attributes", nargs="+", default=["DEFAULT"], choices=ATTRIBUTE_NAMES)
    ap.add_argument("--workers", type=int, default=1, help="workers on this machine, threads of one process (default 1)")
    ap.add_argument("--skip-existing", action="store_true", help="skip images whose content is already in OUT")
    ap.add_argument("--batch-size", type=int, default=IMAGES_PER_BATCH,
                    help=f"images per model batch (default {IMAGES_PER_BATCH})")
    ap.add_argument("--thumbnails", action="store_true",
                    help="also keep a small JPEG crop of each face (OUT/thumbnails; facelake report uses them)")
    ap.add_argument("--no-progress", action="store_true")
    return ap


def photo_job(job: str, args, beam_args: list[str], stream=sys.stderr, extend=None, tables=(), summarize=None,
              collection: dict | None = None) -> dict:
    """Run a photo job: PhotoTables over ``args.sources`` into ``args.output``, then the steps
    ``extend(pcollections, run_id)`` adds (returning their staged files, for the extra ``tables``
    or the ``collection`` merge); ``summarize(counters)`` gives the job's own summary fields."""
    if args.batch_size < 1:
        raise ValueError("--batch-size must be at least 1")
    skip_ids = existing_image_ids(args.output) if args.skip_existing else frozenset()

    def build(p, run_id, config):
        pcolls = p | "Photos" >> PhotoTables(args.sources, args.output, run_id, config=config, limits=ImageLimits(),
                                             attributes=args.attributes, skip_ids=skip_ids,
                                             batch_size=args.batch_size, thumbnails=args.thumbnails)
        return [pcolls["staged"], *(extend(pcolls, run_id) if extend else [])]

    def photo_summary(counters, counts, seconds):
        inputs, skipped = counters.get("inputs", 0), counters.get("skipped", 0)
        return {"sources": args.sources, "inputs": inputs, "images": counts["images"], "faces": counts["faces"],
                "errors": counts["errors"], "skipped": skipped, "errors_by_reason": counts["errors_by_reason"],
                "reconciled": inputs == counts["images"] + counts["errors"] + skipped,
                "images_per_second": round(counts["images"] / max(seconds, 1e-9), 2), "attributes": args.attributes,
                **{t: counts[t] for t in tables},  # rows of the job's extra tables
                **(summarize(counters) if summarize else {})}

    return launch(job, build, output=args.output, workers=args.workers, beam_args=beam_args, summarize=photo_summary,
                  tables=("images", "faces", "errors", *(("thumbnails",) if args.thumbnails else ()), *tables),
                  collection=collection,
                  show_progress=not args.no_progress, stream=stream)


def run_repair(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="facelake repair", description=repair.__doc__.split(":", 1)[1].strip())
    ap.add_argument("output", metavar="OUT")
    args = ap.parse_args(argv)
    return {"output": args.output, **repair(args.output)}


def main(run: Callable[[list[str] | None], dict], argv: list[str] | None, prog: str) -> int:
    """Print a job's summary as JSON; exit 1 when its counts do not reconcile."""
    summary = run(argv)
    print(json.dumps(summary, indent=2, default=str))
    if summary.get("reconciled") is False:
        rows = " + ".join(f"{k} {summary[k]}" for k in ("images", "videos", "errors", "skipped") if k in summary)
        print(f"{prog}: counts do not reconcile: inputs {summary['inputs']} != {rows}", file=sys.stderr)
        return 1
    return 0
