"""The index job: every face of a photo library into a face collection (Rekognition's IndexFaces, in bulk).

    facelake index SOURCE... --collection ID [--store URI] [--create] [--quality-filter AUTO]
                   [--output OUT] [--workers N] [--skip-existing] [beam options]

The detect job's tables (images / faces / errors, by default under STORE/_runs/<collection>/)
plus the collection write of facelake.transforms.collection: faces passing the QualityFilter
are merged into the collection in one atomic commit at the end. Each face's ExternalImageId is
its file's name; the full URI is kept in source_uri.
"""

from __future__ import annotations

import sys

from facelake.models.registry import ModelRegistry
from facelake.schemas.requests import check_member
from facelake.schemas.errors import ValidationException
from facelake.schemas.rekognition import QUALITY_FILTERS
from facelake.store.collections import CollectionStore, default_store
from facelake.store.tables import absolute, join
from facelake.transforms.collection import IndexIntoCollection

from . import launcher


def add_arguments(ap) -> None:
    ap.add_argument("--collection", required=True, metavar="ID")
    ap.add_argument("--store", metavar="URI", type=absolute, help="the collections' store (default $FACELAKE_STORE or ~/.facelake/store)")
    ap.add_argument("--create", action="store_true", help="create the collection if it does not exist")
    ap.add_argument("--quality-filter", default="AUTO", choices=QUALITY_FILTERS)


def run(argv: list[str] | None = None, stream=sys.stderr) -> dict:
    args, beam_args = launcher.photo_parser("facelake index", __doc__.splitlines()[0], add_arguments,
                                            output_required=False).parse_known_args(argv)
    try:
        check_member("IndexFaces", "CollectionId", args.collection)
    except ValidationException as e:
        raise ValueError(f"--collection: {e.message}") from None
    store_uri = args.store or default_store()
    store = CollectionStore(store_uri)
    version = ModelRegistry().versions()["embedder"]
    if not store.exists(args.collection):
        if not args.create:
            raise ValueError(f"collection {args.collection} does not exist in {store_uri} (use --create)")
        store.create(args.collection, version)
    args.output = args.output or join(store_uri, "_runs", args.collection)
    before = store.info(args.collection)["face_count"]

    def extend(pcolls, run_id):
        return [pcolls["faces"]
                | "Index" >> IndexIntoCollection(args.output, args.collection, version, run_id, args.quality_filter)]

    def summarize(counters):
        return {"collection": {"id": args.collection, "store": store_uri, "faces_before": before,
                               "inserted": 0,  # set by the commit's merge
                               "unindexed": counters.get("collection_unindexed", 0),
                               "quality_filter": args.quality_filter}}

    summary = launcher.photo_job("index", args, beam_args, stream, extend, summarize=summarize,
                                 collection={"store": store_uri, "id": args.collection})
    summary["collection"]["faces_after"] = store.info(args.collection)["face_count"]
    return summary


def main(argv: list[str] | None = None) -> int:
    return launcher.main(run, argv, "facelake index")


if __name__ == "__main__":
    sys.exit(main())
