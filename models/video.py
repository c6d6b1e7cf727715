"""Reading video with PyAV (FFmpeg): what a file holds (probe), and its frames, decoded once each,
from any frame range (a seek to the key frame before it, then decoding forward).

Each decoded frame gives its luma and chroma planes as they are (no colour conversion: the
segment features read them directly) and, only on the frames the face models analyse, an
upright RGB picture no larger than the models need. Why PyAV rather than decord or OpenCV:
BENCHMARKS.md ("Video decoding").
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import av
import fsspec
import numpy as np

from facelake import settings
from facelake.schemas.errors import (InvalidParameterException, InvalidVideoFormatException, RekognitionError,
                                     VideoTooLargeException)

from .images import DecodedImage, special_file_kind, storage_error

_CODEC_NAMES = {"hevc": "h265"}  # FFmpeg's name -> Rekognition's, where they differ


@dataclass(frozen=True)
class VideoInfo:
    """What Rekognition's VideoMetadata reports, and what reading the frames needs."""

    codec: str
    format: str
    rate: Fraction  # frames per second (the stream's average rate)
    frame_count: int
    duration_millis: int
    width: int  # as displayed (after rotation)
    height: int
    color_range: str  # FULL or LIMITED
    rotation: int  # degrees counter-clockwise, from the display matrix
    audio: tuple[dict, ...] = ()
    start_pts: int = 0  # of the video stream, in its time base
    time_base: Fraction = Fraction(1, 1000)

    def frame_of(self, pts: int) -> int:
        return round((pts - self.start_pts) * self.time_base * self.rate)

    def pts_of(self, frame: int) -> int:
        return self.start_pts + math.floor(frame / self.rate / self.time_base)


@dataclass
class Frame:
    number: int
    luma: np.ndarray  # (h, w) uint8, the Y plane as coded (limited or full range per VideoInfo)
    chroma: tuple[np.ndarray, np.ndarray]  # U and V planes (subsampled as coded)
    image: DecodedImage | None = field(default=None, repr=False)  # upright RGB, on analysed frames only


def _open(uri: str):
    """An fsspec filesystem and path for ``uri`` (PyAV reads and seeks through it), checked readable."""
    fs, path = fsspec.core.url_to_fs(uri)
    if fs.info(path).get("type") == "other":  # a FIFO or device would block the reader
        raise InvalidParameterException(f"cannot read {uri}: it is a {special_file_kind(path)}, not a file")
    return fs, path


def file_facts(uri: str, max_bytes: int = settings.MAX_VIDEO_BYTES) -> tuple[str, int]:
    """(sha256 of the bytes, size) of a video file, read once from end to end."""
    try:
        fs, path = _open(uri)
        size = fs.size(path)
        if size is not None and size > max_bytes:
            raise VideoTooLargeException(f"{uri} is {size} bytes; the limit is {max_bytes}")
        digest = hashlib.sha256()
        with fs.open(path, "rb") as f:
            while chunk := f.read(8 << 20):
                digest.update(chunk)
    except RekognitionError:
        raise
    except Exception as e:
        raise storage_error(uri, e) from e
    if size == 0:
        raise InvalidVideoFormatException(f"{uri} is empty (0 bytes)")
    return digest.hexdigest(), size


class _Container:
    """av.open on an fsspec file, with FFmpeg's failures turned into Rekognition's exceptions."""

    def __init__(self, uri: str):
        self.uri = uri
        try:
            fs, path = _open(uri)
            self.file = fs.open(path, "rb")
        except RekognitionError:
            raise
        except Exception as e:
            raise storage_error(uri, e) from e
        try:
            self.container = av.open(self.file, "r", timeout=settings.VIDEO_READ_TIMEOUT)
        except av.FFmpegError as e:
            self.file.close()
            raise InvalidVideoFormatException(f"{uri} is not a video FFmpeg can read: {e}") from e

    def __enter__(self):
        return self.container

    def __exit__(self, *exc):
        self.container.close()
        self.file.close()


def probe(uri: str) -> VideoInfo:
    """VideoInfo of a video file, whose first frame is decoded to prove it can be; raises
    InvalidVideoFormatException (no video stream, a codec or data FFmpeg cannot decode, no
    frame rate) or VideoTooLargeException (longer than Rekognition's 6 hours)."""
    with _Container(uri) as c:
        if not c.streams.video:
            kind = "audio only" if c.streams.audio else "no video stream"
            raise InvalidVideoFormatException(f"{uri} has no video stream ({kind})")
        vs = c.streams.video[0]
        cc = vs.codec_context
        rate = vs.average_rate or vs.guessed_rate or vs.base_rate
        if not rate or rate <= 0:
            raise InvalidVideoFormatException(f"{uri}: the video stream has no frame rate")
        rate = Fraction(rate)
        time_base = Fraction(vs.time_base) if vs.time_base else Fraction(1, 1000)
        if vs.duration:
            seconds = float(vs.duration * time_base)
        elif c.duration:
            seconds = c.duration / av.time_base
        else:
            seconds = (vs.frames or 0) / float(rate)
        if seconds > settings.MAX_VIDEO_SECONDS:
            raise VideoTooLargeException(f"{uri} lasts {seconds / 3600:.1f} h; the limit is "
                                         f"{settings.MAX_VIDEO_SECONDS / 3600:.0f} h")
        try:
            first = next(c.decode(vs), None)
        except av.FFmpegError as e:
            raise InvalidVideoFormatException(f"{uri}: cannot decode its {cc.name} video: {e}") from e
        if first is None:
            raise InvalidVideoFormatException(f"{uri}: the video stream has no frame that decodes")
        frames = vs.frames or round(seconds * rate)
        rotation = round(first.rotation) % 360
        w, h = first.width, first.height
        if rotation % 180:
            w, h = h, w
        full = first.color_range == 2 or first.format.name.startswith("yuvj")
        audio = tuple({"codec": a.codec_context.name,
                       "duration_millis": int(float(a.duration * a.time_base) * 1000) if a.duration else
                       int(seconds * 1000), "sample_rate": a.codec_context.sample_rate or 0,
                       "number_of_channels": a.codec_context.channels or 0} for a in c.streams.audio)
        return VideoInfo(codec=_CODEC_NAMES.get(cc.name, cc.name), format=_format_name(c.format.name, uri),
                         rate=rate, frame_count=int(frames), duration_millis=int(seconds * 1000), width=w, height=h,
                         color_range="FULL" if full else "LIMITED", rotation=rotation, audio=audio,
                         start_pts=vs.start_time or 0, time_base=time_base)


def _format_name(demuxer: str, uri: str) -> str:
    """Rekognition names the container as a media type would: QuickTime / MOV, MP4, ..."""
    if "mp4" in demuxer.split(","):
        return "QuickTime / MOV" if uri.lower().endswith(".mov") else "MP4"
    return demuxer


def _plane(plane) -> np.ndarray:
    return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]


_UPRIGHT = {90: 1, 180: 2, 270: 3}  # np.rot90 turns for a counter-clockwise display rotation


def frames(uri: str, info: VideoInfo, start: int, stop: int, analyse: Callable[[int], bool] = lambda n: False,
           max_side: int = settings.VIDEO_DECODE_MAX_SIDE) -> Iterator[Frame]:
    """Frames ``start``..``stop - 1`` of the video, each decoded once; frames for which
    ``analyse(number)`` is true also carry an upright RGB picture of at most ``max_side`` px.
    A frame number appears at most once (variable frame rate: numbered by time)."""
    with _Container(uri) as c:
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        if start > 0:
            c.seek(info.pts_of(start), stream=vs, backward=True, any_frame=False)
        last = start - 1
        scale = min(1.0, max_side / max(info.width, info.height))
        try:
            for frame in c.decode(vs):
                n = info.frame_of(frame.pts) if frame.pts is not None else last + 1
                if n <= last or n < start:
                    continue
                if n >= stop:
                    break
                last = n
                if frame.format.name not in ("yuv420p", "yuvj420p"):
                    frame = frame.reformat(format="yuv420p")
                image = None
                if analyse(n):
                    image = _upright(frame, info, scale)
                yield Frame(n, _plane(frame.planes[0]), (_plane(frame.planes[1]), _plane(frame.planes[2])), image)
        except av.FFmpegError as e:
            if last < start:
                raise InvalidVideoFormatException(f"{uri}: cannot decode frames from {start}: {e}") from e
            # a truncated or corrupt tail: the frames decoded so far stand; the rest are missing


def _upright(frame, info: VideoInfo, scale: float) -> DecodedImage:
    coded_w, coded_h = frame.width, frame.height
    w, h = max(1, round(coded_w * scale)), max(1, round(coded_h * scale))
    rgb = frame.reformat(width=w, height=h, format="rgb24").to_ndarray()
    if info.rotation in _UPRIGHT:
        rgb = np.ascontiguousarray(np.rot90(rgb, _UPRIGHT[info.rotation]))
    return DecodedImage(rgb, info.width, info.height, "VIDEO", None)
