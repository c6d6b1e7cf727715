"""The persons' k-nearest-neighbour graph on Beam, one batch of cells per element.

The driver partitions the faces (models/grouping.partition) and writes a scratch folder the
workers read, wherever they run (a local folder, or the store's s3:// prefix):

    SCRATCH/vectors.f32   the vectors in cell order, raw float32 (a cell is one byte range)
    SCRATCH/cells.npz     bounds, near (each cell's candidate cells), is_query (in cell order)
    SCRATCH/graph/B.npz   what batch B found: pos (queries, cell order), idx (their neighbours,
                          cell order, -1 for none), dist

A worker reads only the byte ranges of the cells a batch needs. A retried batch writes the same
file again, so the graph is the same however often a bundle runs. A run removes its scratch
folder when it ends; folders a killed run left go at a later run, a day on.
"""

from __future__ import annotations

import datetime as dt
import io

import apache_beam as beam
import fsspec
import numpy as np

from facelake.models.grouping import Partition, cell_neighbours

FACES_PER_BATCH = 32_768  # about this many faces' neighbours per element (~2 s of products)
STALE = dt.timedelta(days=1)  # a scratch folder this old is a killed run's


def drop_stale_scratch(root: str, now: dt.datetime | None = None) -> list[str]:
    """Remove the scratch folders (named group-<UTC time>-<id>) of runs started over STALE ago."""
    fs, path = fsspec.core.url_to_fs(root)
    now = now or dt.datetime.now(dt.timezone.utc)
    gone = []
    for folder in fs.ls(path, detail=False) if fs.exists(path) else []:
        name = folder.rstrip("/").rsplit("/", 1)[-1]
        try:
            started = dt.datetime.strptime(name.split("-")[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
        except (IndexError, ValueError):
            continue  # not a scratch folder of ours
        if name.startswith("group-") and now - started > STALE:
            fs.rm(folder, recursive=True)
            gone.append(name)
    return gone


def write_scratch(scratch: str, x: np.ndarray, part: Partition, is_query: np.ndarray,
                  chunk: int = 65_536) -> list[tuple[int, int, int]]:
    """Write the workers' inputs; return the batches: (number, first cell, end cell)."""
    fs, path = fsspec.core.url_to_fs(scratch)
    fs.makedirs(f"{path}/graph", exist_ok=True)
    with fs.open(f"{path}/vectors.f32", "wb") as f:
        for s in range(0, len(part.order), chunk):  # a chunk at a time: no sorted copy of x
            f.write(np.ascontiguousarray(x[part.order[s:s + chunk]], np.float32).tobytes())
    buf = io.BytesIO()
    np.savez(buf, bounds=part.bounds, near=part.near, is_query=is_query[part.order], dim=x.shape[1])
    fs.pipe_file(f"{path}/cells.npz", buf.getvalue())
    batches, first, faces, held = [], 0, 0, 0
    counted = np.r_[0, np.cumsum(is_query[part.order])]
    asked = counted[part.bounds[1:]] - counted[part.bounds[:-1]]  # queries per cell
    size = np.diff(part.bounds)
    for c in range(part.cells):
        faces, held = faces + int(asked[c]), held + int(size[c])
        # a batch ends at FACES_PER_BATCH queries, or at 4x that many faces of its own cells (few
        # queries spread over many cells: a few new faces among many)
        if faces >= FACES_PER_BATCH or held >= 4 * FACES_PER_BATCH or c == part.cells - 1:
            batches.append((len(batches), first, c + 1))
            first, faces, held = c + 1, 0, 0
    return batches


class CellNeighbours(beam.DoFn):
    """(batch, first cell, end cell) -> the batch's graph file, written under SCRATCH/graph/."""

    def __init__(self, scratch: str, k: int, block: int = 1024):
        self.scratch, self.k, self.block = scratch, k, block

    def setup(self):
        self.fs, self.path = fsspec.core.url_to_fs(self.scratch)
        with self.fs.open(f"{self.path}/cells.npz", "rb") as f:
            cells = np.load(io.BytesIO(f.read()))
            self.bounds, self.near, self.is_query = cells["bounds"], cells["near"], cells["is_query"]
            self.dim = int(cells["dim"])
        self.part = Partition(np.empty(0, np.int64), self.bounds, self.near)

    def vectors(self, cells: list[int]) -> dict[int, np.ndarray]:
        """The vectors of these cells, each one byte range of vectors.f32."""
        cells = [c for c in cells if self.bounds[c] < self.bounds[c + 1]]
        size = 4 * self.dim
        data = self.fs.cat_ranges([f"{self.path}/vectors.f32"] * len(cells),
                                  [int(self.bounds[c]) * size for c in cells],
                                  [int(self.bounds[c + 1]) * size for c in cells])
        return {c: np.frombuffer(b, np.float32).reshape(-1, self.dim) for c, b in zip(cells, data)}

    def process(self, batch: tuple[int, int, int]):
        number, first, end = batch
        asked = [c for c in range(first, end) if self.is_query[self.bounds[c]:self.bounds[c + 1]].any()]
        vecs = self.vectors(sorted({p for c in asked for p in self.part.candidates(c)}))
        pos, idx, dist = [], [], []
        for c in asked:
            cand_cells = [p for p in self.part.candidates(c) if p in vecs]
            cand = np.concatenate([vecs[p] for p in cand_cells])
            # each candidate's position in cell order
            cand_pos = np.concatenate([np.arange(self.bounds[p], self.bounds[p + 1]) for p in cand_cells])
            mine = np.flatnonzero(self.is_query[self.bounds[c]:self.bounds[c + 1]])
            near, d = cell_neighbours(vecs[c][mine], mine, cand, self.k, self.block)
            pos.append(self.bounds[c] + mine)
            idx.append(np.where(near >= 0, cand_pos[np.maximum(near, 0)], -1).astype(np.int32))
            dist.append(d)
        buf = io.BytesIO()
        empty = (np.empty(0, np.int64), np.empty((0, self.k), np.int32), np.empty((0, self.k), np.float32))
        np.savez(buf, pos=np.concatenate(pos) if pos else empty[0], idx=np.concatenate(idx) if idx else empty[1],
                 dist=np.concatenate(dist) if dist else empty[2])
        self.fs.pipe_file(f"{self.path}/graph/{number:06d}.npz", buf.getvalue())
        beam.metrics.Metrics.counter("facelake", "graph_faces").inc(sum(len(p) for p in pos))
        yield number


def read_graph(scratch: str, part: Partition, n_queries: int, slot: np.ndarray, k: int, batches: int,
               ) -> tuple[np.ndarray, np.ndarray]:
    """The ``batches`` files assembled: for each query (``slot``: a row of x -> its query number,
    -1 for none), the rows of x of its neighbours (int32, -1 for none) and their distances."""
    fs, path = fsspec.core.url_to_fs(scratch)
    idx = np.full((n_queries, k), -1, np.int32)
    dist = np.full((n_queries, k), np.inf, np.float32)
    names = sorted(fs.ls(f"{path}/graph", detail=False))
    if len(names) != batches:
        raise RuntimeError(f"the graph has {len(names)} of its {batches} parts in {scratch}: the Beam run lost some")
    for name in names:
        with fs.open(name, "rb") as f:
            part_file = np.load(io.BytesIO(f.read()))
            rows = slot[part.order[part_file["pos"]]]
            near = part_file["idx"]
            idx[rows] = np.where(near >= 0, part.order[np.maximum(near, 0)], -1)
            dist[rows] = part_file["dist"]
    return idx, dist

