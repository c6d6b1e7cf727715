"""MediaPipe's iris model: eyelids and iris of each eye, for EyesOpen, EyeDirection and pupils.

Each eye is cropped as MediaPipe's iris graph crops it: a square centred between the eye's
corners (mesh points), the corners level, 2.3 times their distance wide, resized to 64x64
RGB in 0..1; the model knows the image-left eye only, so the other eye is mirrored.
Outputs come back in image pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .geometry import warp_and_shrink
from .registry import run_batched

INPUT = 64
ROI_SCALE = 2.3
# (start corner, end corner, mirrored): the crop's +x axis runs from start to end.
EYES = ((33, 133, False), (362, 263, True))  # image-left eye (outer -> inner), image-right eye
# the first 16 of the model's 71 contour points: the eye opening, lower lid from one corner to
# the other (0..8), then the upper lid back (9..15)
CORNER_A, CORNER_B = 0, 8
UPPER_LID, LOWER_LID = (10, 11, 12, 13, 14), (2, 3, 4, 5, 6)


@dataclass
class Eye:
    contour: np.ndarray  # (71, 2) eyelid and brow points, image pixels
    iris: np.ndarray  # (5, 2) iris centre then 4 points on its edge, image pixels

    @property
    def width(self) -> float:
        return float(np.linalg.norm(self.contour[CORNER_B] - self.contour[CORNER_A]))

    @property
    def opening(self) -> float:
        """Mean gap between the lids over the eye's width: about 0.3 open, under 0.1 closed."""
        gap = np.linalg.norm(self.contour[list(UPPER_LID)] - self.contour[list(LOWER_LID)], axis=1).mean()
        return float(gap / max(self.width, 1e-6))


def eye_transform(a: np.ndarray, b: np.ndarray, mirrored: bool, size: int = INPUT) -> np.ndarray:
    """2x3 matrix mapping image pixels to the model's crop of the eye with corners a -> b."""
    d = b - a
    side = ROI_SCALE * max(float(np.hypot(*d)), 1e-6)
    angle = np.arctan2(d[1], d[0])
    s = size / side
    cos, sin = np.cos(angle) * s, np.sin(angle) * s
    m = np.array([[cos, sin, 0.0], [-sin, cos, 0.0]])
    m[:, 2] = size / 2 - m[:, :2] @ ((a + b) / 2)
    if mirrored:
        m[0] = -m[0]
        m[0, 2] += size - 1
    return m


class IrisModel:
    def __init__(self, session, batch_size: int = 32):
        self.session = session
        self.batch_size = batch_size

    def __call__(self, images: list[np.ndarray], meshes: list[np.ndarray]) -> list[tuple[Eye, Eye]]:
        """Both eyes of each face; ``images[k]`` is the RGB image holding face ``k``,
        ``meshes[k]`` its (468, 2+) mesh points in that image's pixels."""
        crops, mats = [], []
        for rgb, pts in zip(images, meshes):
            for a, b, mirrored in EYES:
                m = eye_transform(pts[a, :2], pts[b, :2], mirrored, 4 * INPUT)
                crops.append(warp_and_shrink(rgb, m, (INPUT, INPUT), 4))
                small = m / 4
                small[:, 2] -= 0.375  # area shrink by 4: pixel centres move by (4 - 1) / 8
                mats.append(small)
        contours, irises = run_batched(self.session, "eyes", crops, ["contours", "iris"], self.batch_size,
                                       prepare=lambda batch: batch.astype(np.float32) / 255.0)
        eyes = []
        for m, c, i in zip(mats, contours, irises):
            inv = cv2.invertAffineTransform(m)
            back = lambda p: p.reshape(-1, 3)[:, :2] @ inv[:, :2].T + inv[:, 2]  # noqa: E731
            eyes.append(Eye(back(c), back(i)))
        return [(eyes[2 * k], eyes[2 * k + 1]) for k in range(len(images))]
