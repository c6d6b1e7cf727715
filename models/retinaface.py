"""RetinaFace-MobileNet0.25 face detector: pre-processing, ONNX run, prior decoding and NMS."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

MEAN_BGR = np.array([104.0, 117.0, 123.0], np.float32)
STEPS = (8, 16, 32)
MIN_SIZES = ((16, 32), (64, 128), (256, 512))
VARIANCES = (0.1, 0.2)


@dataclass
class Detections:
    """Faces found in one image, in that image's pixel coordinates."""

    boxes: np.ndarray  # (n, 4) x1, y1, x2, y2
    scores: np.ndarray  # (n,) 0..1
    points: np.ndarray  # (n, 5, 2): image-left eye, image-right eye, nose, mouth left, mouth right

    def __len__(self) -> int:
        return len(self.scores)

    def take(self, idx: np.ndarray) -> "Detections":
        return Detections(self.boxes[idx], self.scores[idx], self.points[idx])


@lru_cache(maxsize=16)
def priors(height: int, width: int) -> np.ndarray:
    """Anchor centres and sizes (cx, cy, w, h) in pixels for an input of this size."""
    out = []
    for step, sizes in zip(STEPS, MIN_SIZES):
        rows, cols = -(-height // step), -(-width // step)
        cy, cx = np.meshgrid((np.arange(rows) + 0.5) * step, (np.arange(cols) + 0.5) * step, indexing="ij")
        grid = np.stack([cx.ravel(), cy.ravel()], 1)
        per_size = [np.hstack([grid, np.full((len(grid), 2), s, np.float32)]) for s in sizes]
        out.append(np.stack(per_size, 1).reshape(-1, 4))  # sizes vary fastest, as the model emits
    return np.concatenate(out).astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    order = scores.argsort()[::-1]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        xx1 = np.maximum(boxes[i, 0], boxes[order[1:], 0])
        yy1 = np.maximum(boxes[i, 1], boxes[order[1:], 1])
        xx2 = np.minimum(boxes[i, 2], boxes[order[1:], 2])
        yy2 = np.minimum(boxes[i, 3], boxes[order[1:], 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        overlap = inter / (areas[i] + areas[order[1:]] - inter + 1e-9)
        order = order[1:][overlap <= iou]
    return np.array(keep, np.int64)


class RetinaFaceDetector:
    """Detects faces; ``session`` is an onnxruntime session of the exported detector."""

    def __init__(self, session, max_side: int = 800, min_score: float = 0.7, nms_iou: float = 0.4):
        self.session = session
        self.max_side = max_side
        self.min_score = min_score
        self.nms_iou = nms_iou

    def prepare(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """Resize so the long side is at most max_side; returns (CHW float32 BGR - mean, scale)."""
        h, w = rgb.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            while rgb.shape[1] >= 2 * size[0] and rgb.shape[0] >= 2 * size[1]:
                rgb = cv2.pyrDown(rgb)  # blur-and-halve: 2x cheaper than INTER_AREA, same anti-aliasing job
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)
        # RGB -> BGR, minus the mean, HWC -> CHW, in one optimised call
        return cv2.dnn.blobFromImage(rgb, 1.0, None, tuple(MEAN_BGR.tolist()), swapRB=True)[0], scale

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        """Detect faces in RGB uint8 images; images of the same padded size run as one batch."""
        prepared = [self.prepare(im) for im in images]
        groups: dict[tuple[int, int], list[int]] = {}
        for i, (x, _) in enumerate(prepared):
            groups.setdefault((-(-x.shape[1] // 32) * 32, -(-x.shape[2] // 32) * 32), []).append(i)
        out: list[Detections | None] = [None] * len(images)
        for (h, w), idx in groups.items():
            batch = np.zeros((len(idx), 3, h, w), np.float32)
            for k, i in enumerate(idx):
                x = prepared[i][0]
                batch[k, :, : x.shape[1], : x.shape[2]] = x
            loc, conf, landm = self.session.run(["loc", "conf", "landmarks"], {"input": batch})
            for k, i in enumerate(idx):
                out[i] = self._decode(loc[k], conf[k, :, 1], landm[k], priors(h, w), prepared[i][1], images[i].shape)
        return out

    def _decode(self, loc, score, landm, anchors, scale, shape) -> Detections:
        keep = score >= self.min_score
        loc, score, landm, a = loc[keep], score[keep], landm[keep], anchors[keep]
        centre = a[:, :2] + loc[:, :2] * VARIANCES[0] * a[:, 2:]
        size = a[:, 2:] * np.exp(loc[:, 2:] * VARIANCES[1])
        boxes = np.hstack([centre - size / 2, centre + size / 2])
        points = a[:, None, :2] + landm.reshape(-1, 5, 2) * VARIANCES[0] * a[:, None, 2:]
        idx = nms(boxes, score, self.nms_iou)
        boxes, score, points = boxes[idx] / scale, score[idx], points[idx] / scale
        h, w = shape[:2]
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
        return Detections(boxes.astype(np.float32), score.astype(np.float32), points.astype(np.float32))
