"""The public Python API: a boto3-style Rekognition client and ``analyze_faces``."""

from __future__ import annotations

import types
from dataclasses import dataclass

import numpy as np

from facelake.collections_api import CollectionsMixin
from facelake.models.analyzer import AnalyzerConfig, Face, FaceAnalyzer
from facelake.models.images import ImageLimits, decode, load, read_image_param
from facelake.schemas import errors
from facelake.schemas.rekognition import (
    QUALITY_BARS, check_quality_filter, compared_face, face_detail, parse_attributes, requested_attributes, similarity)

@dataclass
class AnalyzedFace:
    """One face: ``detail`` is Rekognition's FaceDetail dict, ``embedding`` the 128-d descriptor."""

    detail: dict
    embedding: np.ndarray
    face: Face

    def distance(self, other: "AnalyzedFace") -> float:
        return float(np.linalg.norm(self.embedding - other.embedding))

    def similarity(self, other: "AnalyzedFace") -> float:
        return similarity(self.distance(other))


class FaceClient(CollectionsMixin):
    """A drop-in for ``boto3.client("rekognition")``'s face calls, run locally.

    ``store``: where face collections live (a local folder or an object-store URI for
    LanceDB); default $FACELAKE_STORE or ~/.facelake/store."""

    def __init__(self, config: AnalyzerConfig = AnalyzerConfig(), limits: ImageLimits = ImageLimits(),
                 analyzer: FaceAnalyzer | None = None, store: str | None = None):
        self.analyzer = analyzer or FaceAnalyzer(config)
        self.limits = limits
        self.store_uri = store
        self.exceptions = types.SimpleNamespace(**errors.ALL_ERRORS)

    def _image_with_bytes(self, image, name: str = "Image"):
        if image is None:
            raise errors.InvalidParameterException(f"{name} is required")
        data = read_image_param(image, self.limits)
        return data, decode(data, self.limits)

    def _image(self, image, name: str = "Image"):
        return self._image_with_bytes(image, name)[1]

    def _largest_face(self, img, quality_bar: float, where: str) -> Face:
        """The largest face passing the quality bar, with its descriptor (Rekognition's rule for
        CompareFaces' source and SearchFacesByImage); only that face is embedded."""
        faces = [f for f in self.analyzer.analyze(img, embed=False) if f.quality_score >= quality_bar]
        if not faces:
            raise errors.InvalidParameterException(f"no face found in {where}")
        faces[0].embedding = self.analyzer.embed_face(img, faces[0])
        return faces[0]

    @errors.operation("DetectFaces")
    def detect_faces(self, *, Image: dict, Attributes: list[str] | None = None) -> dict:
        attrs = parse_attributes(Attributes)
        img = self._image(Image)
        faces = self.analyzer.analyze(img, embed=False, attributes=requested_attributes(attrs))
        out = {"FaceDetails": [face_detail(f, img.width, img.height, attrs) for f in faces]}
        if img.orientation_correction:
            out["OrientationCorrection"] = img.orientation_correction
        return out

    @errors.operation("CompareFaces")
    def compare_faces(self, *, SourceImage: dict, TargetImage: dict, SimilarityThreshold: float = 80.0,
                      QualityFilter: str = "NONE") -> dict:
        if not isinstance(SimilarityThreshold, (int, float)) or not 0 <= SimilarityThreshold <= 100:
            raise errors.InvalidParameterException("SimilarityThreshold must be a number from 0 to 100")
        bar = QUALITY_BARS[check_quality_filter(QualityFilter)]
        src_img = self._image(SourceImage, "SourceImage")
        tgt_img = self._image(TargetImage, "TargetImage")
        source = self._largest_face(src_img, bar, "the source image")
        matches, unmatched = [], []
        for face in self.analyzer.analyze(tgt_img):
            if face.quality_score < bar:
                continue
            sim = similarity(float(np.linalg.norm(face.embedding - source.embedding)))
            entry = compared_face(face, tgt_img.width, tgt_img.height)
            if sim >= SimilarityThreshold:
                matches.append({"Similarity": sim, "Face": entry})
            else:
                unmatched.append(entry)
        matches.sort(key=lambda m: -m["Similarity"])
        out = {
            "SourceImageFace": {"BoundingBox": compared_face(source, src_img.width, src_img.height)["BoundingBox"],
                                "Confidence": source.confidence},
            "FaceMatches": matches,
            "UnmatchedFaces": unmatched,
        }
        if src_img.orientation_correction:
            out["SourceImageOrientationCorrection"] = src_img.orientation_correction
        if tgt_img.orientation_correction:
            out["TargetImageOrientationCorrection"] = tgt_img.orientation_correction
        return out


_default_client: FaceClient | None = None


def client(config: AnalyzerConfig | None = None, limits: ImageLimits | None = None, store: str | None = None) -> FaceClient:
    """A Rekognition-style client. Clients share one set of loaded models where they can."""
    global _default_client
    if _default_client is None:
        _default_client = FaceClient()
    if config is None and limits is None and store is None:
        return _default_client
    analyzer = _default_client.analyzer if config is None else None
    return FaceClient(config or AnalyzerConfig(), limits or ImageLimits(), analyzer=analyzer, store=store)


def analyze_faces(image, attributes: list[str] | None = None) -> list[AnalyzedFace]:
    """Every face of an image (path, fsspec URI, bytes, or RGB uint8 array), largest first."""
    c = client()
    attrs = parse_attributes(attributes)
    img = load(image, c.limits)
    return [AnalyzedFace(face_detail(f, img.width, img.height, attrs), f.embedding, f)
            for f in c.analyzer.analyze(img, attributes=requested_attributes(attrs))]
