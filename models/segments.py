"""Shots and technical cues from per-frame measures, in two steps so that a video can be cut into
frame ranges measured in parallel:

1. ``measure`` (per range): for each frame, how much it differs from the frame before
   (``change``), how close the pictures around a large change come back to each other
   (``returns``, 1 where the change is too small for a cut: around a camera flash they come
   back, around a cut they do not), the share of its pixels that are
   black by Rekognition's rule (``black``), and how much it looks like colour bars (``bars``).
2. ``shots`` / ``runs`` (per video, over the stitched measures): hard cuts where the change is
   large, several times the change around it (a dissolve, a fade or a camera move changes a
   little on every frame: no cut) and does not return (a flash); cues as runs of frames.

The frame difference is taken on 32x18 block means of Y, U and V (coarse enough that motion
moves little, fine enough that a new picture changes much) together with their histograms, and
is the smaller of that and the difference of the luma blocks normalised to zero mean and unit
spread: a fade or a flash scales the picture's brightness, which normalised blocks do not see,
while a new picture changes both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from .video import Frame

GRID = (18, 32)  # rows, columns of the block means
LOOKAHEAD = 4  # frames after a change that may return to the frame before it (a flash lasts <= 3)
WINDOW = 4  # frames each side whose changes set the local level a cut must stand out of
CUT_RATIO = 3.0  # a cut's change is at least this many times the local level
MIN_CUT = 0.12  # and at least this large (0..1)
FLASH_RETURN = 0.4  # frames after a flash come back within this share of the flash's change
FLAT_SPREAD = 2.0  # luma levels: a frame whose blocks spread less is flat (black, a grey card)


@dataclass(frozen=True)
class BlackRule:
    """Rekognition's BlackFrame filter: a pixel is black when its luma <= min + threshold x
    range (the stream's range: 16-235 limited, 0-255 full); a frame is black when at least
    ``min_coverage`` percent of its pixels are."""

    max_pixel_threshold: float = 0.2
    min_coverage: float = 99.0

    def max_luma(self, full_range: bool) -> float:
        low, high = (0, 255) if full_range else (16, 235)
        return low + self.max_pixel_threshold * (high - low)


@dataclass
class Signature:
    """What frame differences are taken on."""

    blocks: np.ndarray  # (3, 18, 32) float32: block means of Y, U, V
    hist: np.ndarray  # (48,) float32: 16-bin histograms of Y, U, V, each summing to 1
    shape: np.ndarray  # (18, 32) float32: luma blocks at zero mean and unit spread (0 on a flat frame)


def signature(frame: Frame) -> Signature:
    planes = (frame.luma, *frame.chroma)
    blocks = np.stack([_block_means(p) for p in planes])
    hist = np.concatenate([np.bincount(p[::4, ::4].ravel() >> 4, minlength=16) for p in planes]).astype(np.float32)
    hist /= hist[:16].sum()
    y = blocks[0]
    spread = float(y.std())
    shape = (y - y.mean()) / spread if spread >= FLAT_SPREAD else np.zeros_like(y)
    return Signature(blocks, hist, shape)


def _block_means(plane: np.ndarray) -> np.ndarray:
    rows, cols = GRID
    return cv2.resize(plane, (cols, rows), interpolation=cv2.INTER_AREA).astype(np.float32)


def difference(a: Signature, b: Signature) -> float:
    """0 (the same picture) .. 1: the smaller of (half block-mean difference, half histogram
    distance) and the normalised luma blocks' difference (1 for unrelated pictures)."""
    blocks = float(np.abs(a.blocks - b.blocks).mean()) / 64.0  # 64 levels of mean change: as new as it gets
    hist = float(np.abs(a.hist - b.hist).sum()) / 6.0  # three histograms, each distance <= 2
    shape = float(np.abs(a.shape - b.shape).mean()) / 1.13  # mean |x - y| of unrelated unit normals
    return min(0.5 * min(1.0, blocks) + 0.5 * hist, shape)


def black_share(frame: Frame, max_luma: float) -> float:
    """Percent of the frame's pixels at or below ``max_luma`` (every other pixel each way)."""
    y = frame.luma[::2, ::2]
    return 100.0 * np.count_nonzero(y <= max_luma) / y.size


def bars_score(frame: Frame) -> float:
    """0..1: how much the top of the frame looks like SMPTE (7 bars) or EBU (8 bars) colour
    bars: uniform vertical bands of strongly decreasing luma, several of them saturated."""
    y = frame.luma[: frame.luma.shape[0] * 3 // 5 : 4, ::4].astype(np.float32)
    u, v = (c[: c.shape[0] * 3 // 5 : 2, ::2].astype(np.float32) for c in frame.chroma)
    best = 0.0
    for k in (7, 8):
        means, spread, chroma = [], [], []
        for i in range(k):
            sl = slice(int((i + 0.2) * y.shape[1] / k), int((i + 0.8) * y.shape[1] / k))
            cl = slice(int((i + 0.2) * u.shape[1] / k), int((i + 0.8) * u.shape[1] / k))
            band = y[:, sl]
            means.append(band.mean())
            spread.append(band.std())
            chroma.append(np.hypot(u[:, cl].mean() - 128, v[:, cl].mean() - 128))
        steps = -np.diff(means)
        descending = float(np.clip(steps.min() / 10.0, 0, 1))  # every bar >= 10 levels darker than the last
        uniform = float(np.clip(1.5 - max(spread) / 8.0, 0, 1))  # bands flat (noise of coding allowed)
        saturated = float(np.clip((np.sum(np.asarray(chroma) > 30) - 3) / 2.0, 0, 1))  # >= 5 coloured bands
        best = max(best, descending * uniform * saturated)
    return best


@dataclass
class Measures:
    """Per-frame measures of frames ``start``..``start + len - 1`` (see the module docstring)."""

    start: int
    change: np.ndarray
    returns: np.ndarray
    black: np.ndarray
    bars: np.ndarray

    @staticmethod
    def stitch(parts: Iterable["Measures"]) -> "Measures":
        """Measures of consecutive ranges as one; raises ValueError on a gap or an overlap."""
        parts = sorted(parts, key=lambda m: m.start)
        at = parts[0].start if parts else 0
        for m in parts:
            if m.start != at:
                raise ValueError(f"frame ranges do not join: frame {at} expected, range starts at {m.start}")
            at += len(m.change)
        cat = (lambda name: np.concatenate([getattr(m, name) for m in parts]) if parts else np.zeros(0, np.float32))
        return Measures(parts[0].start if parts else 0, cat("change"), cat("returns"), cat("black"), cat("bars"))


def measure(frames: Iterable[Frame], start: int, stop: int, black_max_luma: float) -> Measures:
    """Measures of frames ``start``..``stop - 1``, given the frames from ``start - 1 - LOOKAHEAD``
    (or the first) to ``stop - 1 + LOOKAHEAD`` (or the last). Frames must come in order."""
    sigs: dict[int, Signature] = {}
    n = stop - start
    change, returns = np.zeros(n, np.float32), np.ones(n, np.float32)
    black, bars = np.zeros(n, np.float32), np.zeros(n, np.float32)
    seen = 0
    for fr in frames:
        sigs[fr.number] = sig = signature(fr)
        if start <= fr.number < stop:
            i = fr.number - start
            seen = i + 1
            black[i] = black_share(fr, black_max_luma)
            bars[i] = bars_score(fr)
            if fr.number - 1 in sigs:
                change[i] = difference(sigs[fr.number - 1], sig)
        # only where a cut may be (change >= MIN_CUT): is it a flash? A frame after frame f that
        # returns to frame f - 1 (f: the flash's first frame), or frame f back to one before f - 1
        # (f: the first after the flash).
        for k in range(1, LOOKAHEAD + 1):
            f = fr.number - k
            if start <= f < stop and change[f - start] >= MIN_CUT and f - 1 in sigs:
                returns[f - start] = min(returns[f - start], difference(sigs[f - 1], sig))
            i = fr.number - start
            if 0 <= i < n and change[i] >= MIN_CUT and fr.number - 1 - k in sigs:
                returns[i] = min(returns[i], difference(sigs[fr.number - 1 - k], sig))
        sigs.pop(fr.number - LOOKAHEAD - 2, None)
    return Measures(start, change[:seen], returns[:seen], black[:seen], bars[:seen])


def cuts(m: Measures, min_confidence: float = 50.0) -> list[tuple[int, float]]:
    """Hard cuts as (first frame of the new shot, confidence 50..100)."""
    c = m.change.astype(np.float64)
    found = []
    for i in np.flatnonzero(c >= MIN_CUT):
        around = np.concatenate([c[max(0, i - WINDOW): i], c[i + 1: i + 1 + WINDOW]])
        level = float(around.mean()) if len(around) else 0.0
        ratio = c[i] / max(level, 1e-3)
        if ratio < CUT_RATIO or c[i] < around.max(initial=0.0):
            continue  # not above its surroundings: a dissolve, fade or camera move
        if m.returns[i] < FLASH_RETURN * c[i]:
            continue  # the picture comes back: a flash, not a cut
        confidence = 100.0 * (1.0 - CUT_RATIO / (2.0 * ratio))
        if confidence >= min_confidence and m.start + i > 0:
            found.append((m.start + int(i), confidence))
    return found


def runs(flags: np.ndarray, start: int = 0) -> list[tuple[int, int]]:
    """Runs of true values as (first frame, last frame), inclusive."""
    f = np.concatenate([[False], np.asarray(flags, bool), [False]])
    edges = np.flatnonzero(np.diff(f.astype(np.int8)))
    return [(start + int(a), start + int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]
