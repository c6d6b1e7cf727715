"""PhotoTables: a photo library into its images, faces and errors tables, in one PTransform."""

from __future__ import annotations

import apache_beam as beam

from facelake.models.analyzer import AnalyzerConfig
from facelake.models.images import ImageLimits
from facelake.settings import IMAGES_PER_BATCH

from .faces import DetectFaces
from .parquet import WriteTable
from .sources import MatchImages


class PhotoTables(beam.PTransform):
    """pipeline root -> the images / faces / errors rows of ``sources``, staged under ``output``;
    returns their PCollections for steps that follow (index, search) and ``staged``, the
    (table, file) pairs to commit (facelake.store.commit)."""

    def __init__(self, sources: list[str], output: str, run_id: str, *, config: AnalyzerConfig = AnalyzerConfig(),
                 limits: ImageLimits = ImageLimits(), attributes=("DEFAULT",), skip_ids: frozenset[str] = frozenset(),
                 batch_size: int = IMAGES_PER_BATCH, thumbnails: bool = False):
        super().__init__()
        self.thumbnails = thumbnails
        self.sources, self.output, self.run_id = list(sources), output, run_id
        self.config, self.limits, self.attributes = config, limits, list(attributes)
        self.skip_ids, self.batch_size = skip_ids, batch_size

    def expand(self, pbegin):
        matched = pbegin | "Match" >> MatchImages(self.sources, self.run_id)
        found = matched["uris"] | "Detect" >> DetectFaces(self.run_id, self.config, self.limits, self.attributes,
                                                          self.skip_ids, self.batch_size, thumbnails=self.thumbnails)
        errors = (matched["errors"], found["errors"]) | "AllErrors" >> beam.Flatten()
        staged = (found["images"] | "WriteImages" >> WriteTable(self.output, "images", self.run_id),
                  found["faces"] | "WriteFaces" >> WriteTable(self.output, "faces", self.run_id),
                  errors | "WriteErrors" >> WriteTable(self.output, "errors", self.run_id),
                  *([found["thumbnails"] | "WriteThumbnails" >> WriteTable(self.output, "thumbnails", self.run_id)]
                    if self.thumbnails else [])) | "Staged" >> beam.Flatten()
        return {"images": found["images"], "faces": found["faces"], "errors": errors, "staged": staged}
