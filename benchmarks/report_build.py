"""Time to build ``facelake report`` for a large output: N faces over N/2 photos.

    python benchmarks/report_build.py ../shared/eval/deepface [--faces 10000] [--thumbnails] [--work DIR]

Runs the detect job once on the deepface photos, then makes an output of ``--faces`` faces:
the photos copied under new names (each copy a file of its own, so every one is read and
decoded as a user's library would be) and the faces table repeated over the copies (with
``--thumbnails``, the crops the detect job kept too). Times ``facelake report`` on it (a fresh
process, start-up included) and reports the page's size.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

FACELAKE = str(Path(sys.executable).with_name("facelake"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("deepface", type=Path)
    ap.add_argument("--faces", type=int, default=10_000)
    ap.add_argument("--thumbnails", action="store_true", help="the detect job keeps face crops (--thumbnails)")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "report-build")
    args = ap.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    photos, out = args.work / "photos", args.work / "out"
    photos.mkdir(parents=True)
    for f in args.deepface.glob("*.jpg"):
        shutil.copy(f, photos)
    subprocess.run([FACELAKE, "detect", str(photos), "--output", str(out), "--no-progress",
                    *(["--thumbnails"] if args.thumbnails else [])], check=True, capture_output=True)
    faces = ds.dataset(out / "faces").to_table()
    kept = {r["face_id"]: r["jpeg"] for r in ds.dataset(out / "thumbnails").to_table().to_pylist()} \
        if args.thumbnails else {}
    thumbs = []
    by_uri = {}
    for i, uri in enumerate(faces.column("uri").to_pylist()):
        by_uri.setdefault(uri, []).append(i)
    parts, made, copy = [], 0, 0
    library = args.work / "library"
    library.mkdir()
    while made < args.faces:
        for uri, rows in by_uri.items():
            if made >= args.faces:
                break
            target = library / f"{copy:06d}-{Path(uri).name}"
            shutil.copy(uri, target)
            t = faces.take(rows)
            t = t.set_column(t.schema.get_field_index("uri"), "uri", pa.array([str(target)] * len(rows)))
            ids = t.column("face_id").to_pylist()
            t = t.set_column(t.schema.get_field_index("face_id"), "face_id",
                             pa.array([f"{copy:06d}-{r}" for r in rows]))
            thumbs += [{"face_id": f"{copy:06d}-{r}", "uri": str(target), "jpeg": kept[i], "run_id": "bench"}
                       for r, i in zip(rows, ids) if i in kept]
            parts.append(t)
            made += len(rows)
            copy += 1
    shutil.rmtree(out / "faces")
    (out / "faces").mkdir()
    pq.write_table(pa.concat_tables(parts), out / "faces" / "big.parquet")
    if args.thumbnails:
        from facelake.schemas.tables import THUMBNAILS

        shutil.rmtree(out / "thumbnails")
        (out / "thumbnails").mkdir()
        pq.write_table(pa.Table.from_pylist(thumbs, THUMBNAILS), out / "thumbnails" / "big.parquet")
    started = time.time()
    done = subprocess.run([FACELAKE, "report", str(out), "--html", str(args.work / "report.html")],
                          check=True, capture_output=True, text=True)
    seconds = time.time() - started
    print(json.dumps({"faces": made, "images": copy, "thumbnails": args.thumbnails, "seconds": round(seconds, 1),
                      "html_mb": round((args.work / "report.html").stat().st_size / 1e6, 1),
                      "report": json.loads(done.stdout)}, indent=1))


if __name__ == "__main__":
    main()
