"""Faces of a video into persons: tracks within a shot, then tracks joined across shots.

1. Tracks: frame by frame (in order), each face joins the track of the shot that it overlaps
   most (IoU) with a descriptor close enough, or else the track whose descriptor is closest
   if it is very close (a face that moved fast, or came back after an occlusion); otherwise
   it starts a track. A track never crosses a hard cut and takes one face per frame.
2. Persons: tracks are joined by average linkage on their descriptors (distance between their
   mean descriptors), closest first, while the distance stays under ``join_distance``; two
   tracks seen on the same frame are two people and are never joined.

Person indices count from 0 in the order persons first appear.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class TrackSettings:
    min_iou: float = 0.3  # a face overlapping its track's last box this much ...
    iou_distance: float = 0.6  # ... joins it if its descriptor is within this distance
    reid_distance: float = 0.45  # a face joins a track of the shot without overlap only this close
    max_gap_seconds: float = 5.0  # a track waits this long for its face to come back within a shot
    join_distance: float = 0.6  # tracks of one person across shots: dlib's own same-person bar


@dataclass
class _Track:
    shot: int
    last_frame: int
    last_box: np.ndarray
    total: np.ndarray  # descriptor sum
    faces: list[int] = field(default_factory=list)
    frames: set[int] = field(default_factory=set)

    @property
    def mean(self) -> np.ndarray:
        return self.total / len(self.faces)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def track(frames: np.ndarray, boxes: np.ndarray, descriptors: np.ndarray, cuts: list[int], rate: float,
          settings: TrackSettings = TrackSettings()) -> np.ndarray:
    """A person index per face. ``frames``: each face's frame number (ascending); ``boxes``:
    (n, 4) x1, y1, x2, y2 as ratios of the frame; ``descriptors``: (n, 128); ``cuts``: first
    frames of shots after hard cuts (sorted)."""
    n = len(frames)
    if n == 0:
        return np.zeros(0, np.int64)
    max_gap = settings.max_gap_seconds * rate
    tracks: list[_Track] = []
    active: list[int] = []
    i = 0
    while i < n:
        j = i
        while j < n and frames[j] == frames[i]:
            j += 1
        frame = int(frames[i])
        shot = bisect.bisect_right(cuts, frame)
        active = [t for t in active if tracks[t].shot == shot and frame - tracks[t].last_frame <= max_gap]
        pairs = []  # (1 - overlap, descriptor distance, face, track): overlap first, then distance
        for f in range(i, j):
            for t in active:
                tr = tracks[t]
                d = float(np.linalg.norm(descriptors[f] - tr.mean))
                o = iou(boxes[f], tr.last_box)
                if o >= settings.min_iou and d <= settings.iou_distance:
                    pairs.append((1.0 - o, d, f, t))
                elif d <= settings.reid_distance:
                    pairs.append((1.0, d, f, t))
        pairs.sort()
        owner: dict[int, int] = {}  # face -> its track, greedily, best pairs first
        for _, _, f, t in pairs:
            if f not in owner and t not in owner.values():
                owner[f] = t
        for f in range(i, j):
            t = owner.get(f)
            if t is None:
                t = len(tracks)
                tracks.append(_Track(shot, frame, boxes[f], np.zeros(descriptors.shape[1], np.float64)))
                active.append(t)
            tr = tracks[t]
            tr.last_frame, tr.last_box = frame, boxes[f]
            tr.total += descriptors[f]
            tr.faces.append(f)
            tr.frames.add(frame)
        i = j
    person = _join(tracks, settings.join_distance)
    out = np.empty(n, np.int64)
    for t, tr in enumerate(tracks):
        out[tr.faces] = person[t]
    # number persons in the order they first appear
    order = {}
    for p in out:
        order.setdefault(int(p), len(order))
    return np.array([order[int(p)] for p in out], np.int64)


def _join(tracks: list[_Track], join_distance: float) -> list[int]:
    """A person label per track: centroid linkage (closest pair of groups first, the merged
    group's mean recomputed), never joining groups seen on the same frame."""
    g = len(tracks)
    totals = np.stack([t.total for t in tracks])
    counts = np.array([len(t.faces) for t in tracks], np.float64)
    means = totals / counts[:, None]
    sq = np.einsum("ij,ij->i", means, means)
    d = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * means @ means.T, 0))
    by_frame: dict[int, list[int]] = {}
    for t, tr in enumerate(tracks):
        for f in tr.frames:
            by_frame.setdefault(f, []).append(t)
    conflict = np.eye(g, dtype=bool)
    for members in by_frame.values():
        if len(members) > 1:
            conflict[np.ix_(members, members)] = True
    d[conflict] = np.inf
    label = list(range(g))
    while True:
        flat = int(np.argmin(d))
        a, b = divmod(flat, g)
        if d[a, b] > join_distance:
            break
        totals[a] += totals[b]
        counts[a] += counts[b]
        means[a] = totals[a] / counts[a]
        conflict[a] |= conflict[b]
        conflict[:, a] = conflict[a]
        row = np.linalg.norm(means - means[a], axis=1)
        row[conflict[a]] = np.inf
        d[a], d[:, a] = row, row
        d[b], d[:, b] = np.inf, np.inf
        label = [a if x == b else x for x in label]
    return label
