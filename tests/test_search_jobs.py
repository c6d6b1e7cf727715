"""facelake search (library against a collection) and compare-libraries (faces table joins)."""

import shutil

import numpy as np
import pandas as pd

from conftest import SAMPLES
from facelake.models.matching import nearest, pairs_within
from facelake.pipelines import compare, detect, index, search


def test_pairs_within_and_nearest_are_exact():
    rng = np.random.default_rng(1)
    a, b = rng.random((300, 128), np.float32), rng.random((500, 128), np.float32)
    d = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    limit = np.percentile(d, 2)
    got = np.concatenate(list(pairs_within(a, b, limit, budget_bytes=100_000)))
    want = np.argwhere(d <= limit)
    assert sorted(map(tuple, got[:, :2].astype(int))) == sorted(map(tuple, want))
    assert np.allclose(got[:, 2], d[got[:, 0].astype(int), got[:, 1].astype(int)], atol=1e-4)
    same = np.concatenate(list(pairs_within(a, a, limit, same_set=True)))
    assert (same[:, 0] < same[:, 1]).all()
    idx, dist = nearest(a, b, 5, budget_bytes=100_000)
    assert (idx == np.argsort(d, 1)[:, :5]).all() and np.allclose(dist, np.sort(d, 1)[:, :5], atol=1e-4)


def test_search_a_library_against_a_collection(tmp_path, insightface_images):
    store, lib, queries = tmp_path / "store", tmp_path / "lib", tmp_path / "queries"
    lib.mkdir()
    queries.mkdir()
    shutil.copy(SAMPLES / "astronaut.jpg", lib)
    (lib / "t1.jpg").write_bytes(insightface_images["t1.jpg"])
    shutil.copy(SAMPLES / "astronaut-exif-rotated.jpg", queries)
    shutil.copy(SAMPLES / "cat.jpg", queries)
    index.run([str(lib), "--collection", "people", "--store", str(store), "--create", "--no-progress"])
    out = tmp_path / "out"
    summary = search.run([str(queries), "--collection", "people", "--store", str(store), "--output", str(out),
                          "--no-progress"])
    assert summary["reconciled"] and summary["matches"] == 1
    matches = pd.read_parquet(out / "matches")
    (m,) = matches.itertuples()
    assert m.uri.endswith("astronaut-exif-rotated.jpg") and m.match_external_image_id == "astronaut.jpg"
    assert m.rank == 1 and m.similarity > 99
    loose = search.run([str(queries), "--collection", "people", "--store", str(store), "--output",
                        str(tmp_path / "loose"), "--threshold", "0", "--max-matches", "3", "--no-progress"])
    ranks = pd.read_parquet(tmp_path / "loose" / "matches").sort_values("rank")
    assert loose["matches"] == 3 and list(ranks["rank"]) == [1, 2, 3]
    assert ranks.similarity.is_monotonic_decreasing
    # the same search again into the same OUT replaces its matches, never adds beside them
    search.run([str(queries), "--collection", "people", "--store", str(store), "--output", str(out), "--no-progress"])
    assert len(pd.read_parquet(out / "matches")) == 1 and len(pd.read_parquet(out / "images")) == 2


def test_compare_libraries_and_a_library_with_itself(tmp_path, insightface_images):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    shutil.copy(SAMPLES / "astronaut.jpg", a)
    (a / "t1.jpg").write_bytes(insightface_images["t1.jpg"])
    shutil.copy(SAMPLES / "astronaut-exif-rotated.jpg", b)
    shutil.copy(SAMPLES / "cat.jpg", b)
    detect.run([str(a), "--output", str(tmp_path / "fa"), "--no-progress"])
    detect.run([str(b), "--output", str(tmp_path / "fb"), "--no-progress"])
    res = compare.run([str(tmp_path / "fa"), str(tmp_path / "fb" / "faces"), "--output", str(tmp_path / "ab")])
    pairs = pd.read_parquet(tmp_path / "ab" / "pairs")
    assert res["pairs"] == len(pairs) == 1
    assert pairs.uri_a[0].endswith("astronaut.jpg") and pairs.uri_b[0].endswith("astronaut-exif-rotated.jpg")
    # library with itself, threshold 0: every unordered pair of its 7 faces once
    res = compare.run([str(tmp_path / "fa"), "--output", str(tmp_path / "aa"), "--threshold", "0"])
    pairs = pd.read_parquet(tmp_path / "aa" / "pairs")
    assert res["pairs"] == len(pairs) == 7 * 6 // 2
    assert (pairs.face_id_a < pairs.face_id_b).all()
    again = compare.run([str(tmp_path / "fa"), "--output", str(tmp_path / "aa"), "--threshold", "0"])
    assert again["pairs"] == len(pd.read_parquet(tmp_path / "aa" / "pairs")) == 7 * 6 // 2  # replaced, not added
    # the ANN path gives the same pairs here (B is small, so its table is scanned exactly)
    ann = compare.run([str(tmp_path / "fa"), "--output", str(tmp_path / "ann"), "--threshold", "0", "--ann"])
    ann_pairs = pd.read_parquet(tmp_path / "ann" / "pairs")
    assert ann["method"] == "ann" and set(zip(ann_pairs.face_id_a, ann_pairs.face_id_b)) == set(
        zip(pairs.face_id_a, pairs.face_id_b))
    assert not (tmp_path / "ann" / "_ann").exists()
