"""Rekognition's operations on faces in images: DetectFaces and CompareFaces; also
``analyze_faces`` for notebooks (FaceDetail and descriptor of every face of an image)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facelake.models.analyzer import Face
from facelake.models.images import DecodedImage, decode, load, read_image_param
from facelake.schemas import errors
from facelake.schemas.rekognition import (
    QUALITY_BARS, compared_face, face_detail, face_quality_score, parse_attributes, requested_attributes, similarity)

from .context import Context, operation


def image(ctx: Context, param: dict) -> tuple[bytes, DecodedImage]:
    """An Image parameter's bytes and decoded pixels (Bytes or S3Object, ctx's limits)."""
    data = read_image_param(param, ctx.limits)
    return data, decode(data, ctx.limits)


def largest_face(ctx: Context, img: DecodedImage, quality_bar: float, where: str) -> Face:
    """The largest face passing the quality bar, with its descriptor (Rekognition's rule for
    CompareFaces' source and SearchFacesByImage); only that face is embedded."""
    faces = [f for f in ctx.analyzer.analyze(img, embed=False) if face_quality_score(f) >= quality_bar]
    if not faces:
        raise errors.InvalidParameterException(f"no face found in {where}")
    faces[0].embedding = ctx.analyzer.embed_face(img, faces[0])
    return faces[0]


@operation("DetectFaces")
def detect_faces(ctx: Context, *, Image: dict, Attributes: list[str] | None = None) -> dict:
    attrs = parse_attributes(Attributes)
    _, img = image(ctx, Image)
    faces = ctx.analyzer.analyze(img, embed=False, attributes=requested_attributes(attrs))
    out = {"FaceDetails": [face_detail(f, img.width, img.height, attrs) for f in faces]}
    if img.orientation_correction:
        out["OrientationCorrection"] = img.orientation_correction
    return out


@operation("CompareFaces")
def compare_faces(ctx: Context, *, SourceImage: dict, TargetImage: dict, SimilarityThreshold: float = 80.0,
                  QualityFilter: str = "NONE") -> dict:
    bar = QUALITY_BARS[QualityFilter]
    _, src_img = image(ctx, SourceImage)
    _, tgt_img = image(ctx, TargetImage)
    source = largest_face(ctx, src_img, bar, "the source image")
    matches, unmatched = [], []
    for face in ctx.analyzer.analyze(tgt_img):
        if face_quality_score(face) < bar:
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


def analyze_faces(image, attributes: list[str] | None = None, ctx: Context | None = None) -> list[AnalyzedFace]:
    """Every face of an image (path, fsspec URI, bytes, or RGB uint8 array), largest first."""
    ctx = ctx or Context()
    attrs = parse_attributes(attributes)
    img = load(image, ctx.limits)
    return [AnalyzedFace(face_detail(f, img.width, img.height, attrs), f.embedding, f)
            for f in ctx.analyzer.analyze(img, attributes=requested_attributes(attrs))]
