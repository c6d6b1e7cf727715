"""Videos into their tables: probe each file, cut it into frame ranges analysed in parallel
(each frame decoded once for every analysis asked for), then stitch each video's ranges back:
shots and cues over the whole video, faces tracked into persons, matches against a collection.

    uris -> ProbeVideo -> ranges (Reshuffle) -> AnalyseRange -> GroupByKey(uri) -> StitchVideo

Every video ends in exactly one videos row or one errors row; a range that fails makes its
video an error row (stage ``analyze``), never a partial video.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import apache_beam as beam
import numpy as np
from apache_beam.utils.shared import Shared

from facelake import settings
from facelake.models.analyzer import AnalyzerConfig, FaceAnalyzer
from facelake.models.segments import LOOKAHEAD, Measures, cuts, measure, runs
from facelake.models.tracking import track
from facelake.models.video import VideoInfo, file_facts, frames, probe
from facelake.models.video_plan import VideoPlan
from facelake.schemas.rekognition import (distance_for_similarity, face_detail, parse_attributes,
                                          requested_attributes, similarity)
from facelake.schemas.errors import InvalidVideoFormatException
from facelake.schemas.video import segment, video_face_row, video_row
from facelake.store.collections import FACE_FIELDS, CollectionStore, nearest_rows, vector_indexed

from .faces import _count, _Reporting
from .progress import count_work
from .parquet import WriteTable
from .rows import error_from_exception

# a person's matches lie within this descriptor distance of its best match (same person: ~0.3-0.45
# from its mean; the eval set's look-alike pair: 0.58). benchmarks/video_accuracy.py measures it.
PERSON_MATCH_MARGIN = 0.12


@dataclass
class VideoRecord:
    uri: str
    video_id: str
    size_bytes: int
    info: VideoInfo


@dataclass
class RangeResult:
    """What one frame range gave: its measures, and its faces as (frame, FaceDetail, descriptor)."""

    record: VideoRecord
    start: int
    stop: int
    measures: Measures | None = None
    faces: list[tuple[int, dict, np.ndarray]] = field(default_factory=list)
    analysed: int = 0
    error: Exception | None = None  # what stopped the range (a Rekognition error, or another)


class ProbeVideo(_Reporting):
    """uri -> VideoRecord (the file's sha256, size and VideoInfo), or an error row."""

    def process(self, uri: str):
        _count("inputs")
        stage = "read"
        try:
            video_id, size = file_facts(uri)
            stage = "decode"
            info = probe(uri)
        except Exception as e:
            yield self.error(uri, e, stage)
            return
        yield VideoRecord(uri, video_id, size, info)


def split_ranges(rec: VideoRecord, plan: VideoPlan):
    """A video's frame ranges, (uri, record, start, stop): ``plan.range_frames`` long, or shorter
    so that there are ``plan.parallelism`` of them; the last one runs to the end."""
    n = rec.info.frame_count
    size = min(plan.range_frames, max(settings.MIN_RANGE_FRAMES, math.ceil(n / plan.parallelism)))
    starts = list(range(0, max(n, 1), size))
    for i, start in enumerate(starts):
        stop = starts[i + 1] if i + 1 < len(starts) else n + size  # past the declared count
        yield rec.uri, (rec, start, stop)


class AnalyseRange(beam.DoFn):
    """(uri, (record, start, stop)) -> (uri, RangeResult): the frames decoded once, measured for
    segments, and the sampled ones analysed for faces in batches."""

    def __init__(self, plan: VideoPlan, config: AnalyzerConfig = AnalyzerConfig(),
                 batch_size: int = settings.IMAGES_PER_BATCH):
        self.plan, self.config, self.batch_size = plan, config, batch_size
        self.attributes = parse_attributes(list(plan.attributes))
        self.wanted = requested_attributes(self.attributes)
        self._models = Shared()

    def setup(self):
        self.analyzer = None
        if self.plan.faces:
            self.analyzer = self._models.acquire(lambda: FaceAnalyzer(self.config), tag=repr(self.config))

    def process(self, element):
        uri, (rec, start, stop) = element
        count_work(1)  # ranges
        out = RangeResult(rec, start, stop)
        info, plan = rec.info, self.plan
        pending = []

        def analyse_pending():
            faces = self.analyzer.analyze_batch([f.image for f in pending], True, self.wanted)
            for fr, found in zip(pending, faces):
                for face in found:
                    detail = face_detail(face, info.width, info.height, self.attributes)
                    out.faces.append((fr.number, detail, face.embedding))
            out.analysed += len(pending)
            pending.clear()

        def decoded():
            for fr in frames(uri, info, max(0, start - 1 - LOOKAHEAD), stop + LOOKAHEAD,
                             analyse=lambda n: start <= n < stop and plan.analysed(n, info.rate)):
                if fr.image is not None:
                    pending.append(fr)
                    if len(pending) >= self.batch_size:
                        analyse_pending()
                yield fr

        try:
            full = info.color_range == "FULL"
            out.measures = measure(decoded(), start, stop, plan.black.max_luma(full))
            if pending:
                analyse_pending()
        except Exception as e:
            out.error, out.measures, out.faces = e, None, []
        _count("video_frames", len(out.measures.change) if out.measures else 0)
        yield uri, out


class StitchVideo(_Reporting):
    """(uri, [RangeResult]) -> a videos row (main), and rows on ``video_faces``, ``segments``,
    ``video_matches``; or one error row on ``errors``."""

    stage = "analyze"

    def __init__(self, run_id: str, plan: VideoPlan, model_versions: dict):
        super().__init__(run_id)
        self.plan, self.versions = plan, model_versions

    def setup(self):
        super().setup()
        self.dataset = self.indexed = None
        if self.plan.search:
            self.dataset = CollectionStore(self.plan.search["store"]).dataset(self.plan.search["collection_id"])
            self.indexed = vector_indexed(self.dataset)

    def process(self, element):
        uri, parts = element
        parts = sorted(parts, key=lambda r: r.start)
        rec = parts[0].record
        failed = next((p for p in parts if p.error), None)
        if failed:
            row = error_from_exception(uri, self.stage, failed.error, self.run_id)
            yield self.error_row({**row, "message": f"frames {failed.start}-{failed.stop - 1}: {row['message']}"})
            return
        try:
            m = Measures.stitch(p.measures for p in parts)
        except ValueError as e:
            yield self.error(uri, InvalidVideoFormatException(f"{uri}: frames missing ({e})"))
            return
        info = rec.info
        decoded = len(m.change)
        if info.frame_count - decoded > max(2, float(info.rate) / 2):
            yield self.error(uri, InvalidVideoFormatException(
                f"{uri} is truncated or corrupt: {decoded} of its {info.frame_count} frames decode"))
            return
        rate = info.rate
        shot_cuts = cuts(m, self.plan.min_shot_confidence)
        cut_frames = [f for f, _ in shot_cuts]
        base = {"video_id": rec.video_id, "uri": uri, "run_id": self.run_id}
        for row in self._segments(m, shot_cuts, rate, decoded):
            yield beam.pvalue.TaggedOutput("segments", {**base, **row})
        faces = [f for p in parts for f in p.faces]
        persons = 0
        if faces:
            boxes = np.array([[d["BoundingBox"]["Left"], d["BoundingBox"]["Top"],
                               d["BoundingBox"]["Left"] + d["BoundingBox"]["Width"],
                               d["BoundingBox"]["Top"] + d["BoundingBox"]["Height"]] for _, d, _ in faces])
            vectors = np.stack([v for _, _, v in faces]).astype(np.float32)
            index = track(np.array([f for f, _, _ in faces]), boxes, vectors, cut_frames, float(rate),
                          self.plan.tracking)
            persons = int(index.max()) + 1
            known = self._persons_matches(vectors, index, persons) if self.dataset is not None else None
            for (frame, detail, vec), person in zip(faces, index):
                row = video_face_row(detail, video_id=rec.video_id, uri=uri, frame=frame, rate=rate,
                                     person_index=int(person), embedding=vec, run_id=self.run_id,
                                     model_versions=self.versions)
                yield beam.pvalue.TaggedOutput("video_faces", row)
                if self.dataset is not None:
                    yield beam.pvalue.TaggedOutput("video_matches", self._matches(row, vec, known[int(person)]))
        _count("videos")
        _count("video_faces", len(faces))
        self.progress.add(images=1, faces=len(faces))
        yield video_row(info, video_id=rec.video_id, uri=uri, size_bytes=rec.size_bytes, frame_count=decoded,
                        analysed_frames=sum(p.analysed for p in parts), face_count=len(faces), person_count=persons,
                        run_id=self.run_id, model_versions=self.versions)

    def _segments(self, m: Measures, shot_cuts, rate, frames: int):
        types = self.plan.segment_types
        if "SHOT" in types:
            starts = [(0, 100.0), *shot_cuts]
            for i, (first, confidence) in enumerate(starts):
                last = starts[i + 1][0] - 1 if i + 1 < len(starts) else frames - 1
                yield segment("SHOT", first, last, rate, confidence, shot_index=i)
        if "TECHNICAL_CUE" in types:
            cues = []
            black = m.black >= self.plan.black.min_coverage
            for a, b in runs(black, m.start):
                cues.append((a, b, "BlackFrames", float(np.mean(m.black[a - m.start:b - m.start + 1]))))
            for a, b in runs(m.bars >= 0.5, m.start):
                cues.append((a, b, "ColorBars", 100.0 * float(np.mean(m.bars[a - m.start:b - m.start + 1]))))
            cues = [c for c in cues if c[3] >= self.plan.min_cue_confidence]
            covered = np.zeros(frames, bool)
            for a, b, _, _ in cues:
                covered[a:b + 1] = True
            cues += [(a, b, "Content", 100.0) for a, b in runs(~covered)]
            for a, b, cue, confidence in sorted(cues):
                yield segment("TECHNICAL_CUE", a, b, rate, confidence, cue=cue)

    def _persons_matches(self, vectors: np.ndarray, index: np.ndarray, persons: int) -> list[tuple[list, np.ndarray]]:
        """Per person, the collection faces its mean descriptor matches above the threshold and
        nearly as well as its best match (within PERSON_MATCH_MARGIN in distance), as (face ids,
        their vectors): the same person indexed twice is kept, a look-alike who only clears the
        threshold is not. One collection query per person."""
        s = self.plan.search
        limit = distance_for_similarity(s["threshold"])
        out = []
        for p in range(persons):
            hits = nearest_rows(self.dataset, vectors[index == p].mean(axis=0), s["max_matches"], limit, self.indexed,
                                columns=[*FACE_FIELDS, "vector"])
            best = min((d for _, d in hits), default=0.0)
            kept = [row for row, d in hits if d <= best + PERSON_MATCH_MARGIN]
            out.append(([row["face_id"] for row in kept],
                        np.array([row["vector"] for row in kept], np.float32).reshape(len(kept), vectors.shape[1])))
        return out

    def _matches(self, row: dict, vec: np.ndarray, person_matches: tuple[list, np.ndarray]) -> dict:
        """The faces of its person's matches that this face itself matches above the threshold:
        one look-alike frame does not make a match."""
        ids, vectors = person_matches
        limit = distance_for_similarity(self.plan.search["threshold"])
        distances = np.linalg.norm(vectors - np.asarray(vec, np.float32), axis=1)
        hits = sorted((float(d), face_id) for face_id, d in zip(ids, distances) if d <= limit)
        return {"video_id": row["video_id"], "uri": row["uri"], "timestamp": row["timestamp"],
                "frame_number": row["frame_number"], "person_index": row["person_index"],
                "collection_id": self.plan.search["collection_id"],
                "matches": [{"face_id": face_id, "similarity": similarity(d)} for d, face_id in hits],
                "run_id": self.run_id}


class VideoTables(beam.PTransform):
    """file URIs -> {"videos", "video_faces", "segments", "video_matches", "errors", "staged"}."""

    def __init__(self, output: str, run_id: str, plan: VideoPlan, *, config: AnalyzerConfig = AnalyzerConfig(),
                 model_versions: dict | None = None):
        super().__init__()
        self.output, self.run_id, self.plan, self.config = output, run_id, plan, config
        self.versions = model_versions or {}

    def expand(self, uris):
        probed = uris | "Probe" >> beam.ParDo(ProbeVideo(self.run_id)).with_outputs("errors", main="records")
        stitched = (probed.records
                    | "Ranges" >> beam.FlatMap(split_ranges, self.plan)
                    | "Spread" >> beam.Reshuffle()
                    | "Analyse" >> beam.ParDo(AnalyseRange(self.plan, self.config))
                    | "ByVideo" >> beam.GroupByKey()
                    | "Stitch" >> beam.ParDo(StitchVideo(self.run_id, self.plan, self.versions)).with_outputs(
                        "errors", "video_faces", "segments", "video_matches", main="videos"))
        errors = (probed.errors, stitched.errors) | "VideoErrors" >> beam.Flatten()
        out = {"videos": stitched.videos, "video_faces": stitched.video_faces, "segments": stitched.segments,
               "video_matches": stitched.video_matches, "errors": errors}
        staged = [out[t] | f"Write_{t}" >> WriteTable(self.output, t, self.run_id) for t in out]
        return {**out, "staged": tuple(staged) | "VideoStaged" >> beam.Flatten()}
