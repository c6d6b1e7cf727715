"""Matching inputs: files, folders, globs and prefixes on any fsspec filesystem (local, s3://, ...)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import apache_beam as beam
import fsspec
from fsspec.implementations.local import LocalFileSystem

from facelake.models.images import storage_error
from facelake.schemas.tables import error_row
from facelake.store.tables import full_uri

from .progress import ProgressReporter

GLOB_CHARS = set("*?[")


def _hidden(path: str) -> bool:
    return path.rstrip("/").rsplit("/", 1)[-1].startswith(".")


def _local_walk(root: str) -> Iterator[str]:
    """Every file and special file under a local folder, following symlinked folders; a folder
    reached twice (a link loop, or two links to one folder) is walked once."""
    seen: set[tuple[int, int]] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        yield from (os.path.join(folder, f) for f in files if not f.startswith("."))


def expand(source: str) -> Iterator[str]:
    """Every file a source names: itself, everything under a folder, a glob's matches, or, for a
    path that is neither, every object whose key starts with it (an S3 prefix). A path that
    exists is taken literally, even with glob characters in its name. Hidden files and folders
    (name starting with a dot) inside folders are left out; local symlinked folders are
    followed. Special files (FIFOs, sockets, devices) are listed, so that they get an error row."""
    fs, path = fsspec.core.url_to_fs(source)
    local = isinstance(fs, LocalFileSystem)
    if fs.isfile(path) or (local and os.path.exists(path) and not os.path.isdir(path)):
        yield full_uri(fs, path)
        return
    if fs.isdir(path):
        matches = list(_local_walk(path)) if local else [p for p in fs.find(path) if not _hidden(p)]
    elif GLOB_CHARS & set(path):
        matches = [p for p in fs.glob(path) if not fs.isdir(p)]
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
            if isinstance(e, FileNotFoundError) and "matches no file" in str(e):
                reason, message = "NotFound", str(e)
            else:  # the cause as Rekognition's exception: AccessDeniedException, InvalidS3ObjectException
                err = storage_error(source, e)
                reason, message = err.code, err.message.replace("cannot read", "cannot list", 1)
            yield beam.pvalue.TaggedOutput("errors", error_row(source, "match", reason, message, self.run_id))
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
