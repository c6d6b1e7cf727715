"""Grouping face descriptors into persons: a k-nearest-neighbour graph, then centroid-linkage
agglomeration along its edges.

Why not single link ("two faces closer than 0.6 are the same person")? One borderline pair
joins two people, and chains of such pairs join many. Here two groups merge only when their
centroids (mean descriptors) are within ``merge_distance``: a chain of look-alikes pulls the
centroids apart, so it stops. Edges are taken shortest first, so each group grows from its
densest core.

The graph: an inverted-file partition of the descriptors (k-means cells); the faces of a cell
are compared exactly with those of the ``probe`` cells nearest to it, by blocked matrix
products, so the work grows with N x (faces per cell) instead of N squared. Each cell's part is
independent of the others': ``facelake group`` computes them in parallel on Beam.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GroupSettings:
    # chosen with benchmarks/persons.py: F is flat from merge_distance 0.47 to 0.54 there, and
    # look-alikes merge from 0.55; k must exceed the near-copies of one photo (bursts, edits)
    neighbours: int = 24  # k of the graph
    edge_distance: float = 0.6  # pairs farther apart are no edge
    merge_distance: float = 0.5  # groups merge when their centroids are this close
    min_faces: int = 2  # smaller groups stay unassigned
    cell_size: int = 256  # faces per k-means cell of the graph's partition
    probe: int = 8  # cells each face is compared with


def means_by_label(x: np.ndarray, labels: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Face count and mean descriptor of each label 0..groups-1 (one pass per dimension: no
    sorted copy of ``x``)."""
    counts = np.bincount(labels, minlength=groups)
    sums = np.stack([np.bincount(labels, weights=x[:, j], minlength=groups) for j in range(x.shape[1])], 1)
    return counts, (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)


def _sq_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, x)


def kmeans(x: np.ndarray, cells: int, iterations: int = 8, seed: int = 0, sample: int = 100_000) -> np.ndarray:
    """Cell centres fitted on a sample of ``x``."""
    rng = np.random.default_rng(seed)
    fit = x[rng.choice(len(x), min(len(x), sample), replace=False)] if len(x) > sample else x
    centres = fit[rng.choice(len(fit), cells, replace=False)].copy()
    for _ in range(iterations):
        assign = nearest_centre(fit, centres)
        order = np.argsort(assign, kind="stable")
        used, starts = np.unique(assign[order], return_index=True)
        sums = np.add.reduceat(fit[order], starts, axis=0, dtype=np.float64)
        counts = np.diff(np.r_[starts, len(fit)])
        centres[used] = (sums / counts[:, None]).astype(np.float32)
    return centres


def nearest_centre(x: np.ndarray, centres: np.ndarray, top: int = 1) -> np.ndarray:
    out = np.empty((len(x), top), np.int64)
    cn = _sq_norms(centres)
    block = max(256, (1 << 25) // max(1, len(centres)))  # 128 MB of distances at a time
    for s in range(0, len(x), block):
        d = cn[None, :] - 2 * x[s:s + block] @ centres.T
        out[s:s + block] = np.argsort(d, axis=1)[:, :top] if top > 1 else d.argmin(1)[:, None]
    return out[:, 0] if top == 1 else out


def split_large_cells(x: np.ndarray, centres: np.ndarray, cell: np.ndarray,
                      cell_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Cells of more than twice ``cell_size`` faces (a frequent person, a dense region) split by
    k-means inside them: a cell's cost is its faces times its candidates, so one huge cell would
    cost more than all the others."""
    counts = np.bincount(cell, minlength=len(centres))
    extra = []
    cell = cell.copy()
    for c in np.flatnonzero(counts > 2 * cell_size):
        faces = np.flatnonzero(cell == c)
        sub = kmeans(x[faces], int(np.ceil(len(faces) / cell_size)), iterations=4)
        which = nearest_centre(x[faces], sub)
        centres[c] = sub[0]
        for j in range(1, len(sub)):
            extra.append(sub[j])
            cell[faces[which == j]] = len(centres) + len(extra) - 1
    return (np.vstack([centres, np.asarray(extra, np.float32)]) if extra else centres), cell


@dataclass(frozen=True)
class Partition:
    """The graph's cells: the faces of cell c are ``order[bounds[c]:bounds[c + 1]]`` (rows of x);
    they are compared with the faces of the cells ``candidates(c)``."""
    order: np.ndarray  # int64, the rows of x by cell
    bounds: np.ndarray  # int64, cells + 1
    near: np.ndarray  # int64 (cells, probe): the cells whose centres lie nearest each cell's

    @property
    def cells(self) -> int:
        return len(self.bounds) - 1

    def candidates(self, c: int) -> list[int]:
        """The cells cell c's faces are compared with, c itself first."""
        return [c] + [int(p) for p in self.near[c] if p != c]


def partition(x: np.ndarray, cell_size: int = 256, probe: int = 8) -> Partition:
    """k-means cells of about ``cell_size`` faces (large ones split), each with its ``probe``
    nearest cells."""
    cells = max(1, len(x) // cell_size)
    centres = kmeans(x, cells) if cells > 1 else x.mean(0, keepdims=True)
    x_cell = nearest_centre(x, centres)
    centres, x_cell = split_large_cells(x, centres, x_cell, cell_size)
    cells = len(centres)
    probe = min(probe, cells)
    order = np.argsort(x_cell, kind="stable")
    bounds = np.searchsorted(x_cell[order], np.arange(cells + 1))
    near = nearest_centre(centres, centres, top=probe) if probe > 1 else np.arange(cells)[:, None]
    return Partition(order, bounds, near)


def cell_neighbours(q: np.ndarray, own: np.ndarray, cand: np.ndarray, k: int,
                    block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """For each query vector of ``q``, the positions in ``cand`` (int32) and the distances of its
    ``k`` nearest candidates (-1 / inf where fewer); ``own[i]`` is query i's own position in
    ``cand`` (left out), -1 for none."""
    idx = np.full((len(q), k), -1, np.int32)
    dist = np.full((len(q), k), np.inf, np.float32)
    kk = min(k, len(cand))
    if not len(q) or not kk:
        return idx, dist
    cn = _sq_norms(cand)
    for s in range(0, len(q), block):
        qb, ob = q[s:s + block], own[s:s + block]
        d2 = cn[None, :] - 2 * (qb @ cand.T) + _sq_norms(qb)[:, None]
        mine = ob >= 0
        d2[np.flatnonzero(mine), ob[mine]] = np.inf
        part = np.argpartition(d2, kk - 1, axis=1)[:, :kk] if kk < len(cand) else np.tile(np.arange(kk), (len(qb), 1))
        pd = np.take_along_axis(d2, part, 1)
        o = np.argsort(pd, axis=1)
        idx[s:s + block, :kk] = np.take_along_axis(part, o, 1)
        dist[s:s + block, :kk] = np.sqrt(np.maximum(np.take_along_axis(pd, o, 1), 0))
    idx[~np.isfinite(dist)] = -1
    return idx, dist


def knn_graph(x: np.ndarray, k: int, cell_size: int = 256, probe: int = 8,
              queries: np.ndarray | None = None, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """For each face of ``queries`` (indices into x; default every face), the indices into ``x``
    (int32) and the distances of its ``k`` nearest other faces (-1 / inf where fewer exist),
    compared with the faces of its cell and the cell's nearest cells (``partition``). Here in
    this process; ``facelake group`` does the same cell by cell on Beam (transforms/grouping.py)."""
    x = np.ascontiguousarray(x, np.float32)
    rows = np.arange(len(x)) if queries is None else np.asarray(queries, np.int64)
    idx = np.full((len(rows), k), -1, np.int32)
    dist = np.full((len(rows), k), np.inf, np.float32)
    if not len(x) or not len(rows):
        return idx, dist
    part = partition(x, cell_size, probe)
    slot = np.full(len(x), -1, np.int64)  # a query's row in the result
    slot[rows] = np.arange(len(rows))
    for c in range(part.cells):
        members = part.order[part.bounds[c]:part.bounds[c + 1]]
        want = slot[members] >= 0
        if not want.any():
            continue
        cand = np.concatenate([part.order[part.bounds[p]:part.bounds[p + 1]] for p in part.candidates(c)])
        mine = np.flatnonzero(want)
        near, d = cell_neighbours(x[members[mine]], mine, x[cand], k, block)
        at = slot[members[mine]]
        idx[at] = np.where(near >= 0, cand[np.maximum(near, 0)], -1)
        dist[at] = d
    return idx, dist


def _nearest_per_row(r: np.ndarray, c: np.ndarray, d: np.ndarray, k: int):
    """The k smallest ``d`` of each row ``r`` (hits given as rows, columns, distances), sorted by
    row then distance."""
    order = np.lexsort((d, r))
    r, c, d = r[order], c[order], d[order]
    keep = np.arange(len(r)) - np.searchsorted(r, r) < k
    return r[keep], c[keep], d[keep]


def exact_neighbours(x: np.ndarray, queries: np.ndarray, k: int, max_distance: float,
                     allowed: np.ndarray | None = None, block: int = 1024,
                     tile: int = 16384) -> tuple[np.ndarray, np.ndarray]:
    """For each row of x listed in ``queries`` (indices), the indices (int32) and distances of its
    ``k`` nearest other rows of x within ``max_distance`` (-1 / inf where fewer), among the rows
    ``allowed`` (a mask; default all). Exact: blocked matrix products over every row of x, the
    squared norms folded into the product ([-2q, 1] . [b, |b|^2]) and only pairs under the limit
    kept, so a tile costs one product and one comparison. For the few faces an incremental run
    adds, this beats partitioning the whole collection."""
    x = np.ascontiguousarray(x, np.float32)
    queries = np.asarray(queries, np.int64)
    idx = np.full((len(queries), k), -1, np.int32)
    dist = np.full((len(queries), k), np.inf, np.float32)
    limit = np.float32(max_distance ** 2)
    for qs in range(0, len(queries), block):
        rows = queries[qs:qs + block]
        q = x[rows]
        qa = np.hstack([-2 * q, np.ones((len(q), 1), np.float32)])
        bound = (limit - _sq_norms(q))[:, None]
        hr, hc, hd = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32))
        for s in range(0, len(x), tile):
            b = x[s:s + tile]
            d2 = qa @ np.hstack([b, _sq_norms(b)[:, None]]).T  # |b|^2 - 2 q.b
            hit = np.flatnonzero(d2 <= bound)
            if not len(hit):
                continue
            r, c = np.divmod(hit, d2.shape[1])
            d = d2.ravel()[hit]
            c += s
            ok = c != rows[r]  # not the face itself
            if allowed is not None:
                ok &= allowed[c]
            hr, hc, hd = np.r_[hr, r[ok]], np.r_[hc, c[ok]], np.r_[hd, d[ok]]
            if len(hr) > 4 * k * len(rows):  # keep memory bounded when many faces are close
                hr, hc, hd = _nearest_per_row(hr, hc, hd, k)
        hr, hc, hd = _nearest_per_row(hr, hc, hd, k)
        rank = np.arange(len(hr)) - np.searchsorted(hr, hr)
        idx[qs + hr, rank] = hc
        dist[qs + hr, rank] = np.sqrt(np.maximum(hd + _sq_norms(q)[hr], 0))
    return idx, dist


def cluster(x: np.ndarray, idx: np.ndarray, dist: np.ndarray, settings: GroupSettings = GroupSettings(),
            fixed: np.ndarray | None = None) -> np.ndarray:
    """A group label per face of ``x`` (-1: in no group of ``min_faces``) from its graph
    (``idx``/``dist`` as knn_graph gives them, for every face of ``x``).

    ``fixed``: a label per face, >= 0 for faces already in a group that stays (an existing
    person), -1 for free faces; fixed groups take free faces but never merge with each other.
    Labels of fixed groups are kept; new groups get labels above them."""
    n = len(x)
    parent = np.arange(n)
    sums: dict[int, np.ndarray] = {}  # descriptor sums of groups of more than one face, by root
    counts = np.ones(n, np.int64)
    locked = np.zeros(n, bool)
    if fixed is not None and (fixed >= 0).any():
        faces = np.flatnonzero(fixed >= 0)
        faces = faces[np.argsort(fixed[faces], kind="stable")]
        starts = np.flatnonzero(np.r_[True, np.diff(fixed[faces]) != 0])
        roots = faces[starts]  # each fixed group's first face is its root
        parent[faces] = np.repeat(roots, np.diff(np.r_[starts, len(faces)]))
        sums.update(zip(roots.tolist(), np.add.reduceat(x[faces], starts, axis=0, dtype=np.float64)))
        counts[roots] = np.diff(np.r_[starts, len(faces)])
        locked[roots] = True

    def find(v: int) -> int:
        while parent[v] != v:
            parent[v] = parent[parent[v]]
            v = parent[v]
        return v

    # the edges, with as few full-size temporaries as possible (1M faces: 24M candidate edges)
    keep = ((idx >= 0) & (dist <= settings.edge_distance)).ravel()
    rows = np.repeat(np.arange(n, dtype=np.int32), idx.shape[1])[keep]
    cols = idx.ravel()[keep].astype(np.int32)
    ds = dist.ravel()[keep]
    del keep
    swap = rows > cols
    rows[swap], cols[swap] = cols[swap], rows[swap]
    del swap
    keys = rows.astype(np.int64)
    del rows
    keys *= n
    keys += cols
    del cols
    keys, first = np.unique(keys, return_index=True)  # a pair in both faces' lists counts once
    ds = ds[first]
    order = np.argsort(ds, kind="stable")
    a, b = (keys // n)[order].astype(np.int32), (keys % n)[order].astype(np.int32)
    del keys, first, ds, order
    limit = settings.merge_distance ** 2
    total = lambda r: sums[r] if r in sums else x[r].astype(np.float64)  # noqa: E731
    # the edges as Python ints a slice at a time: two whole lists peaked 0.5 GB higher at 1M faces
    step = 1 << 16
    edges = ((i, j) for s in range(0, len(a), step) for i, j in zip(a[s:s + step].tolist(), b[s:s + step].tolist()))
    for i, j in edges:
        ra, rb = find(i), find(j)
        if ra == rb or (locked[ra] and locked[rb]):
            continue
        sa, sb = total(ra), total(rb)
        diff = sa / counts[ra] - sb / counts[rb]
        if diff @ diff > limit:
            continue
        if locked[rb] or (counts[rb] > counts[ra] and not locked[ra]):
            ra, rb, sa, sb = rb, ra, sb, sa  # the larger (or the fixed) group's root stays
        parent[rb] = ra
        sums[ra] = sa + sb
        sums.pop(rb, None)
        counts[ra] += counts[rb]
    roots = np.array([find(i) for i in range(n)], np.int64)
    uniq, inverse, sizes = np.unique(roots, return_inverse=True, return_counts=True)
    next_label = int(fixed.max()) + 1 if fixed is not None and (fixed >= 0).any() else 0
    group_label = np.full(len(uniq), -1, np.int64)
    fresh = ~locked[uniq] & (sizes >= settings.min_faces)
    group_label[fresh] = next_label + np.arange(int(fresh.sum()))
    if fixed is not None:
        group_label[locked[uniq]] = fixed[uniq[locked[uniq]]]
    return group_label[inverse]
