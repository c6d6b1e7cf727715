"""The bundled models: manifest, checksums, user models, and each model on real faces."""

import json
import shutil

import numpy as np
import pytest

from facelake.models import registry as reg
from facelake.models.analyzer import FaceAnalyzer
from facelake.models.dlib_face import chip_transform, extract_chip
from facelake.models.images import decode
from facelake.models.registry import ModelIntegrityError, ModelRegistry


def test_manifest_lists_source_license_and_checksum_for_every_model():
    manifest = json.loads(reg.MANIFEST.read_text())["models"]
    assert set(manifest) == {"detector", "mesh", "iris", "shape5", "embedder", "age", "gender", "emotion", "accessories"}
    for entry in manifest.values():
        assert "==" in entry["source"] and entry["license"] and len(entry["sha256"]) == 64
        assert (reg.HERE / "weights" / entry["file"]).is_file()


def test_every_bundled_model_verifies_and_loads():
    r = ModelRegistry()
    for slot in r.specs:
        assert r.get(slot) is not None
    assert r.versions()["embedder"] == "dlib-resnet-v1"


def test_a_tampered_model_file_is_refused(tmp_path):
    r = ModelRegistry()
    bad = tmp_path / "retinaface.onnx"
    shutil.copy(r.specs["detector"].path, bad)
    with open(bad, "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    r.register("detector", bad, sha256=r.specs["detector"].sha256)
    with pytest.raises(ModelIntegrityError, match="sha256"):
        r.get("detector")


def test_a_user_model_of_the_same_family_gets_its_own_version(tmp_path, astronaut_bytes):
    r = ModelRegistry()
    mine = tmp_path / "my_detector.onnx"
    shutil.copy(r.specs["detector"].path, mine)
    spec = r.register("detector", mine)
    assert spec.version.startswith("retinaface-custom-")
    faces = FaceAnalyzer(registry=r).analyze(decode(astronaut_bytes), embed=False)
    assert len(faces) == 1


def test_user_model_from_environment(tmp_path, monkeypatch):
    src = ModelRegistry().specs["mesh"].path
    monkeypatch.setenv("FACELAKE_MODEL_MESH", str(src))
    assert ModelRegistry().versions()["mesh"].startswith("mediapipe-face-mesh-custom-")
    monkeypatch.setenv("FACELAKE_MODEL_MESH", str(tmp_path / "missing.onnx"))
    with pytest.raises(ModelIntegrityError, match="not found"):
        ModelRegistry()


def test_descriptor_matches_dlibs_own_on_the_astronaut(astronaut_bytes):
    """tests/data holds face_recognition's (dlib's) descriptor of this face."""
    from pathlib import Path

    ref = json.loads((Path(__file__).parent / "data" / "astronaut_face_recognition.json").read_text())
    face = FaceAnalyzer().analyze(decode(astronaut_bytes))[0]
    assert face.embedding.shape == (128,) and face.embedding.dtype == np.float32
    assert np.linalg.norm(face.embedding - np.array(ref["descriptor"])) < 0.08


def test_chip_of_a_large_face_uses_the_pyramid_and_stays_aligned(astronaut_rgb):
    """The same face at 1x and 4x size gives nearly the same chip (pyramid path vs direct)."""
    import cv2

    analyzer = FaceAnalyzer()
    small = astronaut_rgb
    big = cv2.resize(small, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    pts = analyzer.aligner.points(small, analyzer.detector.detect([small])[0].boxes[0])
    chip_small = extract_chip(small, chip_transform(pts))
    chip_big = extract_chip(big, chip_transform(pts * 4 + 1.5))
    assert np.abs(chip_small.astype(float) - chip_big).mean() < 8


def test_detector_finds_all_six_faces_of_the_group_photo(insightface_images):
    faces = FaceAnalyzer().analyze(decode(insightface_images["t1.jpg"]), embed=False)
    assert len(faces) == 6
    assert min(f.confidence for f in faces) > 95


def test_no_face_in_a_photo_of_a_cat():
    from conftest import SAMPLES

    assert FaceAnalyzer().analyze(decode((SAMPLES / "cat.jpg").read_bytes()), embed=False) == []


def test_small_faces_in_a_large_group_photo(insightface_images):
    """t1.jpg at half size, tiled 3x3 into a 1920-px-wide image: 54 faces of 43-60 px."""
    import cv2

    from facelake.models.images import DecodedImage

    t1 = decode(insightface_images["t1.jpg"]).rgb
    canvas = np.tile(cv2.resize(t1, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA), (3, 3, 1))
    faces = FaceAnalyzer().analyze(DecodedImage(canvas, canvas.shape[1], canvas.shape[0], "PNG", None), embed=False)
    assert len(faces) >= 52


def test_a_face_filling_a_large_photo(astronaut_rgb):
    import cv2

    from facelake.models.images import DecodedImage

    closeup = cv2.resize(astronaut_rgb[40:200, 160:300], None, fx=12, fy=12, interpolation=cv2.INTER_CUBIC)
    faces = FaceAnalyzer().analyze(DecodedImage(closeup, closeup.shape[1], closeup.shape[0], "PNG", None))
    assert len(faces) == 1 and faces[0].confidence > 95
    assert (faces[0].box[2] - faces[0].box[0]) > 0.6 * closeup.shape[1]
