"""dlib's 5-point face shape predictor (ensemble of regression trees), in numpy.

Given a face box drawn the way dlib's HOG detector draws it, predicts two corners of each eye
and the base of the nose. The trees come from ``shape_predictor_5_face_landmarks.dat``
(exported to .npz by ``models/export/export_dlib_shape.py``); the walk below follows dlib's
``shape_predictor::operator()`` so its points match dlib's own.
"""

from __future__ import annotations

import numpy as np

from .geometry import similarity_transform


class ShapePredictor5:
    def __init__(self, arrays: dict[str, np.ndarray]):
        self.initial = arrays["initial_shape"].astype(np.float32)
        self.split_idx = arrays["split_idx"]
        self.split_thresh = arrays["split_thresh"]
        self.leaves = arrays["leaf_values"]
        self.anchor = arrays["anchor_idx"]
        self.deltas = arrays["deltas"]
        self.n_splits = self.split_idx.shape[2]
        self._trees = np.arange(self.split_idx.shape[1])

    def __call__(self, gray: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        """Five (x, y) points in image pixels, rounded as dlib rounds them.

        gray: uint8 intensity image ((R+G+B)//3, as dlib's get_pixel_intensity);
        box: (left, top, right, bottom), inclusive pixel coordinates as in dlib::rectangle.
        """
        left, top, right, bottom = box
        origin = np.array([left, top], np.float64)
        extent = np.array([right - left, bottom - top], np.float64)
        h, w = gray.shape
        shape = self.initial.copy()
        for c in range(self.split_idx.shape[0]):
            rot = similarity_transform(self.initial, shape)[:, :2].astype(np.float32)
            unit = self.deltas[c] @ rot.T + shape[self.anchor[c]]
            px = np.floor(unit.astype(np.float64) * extent + origin + 0.5).astype(np.int64)
            inside = (px[:, 0] >= 0) & (px[:, 0] < w) & (px[:, 1] >= 0) & (px[:, 1] < h)
            feats = np.zeros(len(px), np.float32)
            feats[inside] = gray[px[inside, 1], px[inside, 0]]
            node = np.zeros(len(self._trees), np.int64)
            while True:
                active = node < self.n_splits
                if not active.any():
                    break
                pairs = self.split_idx[c, self._trees, np.minimum(node, self.n_splits - 1)]
                diff = feats[pairs[:, 0]] - feats[pairs[:, 1]]
                go_left = diff > self.split_thresh[c, self._trees, np.minimum(node, self.n_splits - 1)]
                node = np.where(active, np.where(go_left, 2 * node + 1, 2 * node + 2), node)
            # dlib adds the leaves one tree at a time in float32; cumsum keeps that order.
            steps = np.concatenate([shape[None], self.leaves[c, self._trees, node - self.n_splits]])
            shape = np.cumsum(steps, axis=0, dtype=np.float32)[-1]
        return np.floor(shape.astype(np.float64) * extent + origin + 0.5)
