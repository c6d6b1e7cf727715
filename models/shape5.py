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
        split_idx = arrays["split_idx"]  # (cascades, trees, splits, 2)
        self.cascades, trees, self.n_splits = split_idx.shape[:3]
        self.depth = int(np.log2(self.n_splits + 1))
        assert 2 ** self.depth - 1 == self.n_splits, "trees are expected to be complete"
        # flattened per cascade, so one 1-D take finds each tree's node
        self.left = np.ascontiguousarray(split_idx[..., 0].reshape(self.cascades, -1))
        self.right = np.ascontiguousarray(split_idx[..., 1].reshape(self.cascades, -1))
        self.split_thresh = arrays["split_thresh"].reshape(self.cascades, -1)
        leaves = arrays["leaf_values"]  # (cascades, trees, splits + 1, 5, 2)
        self.leaves = leaves.reshape(self.cascades, -1, *leaves.shape[3:])
        self.anchor = arrays["anchor_idx"]
        self.deltas = arrays["deltas"]
        self._split_base = np.arange(trees) * self.n_splits
        self._leaf_base = np.arange(trees) * (self.n_splits + 1) - self.n_splits

    def __call__(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        """Five (x, y) points in image pixels, rounded as dlib rounds them.

        rgb: uint8 image; the trees read dlib's intensity (R+G+B)//3 of the few pixels they
        look at, so no grey image is made;
        box: (left, top, right, bottom), inclusive pixel coordinates as in dlib::rectangle.
        """
        left, top, right, bottom = box
        origin = np.array([left, top], np.float64)
        extent = np.array([right - left, bottom - top], np.float64)
        h, w = rgb.shape[:2]
        shape = self.initial.copy()
        for c in range(self.cascades):
            rot = similarity_transform(self.initial, shape)[:, :2].astype(np.float32)
            unit = self.deltas[c] @ rot.T + shape[self.anchor[c]]
            px = np.floor(unit.astype(np.float64) * extent + origin + 0.5).astype(np.int64)
            inside = (px[:, 0] >= 0) & (px[:, 0] < w) & (px[:, 1] >= 0) & (px[:, 1] < h)
            feats = np.zeros(len(px), np.float32)
            seen = rgb[px[inside, 1], px[inside, 0]].astype(np.uint16)
            feats[inside] = (seen[:, 0] + seen[:, 1] + seen[:, 2]) // 3
            # every tree is complete and of the same depth: walk all of them level by level
            node = np.zeros(len(self._split_base), np.int64)
            for _ in range(self.depth):
                at = self._split_base + node
                go_left = feats[self.left[c, at]] - feats[self.right[c, at]] > self.split_thresh[c, at]
                node = 2 * node + 2 - go_left
            # dlib adds the leaves one tree at a time in float32; cumsum keeps that order.
            steps = np.concatenate([shape[None], self.leaves[c, self._leaf_base + node]])
            shape = np.cumsum(steps, axis=0, dtype=np.float32)[-1]
        return np.floor(shape.astype(np.float64) * extent + origin + 0.5)
