"""Grouping face descriptors into persons: a k-nearest-neighbour graph, then centroid-linkage
agglomeration along its edges.

Why not single link ("two faces closer than 0.6 are the same person")? One borderline pair
joins two people, and chains of such pairs join many. Here two groups merge only when their
centroids (mean descriptors) are within ``merge_distance``: a chain of look-alikes pulls the
centroids apart, so it stops. Edges are taken shortest first, so each group grows from its
densest core.

The graph: an inverted-file partition of the descriptors (k-means cells); each face is compared
exactly with the faces of its ``probe`` nearest cells, by blocked matrix products, so the work
grows with N x (faces per cell) instead of N squared.
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
    cell_size: int = 2000  # faces per k-means cell of the graph's partition
    probe: int = 4  # cells each face is compared with


def _sq_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, x)


def kmeans(x: np.ndarray, cells: int, iterations: int = 8, seed: int = 0, sample: int = 100_000) -> np.ndarray:
    """Cell centres fitted on a sample of ``x``."""
    rng = np.random.default_rng(seed)
    fit = x[rng.choice(len(x), min(len(x), sample), replace=False)] if len(x) > sample else x
    centres = fit[rng.choice(len(fit), cells, replace=False)].copy()
    for _ in range(iterations):
        assign = nearest_centre(fit, centres)
        sums = np.zeros_like(centres, dtype=np.float64)
        np.add.at(sums, assign, fit)
        counts = np.bincount(assign, minlength=cells)
        full = counts > 0
        centres[full] = (sums[full] / counts[full, None]).astype(np.float32)
    return centres


def nearest_centre(x: np.ndarray, centres: np.ndarray, top: int = 1, block: int = 65536) -> np.ndarray:
    out = np.empty((len(x), top), np.int64)
    cn = _sq_norms(centres)
    for s in range(0, len(x), block):
        d = cn[None, :] - 2 * x[s:s + block] @ centres.T
        out[s:s + block] = np.argsort(d, axis=1)[:, :top] if top > 1 else d.argmin(1)[:, None]
    return out[:, 0] if top == 1 else out


def knn_graph(x: np.ndarray, k: int, cell_size: int = 2000, probe: int = 4,
              queries: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each face of ``queries`` (default: every face of ``x``, itself left out), the indices
    into ``x`` and the distances of its ``k`` nearest faces (-1 / inf where fewer exist)."""
    x = np.ascontiguousarray(x, np.float32)
    own = queries is None
    q = x if own else np.ascontiguousarray(queries, np.float32)
    idx = np.full((len(q), k), -1, np.int64)
    dist = np.full((len(q), k), np.inf, np.float32)
    if not len(x) or not len(q):
        return idx, dist
    cells = max(1, len(x) // cell_size)
    probe = min(probe, cells)
    centres = kmeans(x, cells) if cells > 1 else x.mean(0, keepdims=True)
    x_cell = nearest_centre(x, centres)
    members = [np.flatnonzero(x_cell == c) for c in range(cells)]
    q_cells = nearest_centre(q, centres, top=probe) if probe > 1 else nearest_centre(q, centres)[:, None]
    xn = _sq_norms(x)
    # queries sharing a first cell share their candidates: one matrix product per (cell, probe set)
    for c in range(cells):
        rows = np.flatnonzero(q_cells[:, 0] == c)
        if not len(rows):
            continue
        groups: dict[tuple, list[int]] = {}
        for r in rows:
            groups.setdefault(tuple(sorted(q_cells[r])), []).append(r)
        for probe_set, rs in groups.items():
            rs = np.asarray(rs)
            cand = np.concatenate([members[p] for p in probe_set])
            d2 = xn[cand][None, :] - 2 * (q[rs] @ x[cand].T) + _sq_norms(q[rs])[:, None]
            if own:
                d2[rs[:, None] == cand[None, :]] = np.inf
            kk = min(k, len(cand))
            part = np.argpartition(d2, kk - 1, axis=1)[:, :kk]
            pd = np.take_along_axis(d2, part, 1)
            order = np.argsort(pd, axis=1)
            idx[rs, :kk] = cand[np.take_along_axis(part, order, 1)]
            dist[rs, :kk] = np.sqrt(np.maximum(np.take_along_axis(pd, order, 1), 0))
    idx[~np.isfinite(dist)] = -1
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
    sums = x.astype(np.float64).copy()
    counts = np.ones(n, np.int64)
    locked = np.zeros(n, bool)
    if fixed is not None and (fixed >= 0).any():
        faces = np.flatnonzero(fixed >= 0)
        faces = faces[np.argsort(fixed[faces], kind="stable")]
        starts = np.flatnonzero(np.r_[True, np.diff(fixed[faces]) != 0])
        roots = faces[starts]  # each fixed group's first face is its root
        parent[faces] = np.repeat(roots, np.diff(np.r_[starts, len(faces)]))
        sums[roots] = np.add.reduceat(x[faces].astype(np.float64), starts, axis=0)
        counts[roots] = np.diff(np.r_[starts, len(faces)])
        locked[roots] = True

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    rows = np.repeat(np.arange(n), idx.shape[1])
    cols, ds = idx.ravel(), dist.ravel()
    keep = (cols >= 0) & (ds <= settings.edge_distance) & (rows != cols)
    a, b, ds = np.minimum(rows, cols)[keep], np.maximum(rows, cols)[keep], ds[keep]
    pairs = np.unique(a * n + b, return_index=True)[1]  # a pair in both faces' lists counts once
    a, b, ds = a[pairs], b[pairs], ds[pairs]
    limit = settings.merge_distance ** 2
    for e in np.argsort(ds, kind="stable"):
        ra, rb = find(a[e]), find(b[e])
        if ra == rb or (locked[ra] and locked[rb]):
            continue
        diff = sums[ra] / counts[ra] - sums[rb] / counts[rb]
        if diff @ diff > limit:
            continue
        if locked[rb] or (counts[rb] > counts[ra] and not locked[ra]):
            ra, rb = rb, ra  # the larger (or the fixed) group's root stays
        parent[rb] = ra
        sums[ra] += sums[rb]
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
