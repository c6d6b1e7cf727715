"""Exact nearest-face joins by blocked matrix products (euclidean distance on descriptors)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def _block(n_base: int, budget_bytes: int) -> int:
    """Queries per block so that a block's distance matrix stays within the budget."""
    return max(1, budget_bytes // (16 * max(n_base, 1)))  # ~4 float32 matrices of block x n_base alive


def pairs_within(queries: np.ndarray, base: np.ndarray, max_distance: float, budget_bytes: int = 512 << 20,
                 same_set: bool = False) -> Iterator[np.ndarray]:
    """Every (query index, base index, distance) with distance <= max_distance, one array of
    rows per block of queries. ``same_set``: queries and base are the same vectors; each
    unordered pair is reported once and a vector is not paired with itself.

    |q - b|^2 = |q|^2 + |b|^2 - 2 q.b, one (block x len(base)) product at a time, so memory
    stays near ``budget_bytes`` however large the inputs are.
    """
    q = np.asarray(queries, np.float32)
    b = np.asarray(base, np.float32)
    bn = (b * b).sum(1)
    block = _block(len(b), budget_bytes)
    limit = max_distance * max_distance
    for s in range(0, len(q), block):
        qb = q[s:s + block]
        d2 = (qb * qb).sum(1)[:, None] + bn[None, :] - 2.0 * (qb @ b.T)
        if same_set:  # keep j > i only
            cols = np.arange(len(b))[None, :]
            rows = np.arange(s, s + len(qb))[:, None]
            d2 = np.where(cols > rows, d2, np.inf)
        i, j = np.nonzero(d2 <= limit)
        yield np.stack([i + s, j, np.sqrt(np.maximum(d2[i, j], 0.0))], 1)


def nearest(queries: np.ndarray, base: np.ndarray, k: int, budget_bytes: int = 512 << 20) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest base vectors of each query: (indices, distances), nearest first."""
    q = np.asarray(queries, np.float32)
    b = np.asarray(base, np.float32)
    bn = (b * b).sum(1)
    block = _block(len(b), budget_bytes)
    k = min(k, len(b))
    idx, dist = [], []
    for s in range(0, len(q), block):
        qb = q[s:s + block]
        d2 = (qb * qb).sum(1)[:, None] + bn[None, :] - 2.0 * (qb @ b.T)
        part = np.argpartition(d2, k - 1, axis=1)[:, :k]
        pd = np.take_along_axis(d2, part, 1)
        order = np.argsort(pd, 1)
        idx.append(np.take_along_axis(part, order, 1))
        dist.append(np.sqrt(np.maximum(np.take_along_axis(pd, order, 1), 0.0)))
    return np.concatenate(idx), np.concatenate(dist)
