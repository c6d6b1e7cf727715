"""The detect job: analyse every face of a photo library into images / faces / errors Parquet.

    facelake detect SOURCE... --output OUT [--attributes ...] [--workers N] [--skip-existing] [beam options]

SOURCE: files, folders, globs or prefixes, local or s3:// (any fsspec URL). OUT: a local path
or s3://. Runs on Beam's in-process runner by default; ``--workers N`` runs N workers (threads
of one process, one set of models) on this machine; any other Beam runner is chosen with Beam's own options (--runner=...).
"""

from __future__ import annotations

import sys

from . import launcher


def run(argv: list[str] | None = None, stream=sys.stderr) -> dict:
    args, beam_args = launcher.photo_parser("facelake detect", __doc__.splitlines()[0]).parse_known_args(argv)
    return launcher.photo_job("detect", args, beam_args, stream)


def main(argv: list[str] | None = None) -> int:
    return launcher.main(run, argv, "facelake detect")


if __name__ == "__main__":
    sys.exit(main())
