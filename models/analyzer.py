"""FaceAnalyzer: the one per-image face analysis used by the API and the pipeline DoFns alike.

detect (RetinaFace) -> mesh (468 points: landmarks, pose, quality) -> [dlib 5 points ->
aligned chip -> 128-d descriptor]. Models come from the registry and load on first use.
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from facelake import settings

from .attributes import NAMES as ATTRIBUTE_NAMES
from .attributes import SLOTS as ATTRIBUTE_SLOTS
from .attributes import AttributeModels
from .dlib_face import DlibAligner, DlibEmbedder, chip_transform, extract_chip
from .facemesh import FaceMesh, MeshResult, face_quality, head_pose, rekognition_landmarks
from .images import DecodedImage
from .registry import ModelRegistry
from .retinaface import Detections, RetinaFaceDetector


@dataclass(frozen=True)
class AnalyzerConfig:
    """How faces are found; the defaults and their reasons are in facelake.settings."""

    detect_max_side: int = settings.DETECT_MAX_SIDE
    min_detection_score: float = settings.MIN_DETECTION_SCORE  # 0..1
    max_faces: int = settings.MAX_FACES
    min_face_ratio: float = settings.MIN_FACE_RATIO
    threads: int = 0  # onnxruntime intra-op threads (0: its default, all cores)


@dataclass
class Face:
    box: np.ndarray  # x1, y1, x2, y2 in full-resolution pixels
    confidence: float  # 0..100
    landmarks: dict[str, tuple[float, float]]  # Rekognition type -> (x, y) full-resolution px
    pose: dict[str, float]
    quality: dict[str, float]
    mesh: MeshResult = field(repr=False)
    embedding: np.ndarray | None = None  # (128,) float32
    # attributes beyond DEFAULT, by Rekognition's attribute name (AGE_RANGE, SMILE, ...), as the
    # neutral values AttributeModels gives (probabilities, years, degrees)
    attributes: dict = field(default_factory=dict)


class FaceAnalyzer:
    def __init__(self, config: AnalyzerConfig = AnalyzerConfig(), registry: ModelRegistry | None = None):
        self.config = config
        self.registry = registry or ModelRegistry(threads=config.threads)
        self._detector = self._mesh = self._aligner = self._embedder = self._attributes = None
        self.timings: dict[str, float] = defaultdict(float)  # seconds spent per stage, cumulative

    @contextmanager
    def _stage(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] += time.perf_counter() - start

    @property
    def model_versions(self) -> dict[str, str]:
        return self.registry.versions()

    def versions_used(self, embed: bool = True, attributes: frozenset[str] = frozenset()) -> dict[str, str | None]:
        """The version of every model slot, None for the slots that analyze_batch(images, embed,
        attributes) does not run: what made its faces."""
        used = {"detector", "mesh", *(("shape5", "embedder") if embed else ())}
        used.update(slot for name in attributes if name in ATTRIBUTE_SLOTS for slot in ATTRIBUTE_SLOTS[name])
        return {slot: version if slot in used else None for slot, version in self.model_versions.items()}

    @property
    def detector(self) -> RetinaFaceDetector:
        if self._detector is None:
            self._detector = RetinaFaceDetector(self.registry.get("detector"), self.config.detect_max_side,
                                                self.config.min_detection_score)
        return self._detector

    @property
    def mesh(self) -> FaceMesh:
        if self._mesh is None:
            self._mesh = FaceMesh(self.registry.get("mesh"))
        return self._mesh

    @property
    def aligner(self) -> DlibAligner:
        if self._aligner is None:
            self._aligner = DlibAligner(self.registry.get("shape5"))
        return self._aligner

    @property
    def embedder(self) -> DlibEmbedder:
        if self._embedder is None:
            self._embedder = DlibEmbedder(self.registry.get("embedder"))
        return self._embedder

    @property
    def attribute_models(self) -> AttributeModels:
        if self._attributes is None:
            self._attributes = AttributeModels(self.registry)
        return self._attributes

    def analyze(self, image: DecodedImage, embed: bool = True, attributes: frozenset[str] = frozenset()) -> list[Face]:
        return self.analyze_batch([image], embed, attributes)[0]

    def analyze_batch(self, images: list[DecodedImage], embed: bool = True,
                      attributes: frozenset[str] = frozenset()) -> list[list[Face]]:
        """Faces of each image, largest first. Each model runs batched across all the images.

        ``attributes``: Rekognition attribute names (AGE_RANGE, SMILE, ...) to compute beyond
        DEFAULT; only the models those need are run."""
        wanted = set(attributes) & set(ATTRIBUTE_NAMES)
        with self._stage("detect"):
            detections = [self._select(im, det) for im, det in
                          zip(images, self.detector.detect([im.rgb for im in images]))]
        owners = [(i, j) for i, det in enumerate(detections) for j in range(len(det))]
        with self._stage("mesh"):
            crops = [self.mesh.crop(images[i].rgb, detections[i].boxes[j], detections[i].points[j, :2])
                     for i, j in owners]
            meshes = self.mesh([c for c, _ in crops], [m for _, m in crops])
        embeddings = [None] * len(owners)
        points5 = [None] * len(owners)
        if embed or wanted & {"AGE_RANGE", "GENDER"}:
            with self._stage("align"):
                points5 = [self.aligner.points(images[i].rgb, detections[i].boxes[j]) for i, j in owners]
        if embed:
            with self._stage("align"):
                chips = [extract_chip(images[i].rgb, chip_transform(p)) for (i, _), p in zip(owners, points5)]
            with self._stage("embed"):
                embeddings = list(self.embedder(chips))
        extra = [{} for _ in owners]
        if wanted:
            with self._stage("attributes"):
                extra = self.attribute_models(wanted, images, [
                    (i, detections[i].boxes[j], detections[i].points[j, :2], p, m.points)
                    for (i, j), p, m in zip(owners, points5, meshes)])
        faces: list[list[Face]] = [[] for _ in images]
        with self._stage("describe"):
            for (i, j), mesh, emb, attrs in zip(owners, meshes, embeddings, extra):
                inv = 1.0 / images[i].scale  # decoded pixels -> full-resolution pixels
                faces[i].append(Face(
                    box=detections[i].boxes[j] * inv,
                    confidence=float(100.0 * detections[i].scores[j]),
                    landmarks={k: (x * inv, y * inv) for k, (x, y) in rekognition_landmarks(mesh.points).items()},
                    pose=head_pose(mesh.points),
                    quality=face_quality(mesh.crop, mesh.crop_points),
                    mesh=mesh,
                    embedding=emb,
                    attributes=attrs,
                ))
        return faces

    def embed_face(self, image: DecodedImage, face: Face) -> np.ndarray:
        """The descriptor of one face that ``analyze(..., embed=False)`` found: for callers that
        need only one face's descriptor (the largest, as CompareFaces and SearchFacesByImage)."""
        with self._stage("align"):
            points5 = self.aligner.points(image.rgb, face.box * image.scale)
            chip = extract_chip(image.rgb, chip_transform(points5))
        with self._stage("embed"):
            return self.embedder([chip])[0]

    def _select(self, image: DecodedImage, det: Detections) -> Detections:
        """Drop faces below the minimum size; keep the largest max_faces, largest first."""
        if len(det) == 0:
            return det
        w, h = det.boxes[:, 2] - det.boxes[:, 0], det.boxes[:, 3] - det.boxes[:, 1]
        det = det.take(np.flatnonzero(np.minimum(w, h) >= self.config.min_face_ratio * max(image.rgb.shape[:2])))
        areas = (det.boxes[:, 2] - det.boxes[:, 0]) * (det.boxes[:, 3] - det.boxes[:, 1])
        return det.take(np.argsort(-areas, kind="stable")[: self.config.max_faces])
