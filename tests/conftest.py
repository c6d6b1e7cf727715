"""Shared fixtures: sample images, images from packages on PyPI, a real S3-compatible server."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
# Test images that ship inside PyPI packages (fetched with pip; .ci/run fetches them up front).
TESTDATA = Path(os.environ.get("FACELAKE_TESTDATA", ROOT / ".cache" / "testdata"))


@pytest.fixture(scope="session")
def astronaut_bytes() -> bytes:
    return (SAMPLES / "astronaut.jpg").read_bytes()


@pytest.fixture(scope="session")
def astronaut_rgb(astronaut_bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(astronaut_bytes)).convert("RGB"))


def encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def dated(data: bytes, taken: str | None = None, offset: str | None = None, tag: int = 0x9003) -> bytes:
    """A JPEG's pixels again with EXIF saying when it was taken (``taken`` as EXIF writes it,
    "2019:05:01 10:00:00"; ``offset`` its OffsetTimeOriginal; ``tag`` another date tag), the
    orientation kept."""
    img = Image.open(io.BytesIO(data))
    exif = img.getexif()
    target = exif if tag == 0x0132 else exif.get_ifd(0x8769)
    target[tag] = taken
    if offset:
        exif.get_ifd(0x8769)[0x9011] = offset
    return encode(img, "JPEG", exif=exif, quality=95)


@pytest.fixture(scope="session")
def insightface_images() -> dict[str, bytes]:
    """t1.jpg (a group photo, 6 faces), Tom_Hanks_54745.png and the mask textures mask_*.jpg
    from the insightface==2.1 wheel."""
    TESTDATA.mkdir(parents=True, exist_ok=True)
    wheel = TESTDATA / "insightface-2.1-py3-none-any.whl"
    if not wheel.exists():
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(TESTDATA),
                            "insightface==2.1"], capture_output=True, text=True, timeout=300)
        if r.returncode != 0 or not wheel.exists():
            pytest.skip(f"cannot fetch insightface==2.1 from PyPI: {r.stderr.strip()[-200:]}")
    with zipfile.ZipFile(wheel) as z:
        return {name: z.read(f"insightface/data/images/{name}") for name in
                ("t1.jpg", "Tom_Hanks_54745.png", "mask_blue.jpg", "mask_white.jpg")}


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3-compatible server on 127.0.0.1, configured the standard way (AWS_ENDPOINT_URL)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield env["AWS_ENDPOINT_URL"]
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def client():
    import facelake

    return facelake.client()
