"""Time to build ``facelake report`` for a large output: N faces over N/2 photos.

    python benchmarks/report_build.py ../shared/eval/deepface [--faces 10000] [--thumbnails] [--work DIR]

Runs the detect job once on the deepface photos (every attribute), then makes an output of ``--faces`` faces:
the photos copied under new names (each copy a file of its own, so every one is read and
decoded as a user's library would be) and the faces table repeated over the copies (with
``--thumbnails``, the crops the detect job kept instead: the report reads no photo, so none is
copied). Times ``facelake report`` on it (a fresh process, start-up included) and reports the
page's size; with ``--browser``, also opens the page in headless Chromium and times its load
(until the gallery's first page is drawn), a filter (a click on "smiling", until the count of
shown faces changes) and the next page.
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
    ap.add_argument("--browser", action="store_true", help="time the page in headless Chromium too")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "report-build")
    args = ap.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    photos, out = args.work / "photos", args.work / "out"
    photos.mkdir(parents=True)
    for f in args.deepface.glob("*.jpg"):
        shutil.copy(f, photos)
    subprocess.run([FACELAKE, "detect", str(photos), "--output", str(out), "--no-progress", "--attributes", "ALL",
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
            if not args.thumbnails:
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
                      "report": json.loads(done.stdout),
                      **(in_browser(args.work / "report.html") if args.browser else {})}, indent=1))


def in_browser(page_file: Path) -> dict:
    """Seconds to load the page (gallery drawn), to filter (smiling) and to turn a page, in
    Debian's headless Chromium; and the page's JavaScript heap."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        page = browser.new_context(viewport={"width": 1200, "height": 900}, offline=True).new_page()
        started = time.time()
        page.goto(page_file.as_uri(), timeout=600_000)
        page.wait_for_selector("#gallery .face", timeout=600_000)
        load = time.time() - started
        total = page.inner_text("#shown")
        first = page.get_attribute("#gallery .face >> nth=0", "data-id")
        started = time.time()
        page.click("#next")
        page.wait_for_function(f"document.querySelector('#gallery .face').dataset.id !== '{first}'", timeout=600_000)
        turned = time.time() - started
        started = time.time()
        page.check("input[data-flag=smile]")
        page.wait_for_function(f"document.getElementById('shown').textContent !== '{total}'", timeout=600_000)
        filtered = time.time() - started
        smiling = int(page.inner_text("#shown"))
        heap = page.evaluate("performance.memory ? performance.memory.usedJSHeapSize : null")
        browser.close()
    return {"browser": {"load_s": round(load, 2), "filter_s": round(filtered, 3), "next_page_s": round(turned, 3),
                        "faces": int(total), "smiling": smiling,
                        "js_heap_mb": round(heap / 1e6, 1) if heap else None}}


if __name__ == "__main__":
    main()
