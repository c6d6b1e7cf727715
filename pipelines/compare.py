"""The compare-libraries job: which faces of library A appear in library B (or within one library).

    facelake compare-libraries A [B] --output OUT [--threshold 80] [--workers N] [beam options]

A and B are faces tables written by ``facelake detect`` (its OUT folder or OUT/faces), local or
s3://. Without B, A is compared with itself and each pair is reported once. Writes
OUT/pairs/: every pair of faces at or above the similarity threshold, found exactly by blocked
matrix products (B is held in memory by each worker: 1M faces take 512 MB). With ``--ann``,
B is first written to a LanceDB table with an ANN index under OUT/_ann/ and each face of A
asks it for its ``--max-matches`` nearest faces: for libraries too large for memory, at the
cost of missing pairs beyond that many neighbours (and ANN recall, ~0.99 at 1M faces).
"""

from __future__ import annotations

import argparse
import sys

import apache_beam as beam

from facelake.settings import JOIN_BATCH
from facelake.store.collections import build_scratch_table
from facelake.store.tables import absolute, column_values, faces_files, join, remove
from facelake.transforms.parquet import WriteTable
from facelake.transforms.search import PairsAgainst, PairsAgainstANN, read_face_rows

from . import launcher


def run(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="facelake compare-libraries", description=__doc__.splitlines()[0])
    ap.add_argument("a", metavar="A", type=absolute)
    ap.add_argument("b", metavar="B", nargs="?", type=absolute)
    ap.add_argument("--output", required=True, metavar="OUT", type=absolute)
    ap.add_argument("--threshold", type=float, default=80.0, help="similarity 0-100 (80 = descriptor distance 0.6)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--ann", action="store_true", help="search B through an ANN index instead of exactly")
    ap.add_argument("--max-matches", type=int, default=100, help="with --ann: neighbours asked per face")
    args, beam_args = ap.parse_known_args(argv)
    if not 0 <= args.threshold <= 100:
        raise ValueError("--threshold must be 0-100")
    a_files = faces_files(args.a)
    b_files = faces_files(args.b) if args.b else a_files

    def build(p, run_id, config):
        if args.ann:
            ann_uri = join(args.output, "_ann", run_id)
            build_scratch_table(b_files, ann_uri)
            pairs = PairsAgainstANN(ann_uri, args.threshold, args.max_matches, args.b is None, run_id)
        else:
            pairs = PairsAgainst(b_files, args.threshold, args.b is None, run_id)
        return [p
                | "Files" >> beam.Create(a_files)
                | "Faces" >> beam.FlatMap(read_face_rows)
                | "Spread" >> beam.Reshuffle()
                | "Batch" >> beam.BatchElements(min_batch_size=JOIN_BATCH[0], max_batch_size=JOIN_BATCH[1])
                | "Pairs" >> beam.ParDo(pairs)
                | "Write" >> WriteTable(args.output, "pairs", run_id)]

    def summarize(counters, counts, seconds):
        return {"a": args.a, "b": args.b or args.a, "threshold": args.threshold,
                "method": "ann" if args.ann else "exact", "pairs": counts["pairs"]}

    try:
        # a re-run replaces the pairs of library A's faces
        return launcher.launch("compare-libraries", build, output=args.output, workers=args.workers,
                               beam_args=beam_args, summarize=summarize, tables=("pairs",), key="face_id_a",
                               keys=lambda manifest: column_values(a_files, "face_id"), show_progress=False)
    finally:
        if args.ann:
            remove(join(args.output, "_ann"))


def main(argv: list[str] | None = None) -> int:
    return launcher.main(run, argv, "facelake compare-libraries")


if __name__ == "__main__":
    sys.exit(main())
