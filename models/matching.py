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


def pairs_within(queries: np.ndarray, base: np.ndarray, max_distance: float, budget_bytes: int = 512 << 20,
                 same_set: bool = False) -> Iterator[np.ndarray]:
    """Every (query index, base index, distance) with distance <= max_distance, one array of
    rows per block of queries. ``same_set``: queries and base are the same vectors; each
    unordered pair is reported once and a vector is not paired with itself.

    Memory stays near ``budget_bytes`` however large the inputs are.
    """
    limit = max_distance * max_distance
    for s, d2 in _squared_distances(queries, base, budget_bytes):
        if same_set:  # keep j > i only
            cols = np.arange(d2.shape[1])[None, :]
            rows = np.arange(s, s + len(d2))[:, None]
            d2 = np.where(cols > rows, d2, np.inf)
        i, j = np.nonzero(d2 <= limit)
        yield np.stack([i + s, j, np.sqrt(np.maximum(d2[i, j], 0.0))], 1)


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
