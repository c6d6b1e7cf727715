"""Small 2-D geometry helpers shared by the face models (similarity transforms, anti-aliased warps)."""

from __future__ import annotations

import cv2
import numpy as np


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping src to dst.

    Umeyama's method, as dlib's ``find_similarity_transform``. Returns a 2x3 matrix.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mean_s, mean_d = src.mean(0), dst.mean(0)
    s, d = src - mean_s, dst - mean_d
    var_s = (s**2).sum() / len(src)
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(cov) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    scale = (sig * np.diag(sign)).sum() / var_s if var_s > 0 else 1.0
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mean_d - m[:, :2] @ mean_s
    return m


def apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to an (N, 2) array of points."""
    return np.asarray(pts, np.float64) @ m[:, :2].T + m[:, 2]


def warp_and_shrink(rgb: np.ndarray, m: np.ndarray, size: tuple[int, int], factor: int) -> np.ndarray:
    """Warp ``rgb`` by ``m`` (image -> a crop ``factor`` times ``size``) and shrink the crop to
    ``size`` (width, height) with area averaging: warpAffine alone would alias on a large face."""
    big = cv2.warpAffine(rgb, m, (size[0] * factor, size[1] * factor), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    return cv2.resize(big, size, interpolation=cv2.INTER_AREA)
