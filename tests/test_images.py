"""Bad and unusual inputs: each is analysed correctly or refused with Rekognition's exception."""

import io
import struct
import zlib

import numpy as np
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from PIL import Image

import facelake
from conftest import SAMPLES, dated, encode

from facelake.models.images import ImageLimits, decode


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (a decompression bomb as seen from the header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def astronaut(astronaut_bytes) -> Image.Image:
    return Image.open(io.BytesIO(astronaut_bytes)).convert("RGB")


BAD = {
    "empty": (b"", "ValidationException"),  # Bytes' minimum length in the service model is 1
    "text named .jpg": (b"this is not a photo\n" * 10, "InvalidImageFormatException"),
    "gif": (None, "InvalidImageFormatException"),
    "truncated jpeg": (None, "InvalidImageFormatException"),
    "bomb 30000x30000": (png_header_only(30000, 30000), "ImageTooLargeException"),
    "1x1": (None, "InvalidParameterException"),
    "over 5 MB of bytes": (b"\xff\xd8" + b"\x00" * (5 * 1024 * 1024 + 1), "ImageTooLargeException"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_gets_rekognitions_exception(client, astronaut, astronaut_bytes, name):
    data, code = BAD[name]
    if name == "gif":
        data = encode(astronaut, "GIF")
    elif name == "truncated jpeg":
        data = astronaut_bytes[: len(astronaut_bytes) // 2]
    elif name == "1x1":
        data = encode(Image.new("RGB", (1, 1)))
    with pytest.raises(ClientError) as info:
        client.detect_faces(Image={"Bytes": data})
    assert info.value.response["Error"]["Code"] == code
    assert info.value.response["Error"]["Message"]  # a reason a person can read


def variants(img: Image.Image) -> dict[str, bytes]:
    rgb = np.asarray(img)
    gray16 = (np.asarray(img.convert("L")).astype(np.uint16) * 257)
    rgba = img.convert("RGBA")
    return {
        "grayscale jpeg": encode(img.convert("L"), "JPEG", quality=92),
        "cmyk jpeg": encode(img.convert("CMYK"), "JPEG", quality=92),
        "rgba png": encode(rgba),
        "palette png": encode(img.convert("P", palette=Image.Palette.ADAPTIVE)),
        "16-bit gray png": encode(Image.fromarray(gray16)),
        "webp": encode(img, "WEBP", quality=90),
        "bmp": encode(img, "BMP"),
        "tiff": encode(img, "TIFF"),
        "rgb png": encode(Image.fromarray(rgb)),
    }


def test_every_readable_variant_finds_the_face(client, astronaut):
    for name, data in variants(astronaut).items():
        faces = client.detect_faces(Image={"Bytes": data})["FaceDetails"]
        assert len(faces) == 1, name


def test_16_bit_values_are_scaled_not_clipped():
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (100, 1))
    img = decode(encode(Image.fromarray(ramp)))
    # scaled: the ramp stays a ramp; a plain 16->8 bit conversion would clip most of it to 255
    assert abs(int(np.median(img.rgb)) - 128) <= 2 and img.rgb.max() == 255 and img.rgb.min() == 0


def test_every_exif_orientation_is_applied(astronaut):
    """Store the photo as each EXIF orientation needs it; decoding must give the upright image back."""
    from facelake.models.images import EXIF_TRANSPOSE

    upright = np.asarray(astronaut).astype(float)
    inverse = {2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}  # the transpose that undoes each one
    for orientation, undo in inverse.items():
        stored = astronaut.transpose(EXIF_TRANSPOSE[undo])
        exif = Image.Exif()
        exif[0x0112] = orientation
        img = decode(encode(stored, "PNG", exif=exif.tobytes()))
        assert (img.width, img.height) == astronaut.size
        assert np.abs(img.rgb.astype(float) - upright).mean() < 1.0, orientation
        assert img.orientation_correction.startswith("ROTATE_")


def test_large_jpeg_is_decoded_reduced_but_reported_full_size(astronaut):
    big = astronaut.resize((4096, 4096))
    img = decode(encode(big, "JPEG", quality=85))
    assert (img.width, img.height) == (4096, 4096)
    assert max(img.rgb.shape[:2]) <= 4096 and max(img.rgb.shape[:2]) >= ImageLimits().decode_max_side


def test_limits_are_configurable(astronaut_bytes):
    small = facelake.client(limits=ImageLimits(max_bytes=1000))
    with pytest.raises(small.exceptions.ImageTooLargeException):
        small.detect_faces(Image={"Bytes": astronaut_bytes})
    few_pixels = facelake.client(limits=ImageLimits(max_pixels=100_000))
    with pytest.raises(few_pixels.exceptions.ImageTooLargeException, match="pixels"):
        few_pixels.detect_faces(Image={"Bytes": astronaut_bytes})


def test_bad_image_parameter(client):
    for bad in ({}, {"Bytes": "text"}, {"S3Object": {"Bucket": "bucket"}}):
        with pytest.raises(client.exceptions.InvalidParameterException):
            client.detect_faces(Image=bad)
    for bad in ({"Url": "x"}, "photo.jpg"):  # botocore's own validation, before any call
        with pytest.raises(ParamValidationError):
            client.detect_faces(Image=bad)


def test_capture_time_comes_from_exif_in_utc(astronaut_bytes):
    """DateTimeOriginal with its offset, without one (the camera's clock taken as UTC), DateTime
    when the original is missing; zeros, impossible dates and no EXIF give none."""
    import datetime as dt

    utc = dt.timezone.utc
    assert decode(dated(astronaut_bytes, "2019:05:01 10:00:00", "+02:00")).captured_at == dt.datetime(2019, 5, 1, 8, tzinfo=utc)
    assert decode(dated(astronaut_bytes, "2019:05:01 10:00:00", "-03:30")).captured_at == dt.datetime(2019, 5, 1, 13, 30, tzinfo=utc)
    assert decode(dated(astronaut_bytes, "2021:12:31 23:59:58")).captured_at == dt.datetime(2021, 12, 31, 23, 59, 58, tzinfo=utc)
    assert decode(dated(astronaut_bytes, "2020:01:02 03:04:05", tag=0x0132)).captured_at == dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=utc)
    for bad in ("0000:00:00 00:00:00", "2018:13:01 00:00:00", "    :  :     :  :  ", "yesterday"):
        assert decode(dated(astronaut_bytes, bad)).captured_at is None
    assert decode(astronaut_bytes).captured_at is None
    rotated = (SAMPLES / "astronaut-exif-rotated.jpg").read_bytes()
    img = decode(dated(rotated, "2019:05:01 10:00:00"))  # the orientation survives beside the date
    assert img.orientation_correction == "ROTATE_90" and img.captured_at.year == 2019
