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

from facelake.settings import SEARCH_BATCH
from facelake.store.collections import CollectionStore, default_store
from facelake.store.tables import absolute
from facelake.transforms.parquet import WriteTable
from facelake.transforms.search import SearchCollection

from . import launcher


def add_arguments(ap) -> None:
    ap.add_argument("--collection", required=True, metavar="ID")
    ap.add_argument("--store", metavar="URI", type=absolute)
    ap.add_argument("--max-matches", type=int, default=10, help="matches kept per query face (1-4096)")
    ap.add_argument("--threshold", type=float, default=80.0, help="FaceMatchThreshold, similarity 0-100")


def run(argv: list[str] | None = None, stream=sys.stderr) -> dict:
    args, beam_args = launcher.photo_parser("facelake search", __doc__.splitlines()[0],
                                            add_arguments).parse_known_args(argv)
    store = args.store or default_store()
    if not 1 <= args.max_matches <= 4096 or not 0 <= args.threshold <= 100:
        raise ValueError("--max-matches must be 1-4096 and --threshold 0-100")
    if not CollectionStore(store).exists(args.collection):
        raise ValueError(f"collection {args.collection} does not exist in {store}")

    def extend(pcolls, run_id):
        return [pcolls["faces"]
                | "BatchQueries" >> beam.BatchElements(min_batch_size=1, max_batch_size=SEARCH_BATCH)
                | "Search" >> beam.ParDo(SearchCollection(store, args.collection, args.max_matches, args.threshold,
                                                          run_id))
                | "WriteMatches" >> WriteTable(args.output, "matches", run_id)]

    def summarize(counters):
        return {"collection": {"id": args.collection, "store": store, "threshold": args.threshold,
                               "max_matches": args.max_matches}}

    return launcher.photo_job("search", args, beam_args, stream, extend, tables=("matches",), summarize=summarize)


def main(argv: list[str] | None = None) -> int:
    return launcher.main(run, argv, "facelake search")


if __name__ == "__main__":
    sys.exit(main())
