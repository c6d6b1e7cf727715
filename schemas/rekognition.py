"""Rekognition's JSON shapes for faces: FaceDetail, ComparedFace, BoundingBox, similarity.

The only place that turns analysed faces into Rekognition's CamelCase dictionaries; tests
check every shape against botocore's own Rekognition service model.
"""

from __future__ import annotations

import math

from .errors import InvalidParameterException

# DetectFaces' Attributes values beyond DEFAULT -> the FaceDetail member each adds
ATTRIBUTE_MEMBERS = {"AGE_RANGE": "AgeRange", "BEARD": "Beard", "EMOTIONS": "Emotions", "EYE_DIRECTION": "EyeDirection",
                     "EYEGLASSES": "Eyeglasses", "EYES_OPEN": "EyesOpen", "GENDER": "Gender", "MOUTH_OPEN": "MouthOpen",
                     "MUSTACHE": "Mustache", "FACE_OCCLUDED": "FaceOccluded", "SMILE": "Smile", "SUNGLASSES": "Sunglasses"}
# DetectFaces' Attributes values (botocore: Attribute enum)
ATTRIBUTE_NAMES = ("DEFAULT", "ALL", *ATTRIBUTE_MEMBERS)
LANDMARK_TYPES = (
    "eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight", "leftEyeBrowLeft", "leftEyeBrowRight",
    "leftEyeBrowUp", "rightEyeBrowLeft", "rightEyeBrowRight", "rightEyeBrowUp", "leftEyeLeft",
    "leftEyeRight", "leftEyeUp", "leftEyeDown", "rightEyeLeft", "rightEyeRight", "rightEyeUp",
    "rightEyeDown", "noseLeft", "noseRight", "mouthUp", "mouthDown", "leftPupil", "rightPupil",
    "upperJawlineLeft", "midJawlineLeft", "chinBottom", "midJawlineRight", "upperJawlineRight")

# Similarity from the dlib descriptor's euclidean distance d: a logistic curve placed so that
# dlib's own decision point d = 0.6 maps to 80 (Rekognition's default threshold):
# similarity = 100 / (1 + exp(SLOPE * (d - D50))), D50 = 0.6 + ln(4) / SLOPE.
# d = 0.3 -> 99.3, 0.5 -> 93.0, 0.6 -> 80.0, 0.7 -> 54.6, 0.8 -> 26.6, 0.9 -> 9.8.
SIMILARITY_SLOPE = 12.0
SIMILARITY_D50 = 0.6 + math.log(4.0) / SIMILARITY_SLOPE


def similarity(distance: float) -> float:
    """Rekognition-style similarity 0-100, strictly decreasing in the descriptor distance."""
    z = SIMILARITY_SLOPE * (distance - SIMILARITY_D50)
    return 100.0 / (1.0 + math.exp(min(z, 700.0)))


def distance_for_similarity(sim: float) -> float:
    """The descriptor distance at which similarity equals ``sim`` (inverse of ``similarity``)."""
    sim = min(max(sim, 1e-9), 100.0 - 1e-9)
    return SIMILARITY_D50 + math.log(100.0 / sim - 1.0) / SIMILARITY_SLOPE


def requested_attributes(names: set[str]) -> frozenset[str]:
    """The attribute names to compute beyond DEFAULT ("ALL" means every one)."""
    if "ALL" in names:
        return frozenset(ATTRIBUTE_MEMBERS)
    return frozenset(names) - {"DEFAULT"}


# QualityFilter: a face passes when its quality score (the lowest of sharpness, a brightness
# score that falls off toward black or white, and detection confidence, each 0-100) reaches the
# level's bar. The bars are ours: Rekognition does not publish its.
QUALITY_FILTERS = ("NONE", "AUTO", "LOW", "MEDIUM", "HIGH")
QUALITY_BARS = {"NONE": 0.0, "LOW": 10.0, "AUTO": 25.0, "MEDIUM": 25.0, "HIGH": 45.0}


def brightness_score(brightness: float) -> float:
    return min(100.0, 4.0 * min(brightness, 100.0 - brightness))  # 0 at black/white, 100 from 25 to 75


def quality_score(confidence: float, sharpness: float, brightness: float) -> float:
    return min(sharpness, brightness_score(brightness), confidence)


def face_quality_score(face) -> float:
    """An analysed face's quality score, 0-100 (what QualityFilter levels are compared with)."""
    return quality_score(face.confidence, face.quality["Sharpness"], face.quality["Brightness"])


def quality_reasons(confidence: float, sharpness: float, brightness: float, quality_filter: str) -> list[str]:
    """Rekognition's UnindexedFaces reasons for a face that misses the QualityFilter's bar ([] if it passes)."""
    bar = QUALITY_BARS[quality_filter]
    if bar <= 0 or quality_score(confidence, sharpness, brightness) >= bar:
        return []
    reasons = [r for r, v in (("LOW_CONFIDENCE", confidence), ("LOW_SHARPNESS", sharpness),
                              ("LOW_BRIGHTNESS", brightness_score(brightness))) if v < bar]
    return reasons or ["LOW_FACE_QUALITY"]


def parse_attributes(attributes) -> set[str]:
    """Validate DetectFaces' Attributes list; returns the set of names asked for."""
    if attributes is None:
        return {"DEFAULT"}
    if isinstance(attributes, str) or not all(isinstance(a, str) for a in attributes):
        raise InvalidParameterException("Attributes must be a list of strings")
    bad = [a for a in attributes if a not in ATTRIBUTE_NAMES]
    if bad:
        raise InvalidParameterException(f"unknown attribute(s) {bad}; valid: {', '.join(ATTRIBUTE_NAMES)}")
    return set(attributes) or {"DEFAULT"}


def check_quality_filter(value) -> str:
    if value not in QUALITY_FILTERS:
        raise InvalidParameterException(f"QualityFilter must be one of {', '.join(QUALITY_FILTERS)}")
    return value


def _clip01(v: float) -> float:
    return min(max(float(v), 0.0), 1.0)


def bounding_box(box, width: int, height: int) -> dict:
    """BoundingBox as ratios of the image size (Rekognition may report slightly outside 0..1;
    we clip to the image)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    left, top = _clip01(x1 / width), _clip01(y1 / height)
    return {"Width": _clip01(x2 / width) - left, "Height": _clip01(y2 / height) - top, "Left": left, "Top": top}


def boolean(p: float) -> dict:
    """Rekognition's {Value, Confidence} from the probability that the value is True."""
    return {"Value": bool(p >= 0.5), "Confidence": float(100.0 * max(p, 1.0 - p))}


def attribute_member(name: str, value) -> dict | list:
    """The FaceDetail member of an attribute (Rekognition's name, e.g. AGE_RANGE) from the
    neutral value facelake.models gives for it (see AttributeModels)."""
    if name == "AGE_RANGE":
        low, high = value
        return {"Low": int(low), "High": int(high)}
    if name == "GENDER":  # P(male)
        return {"Value": "Male" if value >= 0.5 else "Female", "Confidence": float(100.0 * max(value, 1.0 - value))}
    if name == "EMOTIONS":  # scores, rescaled to sum to 100, highest first
        total = sum(value.values()) or 1.0
        return sorted(({"Type": k, "Confidence": 100.0 * v / total} for k, v in value.items()),
                      key=lambda e: -e["Confidence"])
    if name == "EYE_DIRECTION":  # degrees; its confidence is P(eyes open)
        yaw, pitch, p_open = value
        return {"Yaw": float(yaw), "Pitch": float(pitch), "Confidence": float(100.0 * p_open)}
    return boolean(value)


def face_detail(face, width: int, height: int, attributes: set[str] | None = None) -> dict:
    """A Rekognition FaceDetail for an analysed face: the DEFAULT members, plus the members of
    the attributes asked for (``attributes`` as from parse_attributes) that were computed."""
    detail = {
        "BoundingBox": bounding_box(face.box, width, height),
        "Landmarks": [{"Type": t, "X": float(face.landmarks[t][0] / width), "Y": float(face.landmarks[t][1] / height)}
                      for t in LANDMARK_TYPES],
        "Pose": {k: float(face.pose[k]) for k in ("Roll", "Yaw", "Pitch")},
        "Quality": {k: float(min(max(face.quality[k], 0.0), 100.0)) for k in ("Brightness", "Sharpness")},
        "Confidence": float(face.confidence),
    }
    wanted = requested_attributes(attributes or {"DEFAULT"})
    for name, member in ATTRIBUTE_MEMBERS.items():
        if name in wanted and name in face.attributes:
            detail[member] = attribute_member(name, face.attributes[name])
    return detail



COMPARED_FACE_LANDMARKS = ("eyeLeft", "eyeRight", "mouthLeft", "mouthRight", "nose")


def compared_face(face, width: int, height: int) -> dict:
    """A Rekognition ComparedFace (CompareFaces' FaceMatches / UnmatchedFaces entries)."""
    detail = face_detail(face, width, height)
    detail["Landmarks"] = [lm for lm in detail["Landmarks"] if lm["Type"] in COMPARED_FACE_LANDMARKS]
    return detail
