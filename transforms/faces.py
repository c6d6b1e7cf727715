"""Read, decode and analyse images: the DoFns and PTransforms of face detection at scale.

Each step is usable on its own in a user's pipeline. Every input leaves exactly one row: a
record on the main output, or an error row on the ``errors`` output with the stage and a
machine-readable reason; nothing raises out of a DoFn for bad input.

Detection, description and embedding are one batched DoFn (``AnalyzeBatch``) around
``FaceAnalyzer``, not three: passing full-resolution images between stages would cost memory
and, on a distributed runner, serialisation, for no gain; the analyzer already runs each model
batched across the images of a batch.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.utils.shared import Shared

from facelake.models.analyzer import AnalyzerConfig, FaceAnalyzer
from facelake.models.images import DecodedImage, ImageLimits, StoreUnreachable, decode, face_crop_jpeg, read_uri
from facelake.schemas.rekognition import face_detail, parse_attributes, requested_attributes
from facelake.schemas.tables import face_row, image_id, image_row
from facelake.settings import IMAGES_PER_BATCH, S3_UNREACHABLE_AFTER

from .progress import ProgressReporter, count_work
from .rows import error_from_exception


@dataclass
class ImageRecord:
    uri: str
    image_id: str
    size_bytes: int
    data: bytes | None = field(default=None, repr=False)  # dropped once decoded
    image: DecodedImage | None = field(default=None, repr=False)


def _count(name: str, n: int = 1) -> None:
    beam.metrics.Metrics.counter("facelake", name).inc(n)


class _Reporting(beam.DoFn):
    """A DoFn that reports progress and error rows the same way."""

    stage = ""

    def __init__(self, run_id: str):
        self.run_id = run_id

    def setup(self):
        self.progress = ProgressReporter()

    def teardown(self):
        self.progress.flush()

    def error(self, uri: str, exc: BaseException, stage: str | None = None):
        """The error row of ``exc`` for ``uri`` (at ``stage``, default the DoFn's), counted."""
        return self.error_row(error_from_exception(uri, stage or self.stage, exc, self.run_id))

    def error_row(self, row: dict):
        _count("errors")
        _count(f"errors.{row['reason']}")
        self.progress.add(errors=1)
        return beam.pvalue.TaggedOutput("errors", row)


class ReadImage(_Reporting):
    """uri -> ImageRecord with the bytes and their sha256; files already analysed (their
    image_id in ``skip_ids``) go to the ``skipped`` output instead."""

    stage = "read"

    def __init__(self, run_id: str, limits: ImageLimits = ImageLimits(), skip_ids: frozenset[str] = frozenset()):
        super().__init__(run_id)
        self.limits, self.skip_ids = limits, skip_ids

    def setup(self):
        super().setup()
        self.failed_in_a_row: Counter = Counter()  # per object store: reads that could not reach it
        self.unreachable: dict[str, str] = {}  # object stores given up on, with the last failure

    def process(self, uri: str):
        _count("inputs")
        store = uri.split("://", 1)[0] if "://" in uri else ""
        if store in self.unreachable:  # fail at once rather than wait on a dead endpoint per input
            yield self.error(uri, StoreUnreachable(f"cannot read {uri}: not tried, the object store stopped "
                                                   f"answering ({self.unreachable[store]})"))
            return
        try:
            data = read_uri(uri, self.limits.max_s3_bytes)
        except StoreUnreachable as e:
            self.failed_in_a_row[store] += 1
            if store and self.failed_in_a_row[store] >= S3_UNREACHABLE_AFTER:
                self.unreachable[store] = f"{S3_UNREACHABLE_AFTER} reads in a row failed; last: {e.message}"
            yield self.error(uri, e)
            return
        except Exception as e:
            yield self.error(uri, e)
            return
        self.failed_in_a_row[store] = 0
        iid = image_id(data)
        if iid in self.skip_ids:
            _count("skipped")
            self.progress.add(skipped=1)
            yield beam.pvalue.TaggedOutput("skipped", uri)
            return
        yield ImageRecord(uri, iid, len(data), data=data)


class DecodeImage(_Reporting):
    """ImageRecord with bytes -> ImageRecord with the decoded, upright RGB image."""

    stage = "decode"

    def __init__(self, run_id: str, limits: ImageLimits = ImageLimits()):
        super().__init__(run_id)
        self.limits = limits

    def process(self, rec: ImageRecord):
        try:
            image = decode(rec.data, self.limits)
        except Exception as e:
            yield self.error(rec.uri, e)
            return
        yield ImageRecord(rec.uri, rec.image_id, rec.size_bytes, image=image)


class AnalyzeBatch(_Reporting):
    """A batch of decoded ImageRecords -> image rows (main) and face rows (``faces``).

    The models load once per worker process, in setup(), shared by every instance of the DoFn
    there (Beam's shared handle). If a batch fails as a whole, its images are retried one by one
    so that only the image at fault becomes an error row.
    """

    stage = "analyze"

    def __init__(self, run_id: str, config: AnalyzerConfig = AnalyzerConfig(), attributes=("DEFAULT",),
                 embed: bool = True, thumbnails: bool = False):
        super().__init__(run_id)
        self.config, self.attributes, self.embed = config, parse_attributes(list(attributes)), embed
        self.thumbnails = thumbnails
        self.wanted = requested_attributes(self.attributes)
        self._models = Shared()

    def setup(self):
        super().setup()
        self.analyzer = self._models.acquire(lambda: FaceAnalyzer(self.config), tag=repr(self.config))
        self.versions = self.analyzer.versions_used(self.embed, self.wanted)

    def process(self, batch: list[ImageRecord]):
        count_work(len(batch))
        try:
            results = list(zip(batch, self.analyzer.analyze_batch([r.image for r in batch], self.embed, self.wanted)))
        except Exception:
            results = []
            for rec in batch:
                try:
                    results.append((rec, self.analyzer.analyze(rec.image, self.embed, self.wanted)))
                except Exception as e:
                    yield self.error(rec.uri, e)
        for rec, faces in results:
            yield from self._rows(rec, faces)

    def _rows(self, rec: ImageRecord, faces):
        img = rec.image
        for i, face in enumerate(faces):
            detail = face_detail(face, img.width, img.height, self.attributes)
            row = face_row(detail, image_id_=rec.image_id, uri=rec.uri, face_index=i, embedding=face.embedding,
                           run_id=self.run_id, model_versions=self.versions, captured_at=img.captured_at)
            yield beam.pvalue.TaggedOutput("faces", row)
            if self.thumbnails:  # cropped from the pixels already decoded
                yield beam.pvalue.TaggedOutput("thumbnails", {
                    "face_id": row["face_id"], "uri": rec.uri, "run_id": self.run_id,
                    "jpeg": face_crop_jpeg(img.rgb, tuple(float(v) * img.scale for v in face.box))})
        _count("images")
        _count("faces", len(faces))
        self.progress.add(images=1, faces=len(faces))
        yield image_row(image_id_=rec.image_id, uri=rec.uri, width=img.width, height=img.height, format=img.format,
                        orientation_correction=img.orientation_correction, size_bytes=rec.size_bytes,
                        face_count=len(faces), run_id=self.run_id, model_versions=self.versions,
                        captured_at=img.captured_at)


class DetectFaces(beam.PTransform):
    """file URIs -> {"images", "faces", "errors", "skipped", "thumbnails"}: read, decode, analyse
    in batches (``thumbnails``: a JPEG crop of each face too)."""

    def __init__(self, run_id: str, config: AnalyzerConfig = AnalyzerConfig(), limits: ImageLimits = ImageLimits(),
                 attributes=("DEFAULT",), skip_ids: frozenset[str] = frozenset(), max_batch_size: int = IMAGES_PER_BATCH,
                 embed: bool = True, thumbnails: bool = False):
        super().__init__()
        self.run_id, self.config, self.limits = run_id, config, limits
        self.attributes, self.skip_ids, self.max_batch_size, self.embed = attributes, skip_ids, max_batch_size, embed
        self.thumbnails = thumbnails

    def expand(self, uris):
        read = uris | "Read" >> beam.ParDo(ReadImage(self.run_id, self.limits, self.skip_ids)).with_outputs(
            "errors", "skipped", main="records")
        decoded = read.records | "Decode" >> beam.ParDo(DecodeImage(self.run_id, self.limits)).with_outputs(
            "errors", main="records")
        analyzed = (decoded.records
                    | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self.max_batch_size)
                    | "Analyze" >> beam.ParDo(AnalyzeBatch(self.run_id, self.config, self.attributes, self.embed,
                                                           self.thumbnails))
                    .with_outputs("errors", "faces", "thumbnails", main="images"))
        errors = (read.errors, decoded.errors, analyzed.errors) | "Errors" >> beam.Flatten()
        return {"images": analyzed.images, "faces": analyzed.faces, "errors": errors, "skipped": read.skipped,
                "thumbnails": analyzed.thumbnails}
