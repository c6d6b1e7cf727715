"""Exact nearest-face joins by blocked matrix products (euclidean distance on descriptors)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def _squared_distances(queries: np.ndarray, base: np.ndarray, budget_bytes: int) -> Iterator[tuple[int, np.ndarray]]:
    """(first query index, squared distances of a block of queries to every base vector), block
    by block: |q - b|^2 = |q|^2 + |b|^2 - 2 q.b, with blocks sized so that the ~4 float32
    (block x len(base)) matrices alive at once stay within ``budget_bytes``."""
    q = np.asarray(queries, np.float32)
    b = np.asarray(base, np.float32)
    bn = (b * b).sum(1)
    block = max(1, budget_bytes // (16 * max(len(b), 1)))
    for s in range(0, len(q), block):
        qb = q[s:s + block]
        yield s, (qb * qb).sum(1)[:, None] + bn[None, :] - 2.0 * (qb @ b.T)


TILE_QUERIES, TILE_BASE = 512, 16384  # a tile's products (32 MB) and its comparison stay near the caches


def pairs_within(queries: np.ndarray, base: np.ndarray, max_distance: float, budget_bytes: int = 512 << 20,
                 same_set: bool = False) -> Iterator[np.ndarray]:
    """Every (query index, base index, distance) with distance <= max_distance, one array of
    rows per block of queries. ``same_set``: queries and base are the same vectors; each
    unordered pair is reported once and a vector is not paired with itself.

    |q - b|^2 <= limit  <=>  |b|^2 - 2 q.b <= limit - |q|^2, and the left side is one matrix
    product of [-2q, 1] by [b, |b|^2], so a (query x base) tile costs that product, one
    comparison and a flat scan for its few hits: no distance matrix is made. Memory beyond a
    copy of ``base`` stays within ``budget_bytes`` however large the inputs are.
    """
    limit = np.float32(max_distance * max_distance)
    q = np.asarray(queries, np.float32)
    b = np.asarray(base, np.float32)
    dim = b.shape[1] if b.ndim == 2 else q.shape[1]
    bt = np.empty((dim + 1, len(b)), np.float32)
    bt[:dim] = b.T
    bt[dim] = (b * b).sum(1)
    tile_q = max(1, min(TILE_QUERIES, len(q), budget_bytes // (5 * TILE_BASE)))
    tile_b = max(1, min(TILE_BASE, budget_bytes // (5 * tile_q)))
    for s in range(0, len(q), tile_q):
        qb = q[s:s + tile_q]
        qa = np.empty((len(qb), dim + 1), np.float32)
        qa[:, :dim] = -2.0 * qb
        qa[:, dim] = 1.0
        bound = (limit - (qb * qb).sum(1))[:, None]  # |b|^2 - 2 q.b at most this
        found = []
        for t in range(s + 1 if same_set else 0, len(b), tile_b):  # same set: base tiles right of the diagonal
            g = qa @ bt[:, t:t + tile_b]
            hits = np.flatnonzero(g <= bound)
            i, j = np.divmod(hits, g.shape[1])
            if same_set:
                keep = j + t > i + s
                hits, i, j = hits[keep], i[keep], j[keep]
            d2 = g.ravel()[hits] - bound[i, 0] + limit
            found.append(np.stack([i + s, j + t, np.sqrt(np.maximum(d2, 0.0))], 1))
        yield np.concatenate(found) if found else np.empty((0, 3))


def nearest(queries: np.ndarray, base: np.ndarray, k: int, budget_bytes: int = 512 << 20) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest base vectors of each query: (indices, distances), nearest first."""
    k = min(k, len(base))
    idx, dist = [], []
    for _, d2 in _squared_distances(queries, base, budget_bytes):
        part = np.argpartition(d2, k - 1, axis=1)[:, :k]
        pd = np.take_along_axis(d2, part, 1)
        order = np.argsort(pd, 1)
        idx.append(np.take_along_axis(part, order, 1))
        dist.append(np.sqrt(np.maximum(np.take_along_axis(pd, order, 1), 0.0)))
    return np.concatenate(idx), np.concatenate(dist)
