"""``facelake report OUT``: one self-contained HTML page of what a job's tables hold.

    facelake report OUT [--html report.html] [--collection ID --store URI] [--open]

Run summaries, errors, a face gallery (crops at most THUMB px, embedded as JPEG data URIs: those
the detect job kept with ``--thumbnails``, else cut from the photos, each decoded once) that filters and sorts in the page, persons (with ``--collection``: its users, their
faces and the dates of their first and last photos), search matches and compared pairs (each face beside its matches), and a timeline per video (shots, cues, a lane per person). The summary
and the errors are plain HTML, readable without JavaScript; the gallery, persons and timelines
are drawn by the page's own script from the JSON it embeds. Nothing is fetched: no fonts,
scripts or images from anywhere but the file itself.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import multiprocessing
import os
import sys
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image, ImageOps

from facelake import settings
from facelake.models.images import face_crop_jpeg, read_uri
from facelake.store.commit import read_json
from facelake.store.tables import join, read_columns, table_files

THUMB = settings.THUMBNAIL_SIDE  # px, the long side of a face crop (the face with a 20% margin each side)
MAX_IMAGE_BYTES = 200 * 1024 * 1024
MAX_SHOWN = 500  # search queries and compare pairs shown (the most similar first)
FACE_COLUMNS = ["face_id", "uri", "bounding_box", "confidence", "age_range", "gender", "smile", "eyeglasses",
                "sunglasses", "beard", "mustache", "emotions", "pose", "quality"]


def rows(output: str, table: str, columns: list[str] | None = None, face_ids: set[str] | None = None) -> list[dict]:
    """Every row of one of OUT's tables (only ``columns`` read, when given; only the rows of
    these faces, when ``face_ids`` is given: filtered in Arrow, before any row becomes Python)."""
    wanted = None if face_ids is None else pa.array(sorted(face_ids), pa.string())
    out = []
    for f in table_files(output, table):
        t = read_columns(f, columns)
        if wanted is not None:
            t = t.filter(pc.is_in(t.column("face_id"), value_set=wanted))
        out += t.to_pylist()
    return out


def runs(output: str) -> list[dict]:
    import fsspec

    fs, path = fsspec.core.url_to_fs(join(output, "runs"))
    files = sorted(fs.glob(path + "/*.json")) if fs.exists(path) else []
    return [read_json(join(output, "runs", f.rsplit("/", 1)[-1])) for f in files]


def data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()


def crop_uri(rgb: np.ndarray, box: dict) -> str | None:
    """A data URI of the face at ``box`` (Rekognition ratios of ``rgb``), as the detect job's
    --thumbnails makes it."""
    h, w = rgb.shape[:2]
    px = (box["left"] * w, box["top"] * h, (box["left"] + box["width"]) * w, (box["top"] + box["height"]) * h)
    return data_uri(face_crop_jpeg(rgb, px, THUMB)) if px[2] > px[0] and px[3] > px[1] else None


def crops(uri: str, boxes: list[dict]) -> list[str | None]:
    """JPEG data URIs of the boxes (Rekognition ratios of the upright image) in one image, the
    image decoded reduced (JPEG DCT scaling) as far as the smallest crop allows."""
    try:
        img = Image.open(io.BytesIO(read_uri(uri, MAX_IMAGE_BYTES)))
        smallest = min(min(b["width"] * img.width, b["height"] * img.height) for b in boxes)
        scale = max(1.0, smallest * 1.4 / (THUMB / 2))  # the crop (face and margins) stays >= THUMB / 2
        img.draft("RGB", (int(img.width / scale), int(img.height / scale)))
        rgb = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    except Exception:
        return [None] * len(boxes)
    return [crop_uri(rgb, b) for b in boxes]


def _crops_of(item):
    return crops(*item)


def all_crops(boxes_by_uri: dict[str, list[dict]], workers: int) -> dict[str, list[str | None]]:
    items = list(boxes_by_uri.items())
    if workers > 1 and len(items) > 8:
        # forkserver: a forked copy of this process would share LanceDB's runtime
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
            done = list(pool.map(_crops_of, items, chunksize=16))
    else:
        done = [_crops_of(i) for i in items]
    return {uri: c for (uri, _), c in zip(items, done)}


def face_entry(row: dict, crop: str | None) -> dict:
    """What the gallery needs of a faces row (neutral, short keys)."""
    top = max(row["emotions"] or [], key=lambda e: e["confidence"], default=None)
    flag = lambda k: None if row.get(k) is None else bool(row[k]["value"])  # noqa: E731
    return {"id": row["face_id"], "uri": row["uri"], "img": crop, "conf": round(row["confidence"], 1),
            "age": [row["age_range"]["low"], row["age_range"]["high"]] if row.get("age_range") else None,
            "gender": row["gender"]["value"] if row.get("gender") else None,
            "emotion": top["type"] if top else None, "smile": flag("smile"), "eyeglasses": flag("eyeglasses"),
            "sunglasses": flag("sunglasses"), "beard": flag("beard"), "mustache": flag("mustache"),
            "yaw": round(row["pose"]["yaw"], 1), "pitch": round(row["pose"]["pitch"], 1),
            "sharpness": round(row["quality"]["sharpness"], 1), "brightness": round(row["quality"]["brightness"], 1)}


def face_crops(faces: list[dict], kept: dict[str, str], workers: int) -> dict[str, str | None]:
    """A crop (data URI) per face ({face_id, uri, bounding_box}): the one kept, else cut from its
    photo (each photo decoded once, in ``workers`` processes); None where there is no photo."""
    by_uri = defaultdict(list)
    for f in faces:
        if f["face_id"] not in kept and f["uri"]:  # faces indexed from bytes have no photo to crop from
            by_uri[f["uri"]].append(f)
    made = all_crops({u: [f["bounding_box"] for f in fs] for u, fs in by_uri.items()}, workers)
    out = {f["face_id"]: kept.get(f["face_id"]) for f in faces}
    for uri, fs in by_uri.items():
        out.update((f["face_id"], c) for f, c in zip(fs, made[uri]))
    return out


def kept_crops(output: str, face_ids: set[str] | None = None) -> dict[str, str]:
    """The crops a detect job kept with --thumbnails (only these faces', when given), by face_id."""
    return {t["face_id"]: data_uri(t["jpeg"]) for t in rows(output, "thumbnails", ["face_id", "jpeg"], face_ids)}


def collection_faces(store: str, collection_id: str, columns: list[str]) -> list[dict]:
    from facelake.store.collections import CollectionStore

    faces = CollectionStore(store).columns(collection_id, ["source_uri", *columns]).to_pylist()
    for f in faces:
        f["uri"] = f.pop("source_uri")
    return faces


def persons(store: str, collection_id: str, workers: int, strip: int = 8) -> list[dict]:
    by_user = defaultdict(list)
    for f in collection_faces(store, collection_id, ["face_id", "user_id", "bounding_box", "captured_at"]):
        if f["user_id"]:
            by_user[f["user_id"]].append(f)
    crop = face_crops([f for fs in by_user.values() for f in fs[:strip]], {}, workers)
    out = []
    for user, fs in sorted(by_user.items(), key=lambda kv: -len(kv[1])):
        dates = sorted(f["captured_at"] for f in fs if f["captured_at"])
        out.append({"user": user, "count": len(fs),
                    "first": f"{dates[0]:%Y-%m-%d}" if dates else None, "last": f"{dates[-1]:%Y-%m-%d}" if dates else None,
                    "faces": [crop[f["face_id"]] for f in fs[:strip] if crop[f["face_id"]]]})
    return out


def timelines(output: str) -> list[dict]:
    """Per video: duration, shots, cues and, per person, the timestamps it was seen, with a crop."""
    from facelake.models.video import frames, probe

    faces = defaultdict(list)
    for r in rows(output, "video_faces", ["video_id", "uri", "timestamp", "frame_number", "person_index",
                                          "bounding_box"]):
        faces[r["uri"]].append(r)
    segments = defaultdict(list)
    for s in rows(output, "segments"):
        segments[s["uri"]].append(s)
    out = []
    for v in rows(output, "videos"):
        people = defaultdict(list)
        for f in faces[v["uri"]]:
            people[f["person_index"]].append(f)
        firsts = defaultdict(list)  # frame -> (person, box) of the persons first seen on it
        for p, fs in people.items():
            first = min(fs, key=lambda f: f["frame_number"])
            firsts[first["frame_number"]].append((p, first["bounding_box"]))
        thumbs = {}
        try:  # a seek and one decoded frame per person's first appearance (a crop is a nicety)
            info = probe(v["uri"])
            for n, seen in firsts.items():
                for fr in frames(v["uri"], info, n, n + 1, analyse=lambda _: True):
                    thumbs.update((p, crop_uri(fr.image.rgb, b)) for p, b in seen)
        except Exception:
            pass
        out.append({"uri": v["uri"], "duration": v["duration_millis"], "fps": v["frame_rate"],
                    "shots": [[s["start_timestamp_millis"], s["end_timestamp_millis"], s["shot_index"]]
                              for s in segments[v["uri"]] if s["type"] == "SHOT"],
                    "cues": [[s["start_timestamp_millis"], s["end_timestamp_millis"], s["technical_cue_type"],
                              s["start_timecode_smpte"]] for s in segments[v["uri"]] if s["type"] == "TECHNICAL_CUE"
                             and s["technical_cue_type"] != "Content"],
                    "persons": [{"index": p, "img": thumbs.get(p), "seen": sorted(f["timestamp"] for f in fs)}
                                for p, fs in sorted(people.items())]})
    return out


def matches(output: str, run_list: list[dict], query_crops: dict[str, str | None], store: str | None,
            workers: int) -> dict:
    """The search job's matches: the MAX_SHOWN query faces with the best matches, each beside its
    matches with their crops (cut from the collection's photos, the store named by the run)."""
    from facelake.store.collections import CollectionStore

    found = defaultdict(list)
    for m in rows(output, "matches", ["face_id", "uri", "match_face_id", "match_external_image_id", "similarity"]):
        found[m["face_id"]].append(m)
    shown = sorted(found.values(), key=lambda ms: -max(m["similarity"] for m in ms))[:MAX_SHOWN]
    wanted = sorted({m["match_face_id"] for ms in shown for m in ms})
    match_crop = {}
    for run in run_list:  # the collections the search runs asked
        c = run.get("collection") if run.get("job") == "search" else None
        if c and wanted:
            try:
                faces = [{"face_id": f["face_id"], "uri": f["source_uri"], "bounding_box": f["bounding_box"]}
                         for f in CollectionStore(store or c["store"]).get(c["id"], wanted)]
            except Exception:  # a store gone since: the matches are listed without crops
                continue
            match_crop.update(face_crops(faces, {}, workers))
    return {"total": len(found), "shown": [
        {"query": ms[0]["face_id"], "uri": ms[0]["uri"], "img": query_crops.get(ms[0]["face_id"]),
         "matches": [{"face": m["match_face_id"], "image": m["match_external_image_id"],
                      "similarity": round(m["similarity"], 1), "img": match_crop.get(m["match_face_id"])}
                     for m in sorted(ms, key=lambda m: -m["similarity"])]} for ms in shown]}


def pairs(output: str, run_list: list[dict], workers: int) -> dict:
    """compare-libraries' pairs: the MAX_SHOWN most similar, both faces cropped (from the crops the
    libraries kept, else from their photos)."""
    found = rows(output, "pairs", ["face_id_a", "uri_a", "face_id_b", "uri_b", "similarity"])
    shown = sorted(found, key=lambda p: -p["similarity"])[:MAX_SHOWN]
    wanted = {p[k] for p in shown for k in ("face_id_a", "face_id_b")}
    faces, kept = [], {}
    for library in {lib for run in run_list if run.get("job") == "compare-libraries" for lib in (run["a"], run["b"])}:
        try:
            faces += rows(library, "faces", ["face_id", "uri", "bounding_box"], wanted)
            kept.update(kept_crops(library, wanted))
        except Exception:  # a library gone since: its faces are listed without crops
            continue
    crop = face_crops(list({f["face_id"]: f for f in faces}.values()), kept, workers)
    return {"total": len(found), "shown": [
        {"a": crop.get(p["face_id_a"]), "b": crop.get(p["face_id_b"]), "uri_a": p["uri_a"], "uri_b": p["uri_b"],
         "similarity": round(p["similarity"], 1)} for p in shown]}


def build(output: str, html_path: str, collection: str | None = None, store: str | None = None,
          workers: int = os.cpu_count() or 1) -> dict:
    """Write the report of OUT to ``html_path``; returns what it counted."""
    face_rows = rows(output, "faces", FACE_COLUMNS)
    crop_of = face_crops(face_rows, kept_crops(output), workers)
    gallery = [face_entry(r, crop_of[r["face_id"]]) for r in face_rows]
    run_list = runs(output)
    data = {"faces": gallery, "persons": persons(store, collection, workers) if collection else [],
            "videos": timelines(output), "matches": matches(output, run_list, crop_of, store, workers),
            "pairs": pairs(output, run_list, workers)}
    errors = rows(output, "errors")
    with open(html_path, "w", encoding="utf-8") as f:
        f.write(render(output, run_list, errors, data))
    return {"html": html_path, "faces": len(gallery), "persons": len(data["persons"]),
            "videos": len(data["videos"]), "matches": data["matches"]["total"], "pairs": data["pairs"]["total"],
            "errors": len(errors)}


def render(output: str, run_list: list[dict], errors: list[dict], data: dict) -> str:
    e = html.escape
    summary = "".join(
        f"<tr><td>{e(r['run_id'])}</td><td>{e(r.get('job', ''))}</td><td>{r.get('inputs', '')}</td>"
        f"<td>{r.get('images', r.get('videos', ''))}</td><td>{r.get('video_faces', r.get('faces', ''))}</td>"
        f"<td>{r.get('errors', '')}</td><td>{e(', '.join(f'{k}: {v}' for k, v in r.get('errors_by_reason', {}).items()))}</td>"
        f"<td>{r.get('seconds', '')}</td><td>{e(str(r.get('runner', '')))} x{r.get('workers', 1)}</td>"
        f"<td>{e(', '.join(f'{k} {v}' for k, v in (r.get('model_versions') or {}).items() if v))}</td></tr>"
        for r in run_list)
    error_rows = "".join(f'<tr class="error"><td>{e(r["uri"])}</td><td>{e(r["stage"])}</td><td>{e(r["reason"])}</td>'
                         f'<td>{e(r["message"])}</td></tr>' for r in errors)
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return (TEMPLATE.replace("{{title}}", e(f"facelake report: {output}"))
            .replace("{{runs}}", summary or '<tr><td colspan="10">no run summaries</td></tr>')
            .replace("{{errors}}", error_rows or '<tr><td colspan="4">no errors</td></tr>')
            .replace("{{error_count}}", str(len(errors)))
            .replace("{{data}}", payload))


TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>{{title}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222;background:#fafafa}
h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;font-size:.85rem;background:#fff}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
#filters{display:flex;flex-wrap:wrap;gap:.6rem 1.2rem;align-items:center;margin:.5rem 0;font-size:.9rem}
#gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(104px,1fr));gap:.4rem}
.face{border:1px solid #ccc;background:#fff;padding:2px;font-size:.7rem;text-align:center;cursor:pointer}
.face:focus{outline:3px solid #0a58ca}.face img{width:96px;height:96px;object-fit:contain;display:block;margin:auto}
.person{display:flex;gap:.3rem;align-items:center;background:#fff;border:1px solid #ccc;margin:.3rem 0;padding:.3rem}
.person img{width:64px;height:64px;object-fit:cover}
.person .seen{color:#555}
.match{display:flex;flex-wrap:wrap;gap:.4rem;align-items:center;background:#fff;border:1px solid #ccc;margin:.3rem 0;padding:.3rem}
#pairs{display:flex;flex-wrap:wrap;gap:.4rem}#pairs>p{width:100%}#pairs .match{margin:0}
.match figure{margin:0;width:96px;font-size:.65rem;text-align:center;overflow-wrap:anywhere}.match img{width:80px;height:80px;object-fit:contain}
.timeline{position:relative;height:18px;background:#eee;margin:2px 0}.timeline span{position:absolute;top:0;bottom:0}
.lane{display:flex;align-items:center;gap:.4rem}.lane .who{width:7.5rem;display:flex;align-items:center;gap:.3rem}
.lane img{width:36px;height:36px;object-fit:cover}.label{width:7.5rem;display:inline-block}
#detail{white-space:pre-wrap;font-size:.8rem;background:#fff;border:1px solid #ccc;padding:.5rem;min-height:1rem}
</style></head><body>
<h1>{{title}}</h1>
<h2 id="runs">Runs</h2>
<table><thead><tr><th>run</th><th>job</th><th>inputs</th><th>images / videos</th><th>faces</th><th>errors</th><th>errors by reason</th><th>seconds</th><th>runner</th><th>models</th></tr></thead><tbody>{{runs}}</tbody></table>
<h2 id="errors">Errors ({{error_count}})</h2>
<table><thead><tr><th>file</th><th>stage</th><th>reason</th><th>message</th></tr></thead><tbody>{{errors}}</tbody></table>
<noscript><p>The face gallery, persons and video timelines need JavaScript.</p></noscript>
<section id="faces-section"><h2>Faces (<span id="shown">0</span> shown of <span id="total">0</span>)</h2>
<div id="filters">
<label><input type="checkbox" data-flag="smile"> smiling</label>
<label><input type="checkbox" data-flag="eyeglasses"> eyeglasses</label>
<label><input type="checkbox" data-flag="sunglasses"> sunglasses</label>
<label><input type="checkbox" data-flag="beard"> beard</label>
<label><input type="checkbox" data-flag="mustache"> mustache</label>
<label>gender <select id="gender"><option value="">any</option><option>Female</option><option>Male</option></select></label>
<label>emotion <select id="emotion"><option value="">any</option></select></label>
<label>age <input id="agemin" type="number" min="0" max="120" size="3" style="width:4em"> to <input id="agemax" type="number" min="0" max="120" style="width:4em"></label>
<label>|yaw| at most <input id="yaw" type="number" min="0" max="90" style="width:4em"></label>
<label>sharpness at least <input id="sharp" type="number" min="0" max="100" style="width:4em"></label>
<label>sort <select id="sort"><option value="conf">confidence</option><option value="sharpness">sharpness</option><option value="age">age</option><option value="yaw">|yaw|</option><option value="uri">file</option></select></label>
</div>
<div id="gallery" role="list" aria-label="faces"></div>
<p><button id="prev">previous page</button> <span id="page"></span> <button id="next">next page</button></p>
<div id="detail" aria-live="polite"></div></section>
<section id="persons-section"><h2>Persons</h2><div id="persons"></div></section>
<section id="matches-section"><h2>Search matches</h2><div id="matches"></div></section>
<section id="pairs-section"><h2>Compared pairs</h2><div id="pairs"></div></section>
<section id="videos-section"><h2>Videos</h2><div id="videos"></div></section>
<script type="application/json" id="data">{{data}}</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent), PAGE = 120;
let page = 0, view = [];
const $ = id => document.getElementById(id);
const emotions = [...new Set(D.faces.map(f => f.emotion).filter(Boolean))].sort();
for (const e of emotions) { const o = document.createElement("option"); o.textContent = e; $("emotion").append(o); }
$("total").textContent = D.faces.length;
function criteria() {  // the filters' settings, read once per change (not once per face)
  const num = id => parseFloat($(id).value);
  return {flags: [...document.querySelectorAll("[data-flag]")].filter(b => b.checked).map(b => b.dataset.flag),
          gender: $("gender").value, emotion: $("emotion").value, lo: num("agemin"), hi: num("agemax"),
          yaw: num("yaw"), sharp: num("sharp")};
}
function keep(f, c) {
  for (const flag of c.flags) if (f[flag] !== true) return false;
  if (c.gender && f.gender !== c.gender) return false;
  if (c.emotion && f.emotion !== c.emotion) return false;
  if (!isNaN(c.lo) && !(f.age && f.age[1] >= c.lo)) return false;
  if (!isNaN(c.hi) && !(f.age && f.age[0] <= c.hi)) return false;
  if (!isNaN(c.yaw) && Math.abs(f.yaw) > c.yaw) return false;
  if (!isNaN(c.sharp) && f.sharpness < c.sharp) return false;
  return true;
}
function refresh(refilter) {  // refilter: the filters or the sort changed (else only the page did)
  if (refilter) {
    const key = {conf: f => -f.conf, sharpness: f => -f.sharpness, age: f => f.age ? f.age[0] : 999,
                 yaw: f => Math.abs(f.yaw), uri: f => f.uri}[$("sort").value], c = criteria();
    view = D.faces.filter(f => keep(f, c)).map(f => [key(f), f]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(p => p[1]);
    page = 0;
  }
  const pages = Math.max(1, Math.ceil(view.length / PAGE)); page = Math.min(page, pages - 1);
  $("shown").textContent = view.length; $("page").textContent = `page ${page + 1} of ${pages}`;
  const g = $("gallery"); g.replaceChildren();
  for (const f of view.slice(page * PAGE, (page + 1) * PAGE)) {
    const b = document.createElement("button"); b.className = "face"; b.setAttribute("role", "listitem");
    b.dataset.id = f.id; b.title = f.uri;
    const label = [f.gender, f.age ? f.age.join("-") : null, f.emotion, f.smile ? "smiling" : null].filter(Boolean).join(" ");
    b.innerHTML = (f.img ? `<img alt="face in ${esc(f.uri)}" src="${f.img}">` : "<div>(no crop)</div>") + esc(label);
    b.onclick = () => { $("detail").textContent = JSON.stringify(f, (k, v) => k === "img" ? undefined : v, 1); };
    g.append(b);
  }
}
function esc(s) { return String(s).replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c])); }
document.querySelectorAll("#filters input, #filters select").forEach(el => el.addEventListener("input", () => refresh(true)));
$("prev").onclick = () => { page = Math.max(0, page - 1); refresh(false); };
$("next").onclick = () => { page += 1; refresh(false); };
$("gallery").addEventListener("keydown", ev => {  // arrow keys move between faces
  const items = [...$("gallery").children], i = items.indexOf(document.activeElement);
  if (i < 0) return;
  const cols = Math.max(1, Math.round($("gallery").clientWidth / items[0].offsetWidth));
  const j = {ArrowRight: i + 1, ArrowLeft: i - 1, ArrowDown: i + cols, ArrowUp: i - cols}[ev.key];
  if (j !== undefined && items[j]) { items[j].focus(); ev.preventDefault(); }
});
refresh(true);
$("persons").innerHTML = D.persons.length ? D.persons.map(p => `<div class="person"><strong>${esc(p.user)}</strong>&nbsp;${p.count} faces ` +
  (p.first ? `<span class="seen">seen ${esc(p.first)}${p.last !== p.first ? " to " + esc(p.last) : ""}</span> ` : "") +
  p.faces.map(i => i ? `<img alt="${esc(p.user)}" src="${i}">` : "").join("") + "</div>").join("") : "<p>No persons (run facelake group, then report with --collection).</p>";
const base = uri => String(uri).split("/").pop();
const crop = (img, alt, caption, uri) => `<figure title="${esc(uri || caption)}">${img ? `<img alt="${esc(alt)}" src="${img}">` : "<div>(no crop)</div>"}<figcaption>${esc(caption)}</figcaption></figure>`;
const of = (x, what) => x.total > x.shown.length ? `<p>The ${x.shown.length} ${what} with the best similarity, of ${x.total}.</p>` : "";
$("matches").innerHTML = D.matches.shown.length ? of(D.matches, "query faces") + D.matches.shown.map(m => `<div class="match">` +
  crop(m.img, "query face", base(m.uri), m.uri) + "<span>matches</span>" + m.matches.map(x => crop(x.img, "match", `${x.image || x.face} ${x.similarity.toFixed(1)}%`)).join("") +
  "</div>").join("") : "<p>No search matches in this output.</p>";
$("pairs").innerHTML = D.pairs.shown.length ? of(D.pairs, "pairs") + D.pairs.shown.map(p => `<div class="match">` +
  crop(p.a, "face A", base(p.uri_a), p.uri_a) + `<span>${p.similarity.toFixed(1)}%</span>` + crop(p.b, "face B", base(p.uri_b), p.uri_b) + "</div>").join("") :
  "<p>No compared pairs in this output.</p>";
const cueColor = {BlackFrames: "#111", ColorBars: "#c0c", OpeningCredits: "#08c", EndCredits: "#08c", StudioLogo: "#fa0", Slate: "#fa0"};
$("videos").innerHTML = D.videos.length ? D.videos.map(v => {
  const pct = t => (100 * t / Math.max(v.duration, 1)).toFixed(3) + "%";
  const shots = v.shots.map(s => `<span title="shot ${s[2]}" style="left:${pct(s[0])};width:${pct(Math.max(s[1] - s[0], 1))};background:${s[2] % 2 ? "#9bd" : "#bde"}"></span>`).join("");
  const cues = v.cues.map(c => `<span title="${c[2]} ${c[3]}" style="left:${pct(c[0])};width:${pct(Math.max(c[1] - c[0], 1))};background:${cueColor[c[2]] || "#888"}"></span>`).join("");
  const lanes = v.persons.map(p => `<div class="lane"><span class="who">${p.img ? `<img alt="person ${p.index}" src="${p.img}">` : ""}person ${p.index}</span>` +
    `<div class="timeline" style="flex:1">` + p.seen.map(t => `<span style="left:${pct(t)};width:3px;background:#2a7"></span>`).join("") + "</div></div>").join("");
  return `<div class="video"><h3>${esc(v.uri)} (${(v.duration / 1000).toFixed(1)} s, ${v.shots.length} shots)</h3>` +
         `<div class="lane"><span class="who">shots</span><div class="timeline" style="flex:1">${shots}</div></div>` +
         `<div class="lane"><span class="who">cues</span><div class="timeline" style="flex:1">${cues}</div></div>${lanes}</div>`;
}).join("") : "<p>No videos in this output.</p>";
</script></body></html>
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="facelake report", description="One HTML page of what a job's tables hold.")
    ap.add_argument("output", metavar="OUT")
    ap.add_argument("--html", default=None, help="the page to write (default OUT/report.html for a local OUT)")
    ap.add_argument("--collection", help="show this collection's persons (users) too")
    ap.add_argument("--store", help="the collection's store (default $FACELAKE_STORE)")
    ap.add_argument("--open", action="store_true", help="open the page in the default browser")
    args = ap.parse_args(argv)
    target = args.html or (os.path.join(args.output, "report.html") if "://" not in args.output else "report.html")
    done = build(args.output, target, args.collection, args.store)
    print(json.dumps(done, indent=2))
    if args.open:
        import webbrowser

        webbrowser.open("file://" + os.path.abspath(target))
    return 0


if __name__ == "__main__":
    sys.exit(main())
