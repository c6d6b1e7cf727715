"""Eyeglasses, Sunglasses, Beard, Mustache, FaceOccluded: linear classifiers on an aligned face.

No model for these ships in a PyPI package we could use offline, so we trained our own, small and
plain: each face is warped to a canonical 96x112 crop (eyes and mouth centre at fixed
places, from the face mesh), described by HOG (gradient orientation histograms) and by each
8x8 cell's brightness and colour relative to the face's, and each attribute is a logistic
regression on the features of its region (eyes for glasses, lower face for beard, ...). Weights, feature
scaling and regions live in ``weights/accessories_v1.npz``, written by
``export/train_accessories.py``: trained on the tune half of
benchmarks/data/attribute_labels.csv plus glasses, sunglasses, beards, mustaches and
occluders (masks, hands, objects) drawn onto those faces; measured on the held-out half
(BENCHMARKS.md). The outputs are probabilities, Platt-calibrated on out-of-fold scores of the
training faces.
"""

from __future__ import annotations

import cv2
import numpy as np

from .facemesh import LEFT_EYE_RING, RIGHT_EYE_RING
from .geometry import similarity_transform, warp_and_shrink

WIDTH, HEIGHT = 96, 112
# canonical positions of the image-left eye, image-right eye and mouth centres
CANONICAL = np.array([[30.0, 44.0], [66.0, 44.0], [48.0, 82.0]])
MOUTH = [61, 291, 0, 17]
CELL = 8
_HOG = cv2.HOGDescriptor((WIDTH, HEIGHT), (16, 16), (8, 8), (CELL, CELL), 9)
BLOCKS_X, BLOCKS_Y = WIDTH // CELL - 1, HEIGHT // CELL - 1  # 11 x 13 blocks of 2x2 cells

# the Rekognition attributes these classifiers give -> their name in the weights file
ATTRIBUTES = {"EYEGLASSES": "Eyeglasses", "SUNGLASSES": "Sunglasses", "BEARD": "Beard", "MUSTACHE": "Mustache",
              "FACE_OCCLUDED": "FaceOccluded"}


def canonical_points(mesh: np.ndarray) -> np.ndarray:
    """(3, 2) image-left eye, image-right eye and mouth centres from the mesh."""
    return np.array([mesh[RIGHT_EYE_RING, :2].mean(0), mesh[LEFT_EYE_RING, :2].mean(0), mesh[MOUTH, :2].mean(0)])


def aligned_face(rgb: np.ndarray, mesh: np.ndarray, oversample: int = 1) -> np.ndarray:
    """The canonical crop (HEIGHT x WIDTH, times ``oversample``), RGB uint8."""
    m = similarity_transform(canonical_points(mesh), CANONICAL * 4 * oversample)
    return warp_and_shrink(rgb, m, (WIDTH * oversample, HEIGHT * oversample), 4)


def features(face: np.ndarray) -> np.ndarray:
    """HOG (11 x 13 blocks x 36), then per 8x8 cell (12 x 14 each): brightness over the face's,
    and the two chroma channels (YCrCb) minus the face's median, of a canonical crop."""
    ycc = cv2.cvtColor(face, cv2.COLOR_RGB2YCrCb)
    hog = _HOG.compute(np.ascontiguousarray(ycc[:, :, 0])).reshape(-1)
    cells = cv2.resize(ycc.astype(np.float32), (WIDTH // CELL, HEIGHT // CELL), interpolation=cv2.INTER_AREA)
    luma = cells[:, :, 0] / max(float(cells[:, :, 0].mean()), 1.0)
    chroma = (cells[:, :, 1:] - np.median(cells[:, :, 1:].reshape(-1, 2), axis=0)) / 16.0
    parts = [hog, luma.reshape(-1), chroma[:, :, 0].reshape(-1), chroma[:, :, 1].reshape(-1)]
    return np.concatenate(parts).astype(np.float32)


def region_index(rows: tuple[int, int], cols: tuple[int, int] = (0, BLOCKS_X)) -> np.ndarray:
    """Feature indices of the HOG blocks, and of the cells they cover (brightness and both
    chroma channels), inside a block-row/column range (ends exclusive); block (r, c) covers
    cells r..r+1, c..c+1."""
    r0, r1 = rows
    c0, c1 = cols
    hog = [np.arange(36) + 36 * (r * BLOCKS_X + c) for r in range(r0, r1) for c in range(c0, c1)]
    n_hog, n_cells = 36 * BLOCKS_X * BLOCKS_Y, (BLOCKS_X + 1) * (BLOCKS_Y + 1)
    cells = [n_hog + k * n_cells + r * (BLOCKS_X + 1) + c
             for k in range(3) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)]
    return np.concatenate(hog + [np.array(cells)])


def probabilities(weights: dict, x: np.ndarray, member: str) -> np.ndarray:
    """P(True) of one attribute for feature rows ``x`` (n, d)."""
    idx = weights[f"{member}/index"]
    z = (x[:, idx] - weights[f"{member}/mean"]) / weights[f"{member}/scale"]
    # float32 dot products' last bits depend on the batch (its size and the rows' alignment in
    # memory); summed in float64, where each product is exact, and rounded back, a face scores
    # the same whatever batch it came in (a notebook and a job give the same row)
    w = weights[f"{member}/w"].astype(np.float64)
    logit = (z.astype(np.float64) @ w).astype(np.float32) + weights[f"{member}/b"]
    a, b = weights[f"{member}/platt"]  # calibration: p = sigmoid(a * logit + b)
    return 1.0 / (1.0 + np.exp(-np.clip(a * logit + b, -50.0, 50.0)))


class AccessoryModels:
    """Runs the linear attribute classifiers; weights from the registry's "accessories" slot."""

    def __init__(self, weights: dict[str, np.ndarray]):
        self.weights = weights

    def __call__(self, wanted: set[str], images: list[np.ndarray], meshes: list[np.ndarray]) -> list[dict]:
        x = np.stack([features(aligned_face(rgb, mesh)) for rgb, mesh in zip(images, meshes)])
        out = [{} for _ in images]
        for name, member in ATTRIBUTES.items():
            if name in wanted:
                for o, p in zip(out, probabilities(self.weights, x, member)):
                    o[name] = float(p)
        return out
