"""Video accuracy on labelled videos made from the eval photos, side by side with the peers.

    python benchmarks/video_accuracy.py ../shared/eval/deepface [--videos 4] [--work /tmp/video-accuracy]

Builds ``--videos`` standard test videos (tests/videos.py: bars, black runs, hard cuts, a
dissolve, a fade through black, a camera flash, fast motion, two people in a shot, people in two
non-adjacent shots), each from four other identities, runs ``facelake video --faces --segments
SHOT,TECHNICAL_CUE --search`` over them (the collection: one photo of each of the 13 identities
that no video shows, where there is one), and scores:
- shots: hard cuts exact to the frame (F1), and cuts reported inside dissolves, fades, flashes
  and fast motion; beside PySceneDetect's AdaptiveDetector and ContentDetector (defaults);
- BlackFrames and ColorBars: start and end within one frame of the labels; beside FFmpeg's
  blackdetect at Rekognition's settings (pix_th=0.20, pic_th=0.99, d=0);
- faces: recall at IoU 0.5 on the analysed frames; persons: IDF1 and whether each person who is
  in two non-adjacent shots keeps one Person.Index; search: right and wrong matches at 80.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import math
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import av.filter
import av.logging
import numpy as np
import pyarrow.dataset as ds
from scipy.optimize import linear_sum_assignment

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from common import iou  # noqa: E402
from videos import make_video, photos_with_faces, standard_plan  # noqa: E402


def f1(found: list[int], truth: list[int]) -> tuple[float, int, int]:
    """F1 of exact frame matches, false and missed counts."""
    tp = len(set(found) & set(truth))
    fp, fn = len(set(found)) - tp, len(set(truth)) - tp
    return (2 * tp / (2 * tp + fp + fn) if truth or found else 1.0), fp, fn


def inside(frames: list[int], labels: dict) -> int:
    """False cuts that fall in a dissolve, fade, flash or fast-motion range (f or f - 1 in one)."""
    ranges = labels["gradual"] + labels["fast_motion"] + [[f, f] for f in labels["flashes"]]
    return sum(any(a <= f <= b or a <= f - 1 <= b for a, b in ranges) for f in frames if f not in labels["cuts"])


def within_one(found: list[list[int]], truth: list[list[int]]) -> bool:
    return len(found) == len(truth) and all(abs(a - c) <= 1 and abs(b - d) <= 1
                                            for (a, b), (c, d) in zip(sorted(found), sorted(truth)))


def scenedetect_cuts(path: Path) -> dict[str, list[int]]:
    from scenedetect import AdaptiveDetector, ContentDetector, detect

    return {name: [s[0].get_frames() for s in detect(str(path), det())[1:]]
            for name, det in (("AdaptiveDetector", AdaptiveDetector), ("ContentDetector", ContentDetector))}


def blackdetect(path: Path, rate: Fraction) -> list[list[int]]:
    """FFmpeg's blackdetect through PyAV's filter graph, as frame ranges (inclusive)."""
    av.logging.set_level(av.logging.INFO)
    with av.open(str(path)) as c, av.logging.Capture() as logs:
        vs = c.streams.video[0]
        g = av.filter.Graph()
        src, bd, sink = g.add_buffer(template=vs), g.add("blackdetect", "d=0:pix_th=0.20:pic_th=0.99"), g.add("buffersink")
        src.link_to(bd)
        bd.link_to(sink)
        g.configure()
        for fr in [*c.decode(vs), None]:
            g.push(fr)
            while True:
                try:
                    g.pull()
                except (av.BlockingIOError, av.EOFError):
                    break
    av.logging.set_level(None)
    runs = []
    for _, name, text in logs:
        if name == "blackdetect" and "black_start" in text:
            v = dict(kv.split(":") for kv in text.split())
            runs.append([round(float(v["black_start"]) * rate), round(float(v["black_end"]) * rate) - 1])
    return runs


def face_scores(labels: dict, faces: list[dict], fps: float) -> dict:
    """Recall at IoU 0.5 on analysed frames, IDF1 (detections on unlabelled transition frames left
    out) and, per identity, the person indices it was given."""
    rate = labels["fps"][0] / labels["fps"][1]
    analysed = [n for n in range(labels["frames"]) if n == 0 or math.floor(n * fps / rate) != math.floor((n - 1) * fps / rate)]
    gradual = {f for a, b in labels["gradual"] for f in range(a, b + 1)}
    by_frame = collections.defaultdict(list)
    for r in faces:
        bb = r["bounding_box"]
        by_frame[r["frame_number"]].append((r["person_index"], (bb["left"], bb["top"], bb["left"] + bb["width"],
                                                                bb["top"] + bb["height"])))
    tp = fn = fp = 0
    pairs = collections.Counter()
    for n in analysed:
        truth, dets, used = labels["faces"].get(str(n), []), by_frame.get(n, []), set()
        for who, *box in truth:
            best = max(((iou(box, d[1]), i) for i, d in enumerate(dets) if i not in used), default=(0.0, None))
            if best[0] >= 0.5:
                tp += 1
                used.add(best[1])
                pairs[(who, dets[best[1]][0])] += 1
            else:
                fn += 1
        if n not in gradual:
            fp += len(dets) - len(used)
    ids, persons = sorted({w for w, _ in pairs}), sorted({p for _, p in pairs})
    m = np.array([[pairs[(w, p)] for p in persons] for w in ids]) if pairs else np.zeros((0, 0))
    r, c = linear_sum_assignment(-m) if m.size else ([], [])
    idtp = int(m[r, c].sum()) if m.size else 0
    given = collections.defaultdict(set)
    for (who, p), _ in pairs.items():
        given[who].add(p)
    return {"recall": tp / max(tp + fn, 1), "false_faces": fp, "idf1": 2 * idtp / max(2 * tp + fn + fp, 1),
            "persons_per_identity": {w: sorted(p) for w, p in given.items()}, "identity_of": {
                int(persons[j]): ids[i] for i, j in zip(r, c)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("deepface", type=Path)
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "video-accuracy")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    ids: dict[str, list[Path]] = {}
    for row in csv.DictReader(open(args.deepface / "identities.csv")):
        ids.setdefault(row["identity"], []).append(args.deepface / row["file"])
    people = sorted(ids)
    photos = photos_with_faces({who: files for who, files in ids.items()})
    videos, labels, used = [], {}, collections.defaultdict(set)
    for v in range(args.videos):
        chosen = [people[(4 * v + k) % len(people)] for k in range(4)]
        mine = {who: photos[who][:3] for who in chosen}
        for who in chosen:
            used[who].update(range(min(3, len(photos[who]))))
        path = args.work / f"standard-{v}.mp4"
        make_video(path, standard_plan(mine))
        labels[path.name] = json.loads(Path(f"{path}.json").read_text())  # frame keys as strings
        videos.append(path)
    # the collection: per identity, a photo no video shows where there is one
    import facelake
    from facelake.pipelines.video import run_plan
    from facelake.models.video_plan import VideoPlan

    store = str(args.work / "store")
    client = facelake.client(store=store)
    try:
        client.delete_collection(CollectionId="eval")
    except client.exceptions.ResourceNotFoundException:
        pass
    client.create_collection(CollectionId="eval")
    face_identity = {}
    for who in people:
        spare = [i for i in range(len(ids[who])) if i not in used[who]] or [len(ids[who]) - 1]
        resp = client.index_faces(CollectionId="eval", Image={"Bytes": ids[who][spare[0]].read_bytes()},
                                  ExternalImageId=who, MaxFaces=1)
        face_identity.update({r["Face"]["FaceId"]: who for r in resp["FaceRecords"]})
    out = args.work / "out"
    plan = VideoPlan(faces=True, segment_types=("SHOT", "TECHNICAL_CUE"),
                     search={"store": store, "collection_id": "eval", "threshold": 80.0, "max_matches": 10})
    started = time.time()
    summary = run_plan([str(p) for p in videos], str(out), plan)
    seconds = time.time() - started
    segments = ds.dataset(out / "segments").to_table().to_pylist()
    faces = ds.dataset(out / "video_faces").to_table(columns=["uri", "frame_number", "person_index",
                                                             "bounding_box"]).to_pylist()
    matches = ds.dataset(out / "video_matches").to_table().to_pylist()
    report = {"videos": len(videos), "seconds": round(seconds, 1), "frames": summary["frames_decoded"], "per_video": []}
    for path in videos:
        lab, uri = labels[path.name], str(path)
        rate = Fraction(*lab["fps"])
        mine = [s for s in segments if s["uri"] == uri]
        cuts = sorted(s["start_frame_number"] for s in mine if s["type"] == "SHOT" and s["shot_index"] > 0)
        cues = lambda kind: [[s["start_frame_number"], s["end_frame_number"]] for s in mine  # noqa: E731
                             if s["technical_cue_type"] == kind]
        peers = scenedetect_cuts(path)
        fb = blackdetect(path, rate)
        fs = face_scores(lab, [f for f in faces if f["uri"] == uri], 5.0)
        right = wrong = 0
        for m in (m for m in matches if m["uri"] == uri):
            who = fs["identity_of"].get(m["person_index"])
            for hit in m["matches"]:
                right += face_identity.get(hit["face_id"]) == who
                wrong += face_identity.get(hit["face_id"]) != who
        report["per_video"].append({
            "video": path.name,
            "facelake_cuts": {"f1": f1(cuts, lab["cuts"]), "inside_gradual_flash_fast": inside(cuts, lab)},
            **{f"scenedetect_{k}": {"f1": f1(v, lab["cuts"]), "inside_gradual_flash_fast": inside(v, lab)}
               for k, v in peers.items()},
            "facelake_black_within_1": within_one(cues("BlackFrames"), lab["black"]),
            "ffmpeg_blackdetect_within_1": within_one(fb, lab["black"]),
            "facelake_bars_within_1": within_one(cues("ColorBars"), lab["bars"]),
            "faces": {k: v for k, v in fs.items() if k != "identity_of"},
            "search_at_80": {"right": right, "wrong": wrong},
        })
    print(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
