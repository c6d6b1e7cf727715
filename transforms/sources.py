"""Matching inputs: files, folders, globs and prefixes on any fsspec filesystem (local, s3://, ...)."""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam
import fsspec

from facelake.schemas.tables import error_row
from facelake.store.tables import full_uri

from .progress import ProgressReporter

GLOB_CHARS = set("*?[")


def _hidden(path: str) -> bool:
    return path.rstrip("/").rsplit("/", 1)[-1].startswith(".")


def expand(source: str) -> Iterator[str]:
    """Every file a source names: itself, everything under a folder, a glob's matches, or, for a
    path that is neither, every object whose key starts with it (an S3 prefix). Hidden files
    (name starting with a dot) inside folders are left out."""
    fs, path = fsspec.core.url_to_fs(source)
    if GLOB_CHARS & set(path):
        matches = [p for p in fs.glob(path) if fs.isfile(p)]
    elif fs.isfile(path):
        yield full_uri(fs, path)
        return
    elif fs.isdir(path):
        matches = [p for p in fs.find(path) if not _hidden(p)]
    else:
        matches = [p for p in fs.find(path.rsplit("/", 1)[0] if "/" in path else path) if p.startswith(path)]
    if not matches:
        raise FileNotFoundError(f"{source} matches no file")
    yield from (full_uri(fs, p) for p in sorted(matches))


class _Expand(beam.DoFn):
    def __init__(self, run_id: str):
        self.run_id = run_id

    def setup(self):
        self.progress = ProgressReporter()

    def process(self, source: str):
        try:
            uris = list(expand(source))
        except Exception as e:  # any filesystem error: the source becomes one error row
            beam.metrics.Metrics.counter("facelake", "inputs").inc()
            self.progress.add(inputs=1, errors=1)
            reason = "NotFound" if isinstance(e, FileNotFoundError) else "Unreadable"
            yield beam.pvalue.TaggedOutput("errors", error_row(source, "match", reason, str(e), self.run_id))
            return
        self.progress.add(inputs=len(uris))  # display only; ReadImage counts each file once
        yield from uris

    def teardown(self):
        self.progress.flush()


class MatchImages(beam.PTransform):
    """sources -> file URIs, each once (a file named by two sources is analysed once), spread out
    for parallel reading. A source that matches nothing gives an error row on ``errors``."""

    def __init__(self, sources: list[str], run_id: str = ""):
        super().__init__()
        self.sources = list(sources)
        self.run_id = run_id

    def expand(self, pbegin):
        out = (pbegin | "Sources" >> beam.Create(self.sources)
               | "Expand" >> beam.ParDo(_Expand(self.run_id)).with_outputs("errors", main="uris"))
        uris = out.uris | "Once" >> beam.Distinct()
        return {"uris": uris, "errors": out.errors}
