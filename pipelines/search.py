"""The search job: every face of a query library against a face collection (SearchFacesByImage, in bulk).

    facelake search SOURCE... --collection ID [--store URI] --output OUT [--max-matches 10]
                    [--threshold 80] [--workers N] [beam options]

The detect job's tables (images / faces / errors) plus OUT/matches/: for each query face, its
most similar faces in the collection at or above the similarity threshold (rank 1 = best),
with their FaceId, ExternalImageId and source URI.
"""

from __future__ import annotations

import sys

import apache_beam as beam

from facelake.collections import CollectionStore, default_store
from facelake.transforms.parquet import WriteTable
from facelake.transforms.search import SearchCollection

from . import detect


def add_arguments(ap) -> None:
    ap.add_argument("--collection", required=True, metavar="ID")
    ap.add_argument("--store", metavar="URI")
    ap.add_argument("--max-matches", type=int, default=10, help="matches kept per query face (1-4096)")
    ap.add_argument("--threshold", type=float, default=80.0, help="FaceMatchThreshold, similarity 0-100")


def run(argv: list[str] | None = None, stream=sys.stderr) -> dict:
    args, beam_args = detect.parse_args(argv, prog="facelake search", description=__doc__.splitlines()[0],
                                        add_arguments=add_arguments)
    store = args.store or default_store()
    if not 1 <= args.max_matches <= 4096 or not 0 <= args.threshold <= 100:
        raise ValueError("--max-matches must be 1-4096 and --threshold 0-100")
    if not CollectionStore(store).exists(args.collection):
        raise ValueError(f"collection {args.collection} does not exist in {store}")

    def extend(pcolls, run_id):
        (pcolls["faces"]
         | "BatchQueries" >> beam.BatchElements(min_batch_size=1, max_batch_size=256)
         | "Search" >> beam.ParDo(SearchCollection(store, args.collection, args.max_matches, args.threshold, run_id))
         | "WriteMatches" >> WriteTable(args.output, "matches", run_id))

    summary = detect.execute(args, beam_args, stream, extend)
    summary["matches"] = summary["counters"].get("matches", 0)
    summary["collection"] = {"id": args.collection, "store": store, "threshold": args.threshold,
                             "max_matches": args.max_matches}
    return summary


def main(argv: list[str] | None = None) -> int:
    return detect.main(argv, run=run, prog="facelake search")


if __name__ == "__main__":
    sys.exit(main())
