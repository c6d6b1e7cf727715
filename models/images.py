"""Reading and decoding images with Rekognition's limits: sources, formats, orientation, bombs.

Everything that turns user input (bytes, a path, an fsspec URI, an S3 object, an array) into
an RGB array lives here, so the API and the pipeline DoFns accept and reject the same inputs
with the same errors.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import stat
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from facelake import settings
from facelake.schemas.errors import (
    AccessDeniedException,
    ImageTooLargeException,
    InvalidImageFormatException,
    InvalidParameterException,
    InvalidS3ObjectException,
)

Image.MAX_IMAGE_PIXELS = None  # we check the pixel count ourselves, from the header

# EXIF orientation -> the rotation the stored pixels needed (Rekognition's OrientationCorrection)
EXIF_ROTATION = {1: "ROTATE_0", 2: "ROTATE_0", 3: "ROTATE_180", 4: "ROTATE_180",
                 5: "ROTATE_90", 6: "ROTATE_90", 7: "ROTATE_270", 8: "ROTATE_270"}
# EXIF orientation -> the Pillow transpose that shows the image upright
EXIF_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                  4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
                  6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
                  8: Image.Transpose.ROTATE_90}
# EXIF tags of when a photo was taken, most trusted first, as (date-time tag, its offset tag, whether
# the date is in the Exif IFD rather than the image's own; offsets always are): DateTimeOriginal,
# DateTimeDigitized, DateTime (the last is also rewritten by editors, so it comes last)
EXIF_TIMES = ((0x9003, 0x9011, True), (0x9004, 0x9012, True), (0x0132, 0x9010, False))
_EXIF_TIME = re.compile(r"(\d{4}):(\d\d):(\d\d)[ T](\d\d):(\d\d):(\d\d)")
_EXIF_OFFSET = re.compile(r"([+-])(\d\d):(\d\d)")


@dataclass(frozen=True)
class ImageLimits:
    """Rekognition's limits as defaults; every one can be changed."""

    max_bytes: int = settings.MAX_IMAGE_BYTES  # image passed as bytes
    max_s3_bytes: int = settings.MAX_S3_IMAGE_BYTES  # image read from S3 / a path / a URI
    min_side: int = settings.MIN_IMAGE_SIDE
    max_pixels: int = settings.MAX_IMAGE_PIXELS
    formats: tuple[str, ...] = settings.IMAGE_FORMATS
    decode_max_side: int = settings.DECODE_MAX_SIDE
    # the buckets an Image's S3Object may name (None: any the credentials reach), e.g. for a server
    s3_buckets: tuple[str, ...] | None = None


@dataclass
class DecodedImage:
    rgb: np.ndarray  # (h, w, 3) uint8, orientation already corrected
    width: int  # full-resolution size after orientation correction
    height: int
    format: str
    orientation_correction: str | None  # set when the image carried an EXIF orientation
    captured_at: dt.datetime | None = None  # when the photo was taken, from EXIF (see capture_time)

    @property
    def scale(self) -> float:
        """Decoded pixels per full-resolution pixel (< 1 when decoded reduced)."""
        return self.rgb.shape[1] / self.width


class StoreUnreachable(InvalidS3ObjectException):
    """The object store did not answer (connection refused, timed out): Rekognition's
    InvalidS3ObjectException, told apart so a reader can stop asking a dead endpoint."""


def configure_object_stores() -> None:
    """s3fs's defaults from facelake.settings (retry budget and timeouts), where the user's
    fsspec configuration does not set them."""
    import fsspec.config

    conf = fsspec.config.conf.setdefault("s3", {})
    kwargs = conf.setdefault("config_kwargs", {})
    kwargs.setdefault("retries", {"max_attempts": settings.S3_MAX_ATTEMPTS, "mode": "standard"})
    kwargs.setdefault("connect_timeout", settings.S3_CONNECT_TIMEOUT)
    kwargs.setdefault("read_timeout", settings.S3_READ_TIMEOUT)


def storage_error(uri: str, e: BaseException) -> Exception:
    """A filesystem or object-store failure as Rekognition's exception, the cause in its message."""
    from botocore.exceptions import BotoCoreError, ConnectionError as BotoConnectionError, NoCredentialsError

    if isinstance(e, NoCredentialsError):
        return AccessDeniedException(f"cannot read {uri}: no credentials for the object store "
                                     "(set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile)")
    if isinstance(e, PermissionError):
        return AccessDeniedException(f"cannot read {uri}: access denied ({e})")
    if isinstance(e, FileNotFoundError):
        missing = InvalidS3ObjectException if uri.startswith("s3://") else InvalidParameterException
        return missing(f"cannot read {uri}: not found")
    if isinstance(e, IsADirectoryError):
        return InvalidParameterException(f"cannot read {uri}: it is a directory")
    if isinstance(e, BotoConnectionError) or type(e).__module__.startswith("aiohttp") or isinstance(
            e, (ConnectionError, TimeoutError)):
        return StoreUnreachable(f"cannot read {uri}: the object store did not answer ({e})")
    if isinstance(e, (OSError, ValueError, ImportError, BotoCoreError)):
        return InvalidS3ObjectException(f"cannot read {uri}: {e}")
    return InvalidS3ObjectException(f"cannot read {uri}: {type(e).__name__}: {e}")


def read_uri(uri: str, max_bytes: int, version: str | None = None) -> bytes:
    """Bytes of a local path or fsspec URI (s3://, gs://, memory://, ...), size-checked first."""
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(uri, **({"version_aware": True} if version else {}))
        kwargs = {"version_id": version} if version else {}
        if fs.info(path, **kwargs).get("type") == "other":  # reading a FIFO, socket or device would block
            kind = special_file_kind(path)
            raise InvalidParameterException(f"cannot read {uri}: it is a {kind}, not a file")
        size = fs.size(path) if not version else fs.info(path, **kwargs).get("size")
        if size is not None and size > max_bytes:
            raise ImageTooLargeException(f"{uri} is {size} bytes; the limit is {max_bytes}")
        with fs.open(path, "rb", **kwargs) as f:
            data = f.read(max_bytes + 1)
    except (ImageTooLargeException, InvalidParameterException):
        raise
    except Exception as e:
        raise storage_error(uri, e) from e
    if len(data) > max_bytes:
        raise ImageTooLargeException(f"{uri} is over {max_bytes} bytes")
    return data


def special_file_kind(path: str) -> str:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "special file"
    for test, kind in ((stat.S_ISFIFO, "named pipe (FIFO)"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device")):
        if test(mode):
            return kind
    return "special file"


def decode(data: bytes, limits: ImageLimits = ImageLimits()) -> DecodedImage:
    """Decode image bytes to RGB, applying EXIF orientation and the limits."""
    if not data:
        raise InvalidImageFormatException("the image is empty (0 bytes)")
    try:
        img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as e:
        raise InvalidImageFormatException("not an image in a supported format") from e
    except Exception as e:  # Pillow raises many types on corrupt headers
        raise InvalidImageFormatException(f"unreadable image header: {e}") from e
    # a multi-picture JPEG (MPO, as many cameras write) is a JPEG whose first picture is the photo
    fmt = "JPEG" if img.format == "MPO" else img.format
    if fmt not in limits.formats:
        raise InvalidImageFormatException(
            f"image format {img.format} is not supported (supported: {', '.join(limits.formats)})")
    w, h = img.size
    if w * h > limits.max_pixels:
        raise ImageTooLargeException(f"image is {w}x{h} = {w * h} pixels; the limit is {limits.max_pixels}")
    if min(w, h) < limits.min_side:
        raise InvalidParameterException(f"image is {w}x{h}; each side must be at least {limits.min_side} px")
    try:
        exif = img.getexif()
        orientation = exif.get(0x0112)
    except Exception:
        exif, orientation = None, None
    try:
        if fmt == "JPEG" and max(w, h) > limits.decode_max_side:
            k = max(w, h) / limits.decode_max_side
            img.draft("RGB", (int(w / k), int(h / k)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img.load()
        rgb = _to_rgb(img)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise InvalidImageFormatException(f"corrupt or truncated image: {e}") from e
    if orientation in EXIF_TRANSPOSE:
        rgb = np.asarray(Image.fromarray(rgb).transpose(EXIF_TRANSPOSE[orientation]))
        if orientation >= 5:
            w, h = h, w
    return DecodedImage(np.ascontiguousarray(rgb), w, h, fmt, EXIF_ROTATION.get(orientation) if orientation else None,
                        capture_time(exif))


def capture_time(exif) -> dt.datetime | None:
    """When a photo was taken, in UTC, from its EXIF: the first of DateTimeOriginal,
    DateTimeDigitized and DateTime that holds a real date. Its OffsetTime tag, when there is one,
    gives the camera's zone; without one the camera's clock is taken as UTC (EXIF before 2.31
    has no zone). None when no tag holds a date (zeros and garbage are common)."""
    if not exif:
        return None
    try:
        exif_ifd = exif.get_ifd(0x8769)
    except Exception:  # an unreadable Exif IFD
        exif_ifd = {}
    for time_tag, offset_tag, in_exif_ifd in EXIF_TIMES:
        m = _EXIF_TIME.match(str((exif_ifd if in_exif_ifd else exif).get(time_tag) or "").strip())
        try:
            when = dt.datetime(*map(int, m.groups()), tzinfo=dt.timezone.utc) if m else None
        except ValueError:  # a date like 2019:00:00
            when = None
        if when is None:
            continue
        o = _EXIF_OFFSET.match(str(exif_ifd.get(offset_tag) or "").strip())
        if o:
            sign = 1 if o.group(1) == "+" else -1
            when -= sign * dt.timedelta(hours=int(o.group(2)), minutes=int(o.group(3)))
        return when
    return None


def _to_rgb(img: Image.Image) -> np.ndarray:
    """Any Pillow mode to 8-bit RGB: 16-bit scaled down, alpha composited on white, CMYK converted."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(img).astype(np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        g = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, 2)
    if img.mode == "F":
        a = np.asarray(img)
        lo, hi = float(a.min()), float(a.max())
        g = ((a - lo) / (hi - lo or 1.0) * 255).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, 2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    return np.asarray(img if img.mode == "RGB" else img.convert("RGB"))


def load(source, limits: ImageLimits = ImageLimits()) -> DecodedImage:
    """An image from bytes, a path / fsspec URI, a Rekognition Image dict, or an RGB array."""
    if isinstance(source, np.ndarray):
        if source.dtype != np.uint8 or source.ndim != 3 or source.shape[2] != 3:
            raise InvalidParameterException("an array image must be uint8 RGB with shape (h, w, 3)")
        h, w = source.shape[:2]
        if min(h, w) < limits.min_side:
            raise InvalidParameterException(f"image is {w}x{h}; each side must be at least {limits.min_side} px")
        return DecodedImage(np.ascontiguousarray(source), w, h, "ARRAY", None)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > limits.max_bytes:
            raise ImageTooLargeException(f"image is {len(data)} bytes; the limit for bytes is {limits.max_bytes}")
        return decode(data, limits)
    if isinstance(source, dict):
        return decode(read_image_param(source, limits), limits)
    if isinstance(source, (str, os.PathLike)):
        return decode(read_uri(os.fspath(source), limits.max_s3_bytes), limits)
    raise InvalidParameterException(f"unsupported image source of type {type(source).__name__}")


def read_image_param(image: dict, limits: ImageLimits = ImageLimits()) -> bytes:
    """The bytes of Rekognition's Image parameter: {"Bytes": b} or {"S3Object": {...}}."""
    if not isinstance(image, dict) or len(image) != 1 or not ({"Bytes", "S3Object"} & set(image)):
        raise InvalidParameterException('Image must be {"Bytes": ...} or {"S3Object": {"Bucket": ..., "Name": ...}}')
    if "Bytes" in image:
        data = image["Bytes"]
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidParameterException("Image.Bytes must be bytes")
        if len(data) > limits.max_bytes:
            raise ImageTooLargeException(f"image is {len(data)} bytes; the limit for Bytes is {limits.max_bytes}")
        return bytes(data)
    obj = image["S3Object"]
    return read_uri(s3_object_uri(obj, limits, "Image"), limits.max_s3_bytes, obj.get("Version"))


def s3_object_uri(obj, limits: ImageLimits, member: str) -> str:
    """The s3:// URI of Rekognition's S3Object (in the ``member`` parameter), checked to name a
    Bucket and a Name, in a bucket the limits allow."""
    if not isinstance(obj, dict) or not obj.get("Bucket") or not obj.get("Name"):
        raise InvalidParameterException(f"{member}.S3Object needs Bucket and Name")
    if limits.s3_buckets is not None and obj["Bucket"] not in limits.s3_buckets:
        raise AccessDeniedException(f"bucket {obj['Bucket']} is not one this service may read "
                                    f"({', '.join(limits.s3_buckets) or 'none'})")
    return f"s3://{obj['Bucket']}/{obj['Name']}"


configure_object_stores()


def face_crop_jpeg(rgb: np.ndarray, box: tuple[float, float, float, float], side: int = settings.THUMBNAIL_SIDE) -> bytes:
    """A JPEG of the face at ``box`` (x1, y1, x2, y2 in ``rgb``'s pixels) with a 20% margin each
    side, at most ``side`` px long."""
    x1, y1, x2, y2 = box
    mx, my = 0.2 * (x2 - x1), 0.2 * (y2 - y1)
    h, w = rgb.shape[:2]
    crop = Image.fromarray(rgb[max(0, round(y1 - my)): min(h, round(y2 + my)), max(0, round(x1 - mx)): min(w, round(x2 + mx))])
    crop.thumbnail((side, side))
    buf = io.BytesIO()
    crop.save(buf, "JPEG", quality=80)
    return buf.getvalue()
