"""VideoPlan: what the video job finds in each video (the options of ``facelake video`` and of
Rekognition's Start* calls), as one value that a job record can hold."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from facelake import settings

from .segments import BlackRule
from .tracking import TrackSettings

SEGMENT_TYPES = ("SHOT", "TECHNICAL_CUE")
MAX_MATCHES = 10  # collection faces looked up per person (--search, StartFaceSearch)


def search_spec(store: str, collection_id: str, threshold: float) -> dict:
    """VideoPlan.search: match each person against this collection at FaceMatchThreshold ``threshold``."""
    return {"store": store, "collection_id": collection_id, "threshold": threshold, "max_matches": MAX_MATCHES}


@dataclass(frozen=True)
class VideoPlan:
    """What to find in each video (the options of ``facelake video`` and of the Start* calls)."""

    faces: bool = True
    segment_types: tuple[str, ...] = ()  # of SEGMENT_TYPES
    fps: float | None = settings.VIDEO_FPS  # frames analysed per second; None: every frame
    attributes: tuple[str, ...] = ("DEFAULT",)
    black: BlackRule = BlackRule()
    min_shot_confidence: float = 50.0
    min_cue_confidence: float = 50.0
    range_frames: int = settings.VIDEO_RANGE_FRAMES
    parallelism: int = 1  # a video is cut into at least this many ranges (of >= MIN_RANGE_FRAMES)
    search: dict | None = None  # {"store", "collection_id", "threshold", "max_matches"}
    tracking: TrackSettings = TrackSettings()

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "VideoPlan":
        return VideoPlan(**{**d, "segment_types": tuple(d["segment_types"]), "attributes": tuple(d["attributes"]),
                            "black": BlackRule(**d["black"]), "tracking": TrackSettings(**d["tracking"])})

    def analysed(self, n: int, rate) -> bool:
        """Whether frame ``n`` is one the face models see: the first frame at or after each
        1/fps second (every frame without fps)."""
        if not self.faces:
            return False
        if self.fps is None or self.fps >= rate:
            return True
        return n == 0 or math.floor(n * self.fps / rate) != math.floor((n - 1) * self.fps / rate)
