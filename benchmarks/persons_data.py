"""Labelled face descriptors for the persons benchmarks: deepface's 61 identity-labelled photos
and augmented copies of each (crops, flips, blur, brightness, JPEG quality, small rotations).

    python persons_data.py ../../shared/eval/deepface [--copies 10]   # prints what it made

``labelled_faces(folder, copies)`` returns (descriptors, identity labels, names), computing them
once per (folder, copies) and keeping them in a cache file under the system's temp folder.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from facelake.models.analyzer import FaceAnalyzer
from facelake.models.images import load


def augment(img: Image.Image, rng: random.Random) -> tuple[Image.Image, str]:
    """One random combination of two of the edits, and its name."""
    w, h = img.size
    edits = {
        "crop": lambda im: im.crop((int(w * rng.uniform(0, .12)), int(h * rng.uniform(0, .12)),
                                    int(w * rng.uniform(.88, 1)), int(h * rng.uniform(.88, 1)))),
        "flip": ImageOps.mirror,
        "blur": lambda im: im.filter(ImageFilter.GaussianBlur(rng.uniform(0.8, 2.0))),
        "bright": lambda im: ImageEnhance.Brightness(im).enhance(rng.choice([rng.uniform(.5, .75), rng.uniform(1.3, 1.6)])),
        "jpeg": lambda im: jpeg(im, rng.randint(15, 40)),
        "rotate": lambda im: im.rotate(rng.uniform(-12, 12), resample=Image.BICUBIC, expand=False),
    }
    chosen = rng.sample(sorted(edits), 2)
    for name in chosen:
        img = edits[name](img)
    return img, "+".join(chosen)


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def labelled_faces(folder: Path, copies: int = 10, seed: int = 0) -> tuple[np.ndarray, list[str], list[str]]:
    cache = Path(tempfile.gettempdir()) / f"facelake-persons-{folder.resolve().name}-{copies}-{seed}.npz"
    if cache.exists():
        z = np.load(cache)
        return z["vectors"], list(z["labels"]), list(z["names"])
    ids = {r["file"]: r["identity"] for r in csv.DictReader(open(folder / "identities.csv"))}
    analyzer, rng = FaceAnalyzer(), random.Random(seed)
    vectors, labels, names = [], [], []
    for file in sorted(ids):
        original = Image.fromarray(load(str(folder / file)).rgb)
        variants = [(original, "original")] + [augment(original, rng) for _ in range(copies)]
        for k, (rgb, how) in enumerate(variants):
            faces = analyzer.analyze(load(np.asarray(rgb.convert("RGB"))))
            if faces:  # the largest face (faces come largest first)
                vectors.append(faces[0].embedding)
                labels.append(ids[file])
                names.append(f"{file}#{k}:{how}")
    out = np.asarray(vectors, np.float32)
    np.savez(cache, vectors=out, labels=np.array(labels), names=np.array(names))
    return out, labels, names


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("deepface", type=Path)
    ap.add_argument("--copies", type=int, default=10)
    args = ap.parse_args()
    vectors, labels, names = labelled_faces(args.deepface, args.copies)
    print(f"{len(vectors)} faces of {len(set(labels))} identities from {len(set(n.split('#')[0] for n in names))} photos")


if __name__ == "__main__":
    main()
