"""Model registry: which file fills each model slot, checksum verification, lazy ONNX sessions.

Slots: one per entry of ``manifest.json`` (detector, mesh, iris, shape5, embedder, age, gender,
emotion, accessories), which lists each bundled file with its family and sha256; the checksum
is checked before a file is used. A user can point
a slot at their own file of the same family, from code (``ModelRegistry.register``) or with an
environment variable ``FACELAKE_MODEL_<SLOT>=/path/to/model.onnx`` (optionally
``FACELAKE_MODEL_<SLOT>_SHA256``); its version becomes ``<family>-custom-<sha256[:12]>`` so rows
made with it never pass for rows of the bundled model.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "manifest.json"


def run_batched(session, input_name: str, arrays: list[np.ndarray], outputs: list[str], batch_size: int,
                prepare=None) -> list[np.ndarray]:
    """Run an onnxruntime session over ``arrays`` (one model input each, at least one),
    ``batch_size`` at a time: each batch is stacked, then ``prepare``d (default: made float32);
    returns each output concatenated over all batches."""
    parts: list[list[np.ndarray]] = [[] for _ in outputs]
    for k in range(0, len(arrays), batch_size):
        batch = np.stack(arrays[k:k + batch_size])
        batch = prepare(batch) if prepare else batch.astype(np.float32, copy=False)
        for part, value in zip(parts, session.run(outputs, {input_name: batch})):
            part.append(value)
    return [np.concatenate(part) for part in parts]


class ModelIntegrityError(RuntimeError):
    """A model file is missing or its checksum does not match."""


@dataclass(frozen=True)
class ModelSpec:
    slot: str
    family: str
    version: str
    path: Path
    sha256: str | None  # None: a user file registered without a checksum to check


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_providers() -> list[str]:
    """CUDA where onnxruntime has it (FACELAKE_PROVIDERS=CPUExecutionProvider to force CPU)."""
    import onnxruntime as ort

    wanted = os.environ.get("FACELAKE_PROVIDERS")
    if wanted:
        return [p.strip() for p in wanted.split(",") if p.strip()]
    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


class ModelRegistry:
    """Resolves slots to files and loads each model once, verified, on first use."""

    def __init__(self, threads: int = 0, providers: list[str] | None = None):
        self.threads = threads
        self.providers = providers
        manifest = json.loads(MANIFEST.read_text())["models"]
        self._manifest = manifest
        self.specs = {
            slot: ModelSpec(slot, m["family"], m["version"], HERE / "weights" / m["file"], m["sha256"])
            for slot, m in manifest.items()
        }
        for slot in self.specs:
            path = os.environ.get(f"FACELAKE_MODEL_{slot.upper()}")
            if path:
                self.register(slot, path, os.environ.get(f"FACELAKE_MODEL_{slot.upper()}_SHA256"))
        self._loaded: dict[str, object] = {}
        self._lock = threading.Lock()

    def register(self, slot: str, path: str | os.PathLike, sha256: str | None = None) -> ModelSpec:
        """Use the user's file for a slot; it must be of the slot's family (same inputs/outputs)."""
        if slot not in self.specs:
            raise ValueError(f"unknown model slot {slot!r}; slots: {', '.join(self.specs)}")
        path = Path(path)
        if not path.is_file():
            raise ModelIntegrityError(f"model file for slot {slot!r} not found: {path}")
        digest = sha256 or _sha256(path)
        family = self.specs[slot].family
        spec = ModelSpec(slot, family, f"{family}-custom-{digest[:12]}", path, sha256)
        self.specs[slot] = spec
        getattr(self, "_loaded", {}).pop(slot, None)
        return spec

    def manifest_entry(self, slot: str) -> dict:
        """The bundled model's manifest entry (extra facts such as the age model's class weights)."""
        return self._manifest[slot]

    def versions(self) -> dict[str, str]:
        return {slot: spec.version for slot, spec in self.specs.items()}

    def verify(self, slot: str) -> Path:
        spec = self.specs[slot]
        if not spec.path.is_file():
            raise ModelIntegrityError(f"model file for slot {slot!r} is missing: {spec.path}")
        if spec.sha256 and _sha256(spec.path) != spec.sha256:
            raise ModelIntegrityError(
                f"model file for slot {slot!r} does not match its sha256 ({spec.path}); "
                "reinstall facelake or re-run models/export/export_all.py")
        return spec.path

    def get(self, slot: str):
        """The loaded model: an onnxruntime.InferenceSession, or a dict of arrays for .npz."""
        with self._lock:
            if slot not in self._loaded:
                path = self.verify(slot)
                self._loaded[slot] = self._load(path)
            return self._loaded[slot]

    def _load(self, path: Path):
        if path.suffix == ".npz":
            with np.load(path) as z:
                return {k: z[k] for k in z.files}
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Several sessions run one after another on the same cores; threads left spinning by
        # one session's pool would slow the next session down.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(path), opts, providers=self.providers or default_providers())
