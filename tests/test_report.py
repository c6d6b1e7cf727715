"""facelake report on real job outputs (photos with every attribute, persons, a video), opened in
headless Chromium (Debian's chromium, a fresh profile, no network): the page's parts are there,
filtering works, keys move through the gallery, it fetches nothing, and without JavaScript the
summary and the errors still read."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from facelake.pipelines import detect, video
from facelake.report import build

from conftest import dated
from videos import Shot, make_video, photos_with_faces

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(tmp_path_factory, insightface_images):
    work = tmp_path_factory.mktemp("report")
    photos = work / "photos"
    photos.mkdir()
    (photos / "group.jpg").write_bytes(insightface_images["t1.jpg"])
    (photos / "astronaut.jpg").write_bytes(dated((SAMPLES / "astronaut.jpg").read_bytes(), "2019:05:01 10:00:00"))
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    out = work / "out"
    quiet = open(os.devnull, "w")
    detect.run([str(photos), "--output", str(out), "--attributes", "ALL", "--no-progress"], stream=quiet)
    clip = work / "clip.mp4"
    make_video(clip, [Shot("photo", 45, photos_with_faces({"A": [SAMPLES / "astronaut.jpg"]})["A"]), Shot("black", 15)],
               size=(480, 270))
    video.run([str(clip), "--output", str(out), "--no-progress"], stream=quiet)
    store = work / "store"
    env = {**os.environ, "FACELAKE_STORE": str(store)}
    for args in (["index", str(photos), "--collection", "people", "--create", "--no-progress"],
                 ["group", "--collection", "people", "--min-faces", "1"]):
        done = subprocess.run([sys.executable, "-m", "facelake.cli", *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    for args in (["search", str(photos), "--collection", "people", "--output", str(work / "searched"), "--no-progress"],
                 ["compare-libraries", str(out), "--output", str(work / "compared"), "--threshold", "0"]):
        done = subprocess.run([sys.executable, "-m", "facelake.cli", *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    page = work / "report.html"
    counts = build(str(out), str(page), collection="people", store=str(store))
    faces = ds.dataset(out / "faces").to_table(columns=["smile"]).to_pylist()
    return page, counts, faces


@pytest.fixture(scope="module")
def chromium():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def test_the_page_holds_every_part(report):
    page, counts, faces = report
    text = page.read_text()
    assert counts["faces"] == len(faces) >= 7 and counts["videos"] == 1 and counts["persons"] >= 1
    assert counts["errors"] == 1 and "broken.jpg" in text and "InvalidImageFormatException" in text
    assert "http://" not in text.replace("http://www.w3.org", "") and "https://" not in text


def test_in_a_real_browser(report, chromium, tmp_path):
    page_file, counts, faces = report
    smiling = sum(1 for f in faces if f["smile"] and f["smile"]["value"])
    context = chromium.new_context(viewport={"width": 1200, "height": 900}, offline=True)
    page = context.new_page()
    requests, problems = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(page_file.as_uri())
    assert not problems, problems
    assert [u for u in requests if not u.startswith("data:")] == [page_file.as_uri()]  # nothing fetched
    assert page.locator("#runs + table tbody tr").count() == 2  # the detect and the video run
    assert page.locator("#gallery .face").count() == counts["faces"] == int(page.inner_text("#total"))
    page.check("input[data-flag=smile]")
    assert int(page.inner_text("#shown")) == smiling == page.locator("#gallery .face").count()
    page.uncheck("input[data-flag=smile]")
    page.focus("#gallery .face >> nth=0")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement === document.querySelectorAll('#gallery .face')[1]")
    page.keyboard.press("Enter")
    assert "uri" in page.inner_text("#detail")
    assert page.locator("#persons .person").count() == counts["persons"]
    assert page.locator("#persons .person", has_text="seen 2019-05-01").count() == 1  # the dated photo's person
    assert page.locator("#videos .video").count() == 1 and page.locator("#videos .lane").count() >= 3
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 10_000
    plain = chromium.new_context(java_script_enabled=False, offline=True).new_page()
    plain.goto(page_file.as_uri())
    assert "broken.jpg" in plain.inner_text("#errors + table") and plain.locator("#runs + table tbody tr").count() == 2


def test_crops_kept_by_the_detect_job_need_no_photo(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "astronaut.jpg").write_bytes(dated((SAMPLES / "astronaut.jpg").read_bytes(), "2019:05:01 10:00:00"))
    shutil.copy(SAMPLES / "astronaut-exif-rotated.jpg", photos)
    out = tmp_path / "out"
    detect.run([str(photos), "--output", str(out), "--thumbnails", "--no-progress"], stream=open(os.devnull, "w"))
    thumbs = ds.dataset(out / "thumbnails").to_table().to_pylist()
    faces = ds.dataset(out / "faces").to_table(columns=["face_id"]).to_pylist()
    assert sorted(t["face_id"] for t in thumbs) == sorted(f["face_id"] for f in faces) and len(faces) == 2
    from PIL import Image
    import io

    crop = Image.open(io.BytesIO(thumbs[0]["jpeg"]))
    assert crop.format == "JPEG" and max(crop.size) == 96
    shutil.rmtree(photos)  # the report takes the kept crops, not the photos
    page = tmp_path / "report.html"
    build(str(out), str(page))
    assert page.read_text().count('"img":"data:image/jpeg;base64,') == 2


def test_search_matches_and_compared_pairs_show_both_faces(report, chromium, tmp_path):
    """Each query face beside its matches and each compared pair, all with crops: the matches'
    cut from the collection's photos (the store the search run names), the pairs' from the
    libraries compared."""
    work = report[0].parent
    matches = ds.dataset(work / "searched" / "matches").to_table().to_pylist()
    found = ds.dataset(work / "compared" / "pairs").to_table().to_pylist()
    assert matches and found
    pages = {}
    for name in ("searched", "compared"):
        pages[name] = tmp_path / f"{name}.html"
        counts = build(str(work / name), str(pages[name]))
    assert counts["pairs"] == len(found)
    page = chromium.new_context(offline=True).new_page()
    page.goto(pages["searched"].as_uri())
    assert page.locator("#matches .match").count() == len({m["face_id"] for m in matches})
    assert page.locator("#matches img").count() == len({m["face_id"] for m in matches}) + len(matches)  # all cropped
    best = max(matches, key=lambda m: m["similarity"])
    assert f"{round(best['similarity'], 1)}%" in page.inner_text("#matches .match >> nth=0")
    page.goto(pages["compared"].as_uri())
    assert page.locator("#pairs .match").count() == len(found) and page.locator("#pairs img").count() == 2 * len(found)
    assert "No search matches" in page.inner_text("#matches")
