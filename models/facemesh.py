"""MediaPipe's 468-point face mesh: crop, ONNX run, mapping back, Rekognition landmarks and pose.

The crop follows MediaPipe's face pipeline: a square 1.5x the detector's box, rotated so the
eyes are level, resized to 192x192, RGB in 0..1. Mesh points come back in image pixels with
a depth ``z`` on the same scale (larger = farther from the camera).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .registry import run_batched

INPUT = 192
CROP_SCALE = 1.5

# Mesh indices. The mesh labels points from the subject's point of view; Rekognition's "Left"
# and "Right" are the image's (the subject's right eye is Rekognition's eyeLeft on an upright,
# unmirrored face), so subject-right points fill the *Left landmarks.
RIGHT_EYE_RING = [33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246]
LEFT_EYE_RING = [263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466]
# Single points were chosen among the 468 to match hand-placed landmarks (the iBUG convention)
# on dlib's example faces: picked on training_with_face_landmarks.xml, checked on
# testing_with_face_landmarks.xml (benchmarks/landmarks.py: held-out error 0.043 -> 0.038 of the
# inter-ocular distance).
LANDMARK_POINTS: dict[str, int | list[int]] = {
    "eyeLeft": RIGHT_EYE_RING, "eyeRight": LEFT_EYE_RING,
    "mouthLeft": 61, "mouthRight": 291, "nose": 4,
    "leftEyeBrowLeft": 70, "leftEyeBrowRight": 107, "leftEyeBrowUp": 105,
    "rightEyeBrowLeft": 336, "rightEyeBrowRight": 276, "rightEyeBrowUp": 334,
    "leftEyeLeft": 7, "leftEyeRight": 155, "leftEyeUp": 159, "leftEyeDown": 145,
    "rightEyeLeft": 382, "rightEyeRight": 390, "rightEyeUp": 386, "rightEyeDown": 374,
    "noseLeft": 59, "noseRight": 460, "mouthUp": 0, "mouthDown": 17,
    # pupils: the centre of the eye opening (the iris model is not used yet)
    "leftPupil": RIGHT_EYE_RING, "rightPupil": LEFT_EYE_RING,
    "upperJawlineLeft": 234, "midJawlineLeft": 172, "chinBottom": 152,
    "midJawlineRight": 397, "upperJawlineRight": 454,
}
# Face oval, for measuring brightness and sharpness on the face only.
FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]
# Pose axes: cheek to cheek (image left to right), forehead to chin.
CHEEK_L, CHEEK_R, FOREHEAD, CHIN = 234, 454, 10, 152
# The forehead-chin line leans back on a frontal face: its raw pitch is the median over
# deepface's (mostly frontal) portraits, measured by benchmarks/pose_calibration.py, and is
# subtracted so that a frontal face reads pitch ~0.
PITCH_OFFSET_DEG = -8.0


@dataclass
class MeshResult:
    points: np.ndarray  # (468, 3) x, y in image pixels, z on the same scale
    score: float  # 0..1, the mesh's own face-presence score
    crop: np.ndarray  # the 192x192 RGB crop the mesh saw
    crop_points: np.ndarray  # (468, 2) the points in crop pixels


def crop_transform(box: np.ndarray, eyes: np.ndarray, scale: float = CROP_SCALE, size: int = INPUT) -> np.ndarray:
    """2x3 matrix mapping image pixels to a square, eyes-level crop of ``scale`` times the box's
    long side, ``size`` pixels wide (by default the 192x192 mesh input)."""
    x1, y1, x2, y2 = box
    centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    side = max(x2 - x1, y2 - y1) * scale
    dx, dy = eyes[1] - eyes[0]
    angle = np.arctan2(dy, dx)
    s = size / max(side, 1e-6)
    cos, sin = np.cos(angle) * s, np.sin(angle) * s
    rot = np.array([[cos, sin], [-sin, cos]])  # rotate by -angle, then scale
    return np.hstack([rot, (size / 2 - rot @ centre)[:, None]])


class FaceMesh:
    def __init__(self, session, batch_size: int = 16):
        self.session = session
        self.batch_size = batch_size

    @staticmethod
    def crop(rgb: np.ndarray, box: np.ndarray, eyes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The 192x192 input for a face given its box (x1, y1, x2, y2) and eyes ((2, 2):
        image-left, image-right), with the 2x3 image -> crop matrix."""
        m = crop_transform(box, eyes)
        return cv2.warpAffine(rgb, m, (INPUT, INPUT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT), m

    def __call__(self, crops: list[np.ndarray], mats: list[np.ndarray]) -> list[MeshResult]:
        """Mesh every crop (faces of any number of images), in batches."""
        if not crops:
            return []
        outs, flags = run_batched(self.session, "crops", crops, ["landmarks", "face_flag"], self.batch_size,
                                  prepare=lambda batch: batch.astype(np.float32) / 255.0)
        results = []
        for m, crop, pts, flag in zip(mats, crops, outs.reshape(-1, 468, 3), flags.reshape(-1)):
            inv = cv2.invertAffineTransform(m)
            xy = pts[:, :2] @ inv[:, :2].T + inv[:, 2]
            z = pts[:, 2:] * np.hypot(inv[0, 0], inv[1, 0])
            results.append(MeshResult(np.hstack([xy, z]).astype(np.float32),
                                      float(1 / (1 + np.exp(-flag))), crop, pts[:, :2]))
        return results


def rekognition_landmarks(points: np.ndarray) -> dict[str, tuple[float, float]]:
    """Rekognition's 30 landmark types, (x, y) in image pixels."""
    out = {}
    for name, idx in LANDMARK_POINTS.items():
        p = points[idx, :2]
        out[name] = tuple(float(v) for v in (p.mean(0) if p.ndim == 2 else p))
    return out


def head_pose(points: np.ndarray) -> dict[str, float]:
    """Roll, Yaw, Pitch in degrees from the mesh's 3-D points.

    Yaw > 0: the face turns toward the image's right; Pitch > 0: the face tilts up;
    Roll > 0: the face is rotated clockwise in the image. Mirroring the image flips Yaw and Roll.
    """
    x = points[CHEEK_R] - points[CHEEK_L]
    x = x / np.linalg.norm(x)
    y = points[CHIN] - points[FOREHEAD]
    y = y - (y @ x) * x
    y = y / np.linalg.norm(y)
    z = np.cross(x, y)
    roll = np.degrees(np.arctan2(x[1], x[0]))
    yaw = np.degrees(np.arcsin(np.clip(x[2], -1, 1)))
    pitch = np.degrees(np.arctan2(-y[2], z[2])) - PITCH_OFFSET_DEG
    return {"Roll": float(roll), "Yaw": float(yaw), "Pitch": float((pitch + 180) % 360 - 180)}


def face_quality(crop: np.ndarray, crop_points: np.ndarray) -> dict[str, float]:
    """Brightness and Sharpness (0-100) of the face region of the mesh crop.

    Brightness: mean luminance inside the face oval, as a percentage of white.
    Sharpness: variance of the Laplacian inside the oval, mapped to 0-100 by
    100 * (1 - exp(-var / 1000)). On deepface's portraits the variance runs from about 600
    (10th percentile) to 2700 (90th), i.e. Sharpness 44 to 93; a blurred face reads near 0.
    """
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    mask = np.zeros(gray.shape, np.uint8)
    cv2.fillPoly(mask, [np.round(crop_points[FACE_OVAL]).astype(np.int32)], 1)
    inside = cv2.erode(mask, np.ones((3, 3), np.uint8)).astype(bool)  # keep the oval's edge out
    if inside.sum() < 16:  # degenerate mesh: measure the whole crop
        inside[:] = True
    brightness = 100.0 * gray[inside].mean() / 255.0
    lap = cv2.Laplacian(gray.astype(np.float32), cv2.CV_32F, ksize=3)
    sharpness = 100.0 * (1.0 - np.exp(-float(lap[inside].var()) / 1000.0))
    return {"Brightness": float(brightness), "Sharpness": float(sharpness)}
