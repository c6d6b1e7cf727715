"""facelake index: bulk indexing into a collection on Beam, idempotent, atomic, concurrent-safe."""

import shutil
import threading

import pyarrow as pa
import pytest

import facelake
from conftest import SAMPLES
from facelake.store.collections import CollectionStore
from facelake.pipelines import index
from facelake.schemas.collections import COLLECTION_FACES
from facelake.transforms import collection as coll
from facelake.store.tables import write_parquet


@pytest.fixture()
def library(tmp_path, insightface_images):
    lib = tmp_path / "lib"
    (lib / "a").mkdir(parents=True)
    (lib / "b").mkdir()
    shutil.copy(SAMPLES / "astronaut.jpg", lib / "a" / "astronaut.jpg")
    shutil.copy(SAMPLES / "astronaut.jpg", lib / "b" / "astronaut.jpg")  # same photo, same name, other folder
    shutil.copy(SAMPLES / "cat.jpg", lib / "a" / "cat.jpg")
    (lib / "b" / "group photo.jpg").write_bytes(insightface_images["t1.jpg"])
    (lib / "b" / "broken.jpg").write_bytes(b"not a photo")
    return lib


def run(*args):
    return index.run([*map(str, args), "--no-progress"])


def test_index_twice_adds_nothing_and_faces_are_searchable(library, tmp_path):
    store = tmp_path / "store"
    first = run(library, "--collection", "lib", "--store", store, "--create")
    assert first["reconciled"] and first["errors"] == 1 and first["images"] == 4
    assert first["collection"]["inserted"] == 7  # 1 astronaut (two copies, one face id) + 6 in the group photo
    again = run(library, "--collection", "lib", "--store", store)
    assert again["collection"]["inserted"] == 0 and again["collection"]["faces_after"] == 7
    client = facelake.client(store=str(store))
    found = client.search_faces_by_image(CollectionId="lib", Image={"Bytes": (SAMPLES / "astronaut-exif-rotated.jpg").read_bytes()})
    assert [m["Face"]["ExternalImageId"] for m in found["FaceMatches"]] == ["astronaut.jpg"]
    names = {f.get("ExternalImageId") for f in client.list_faces(CollectionId="lib")["Faces"]}
    assert names == {"astronaut.jpg", "group_photo.jpg"}  # a space is not allowed in an ExternalImageId
    rows = CollectionStore(str(store)).table("lib").to_arrow().to_pylist()
    assert {r["source_uri"].split("/lib/", 1)[1] for r in rows} >= {"b/group photo.jpg"}


def test_unknown_collection_and_bad_id(library, tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        run(library, "--collection", "nope", "--store", tmp_path / "s")
    with pytest.raises(ValueError, match="--collection"):
        run(library, "--collection", "../x", "--store", tmp_path / "s", "--create")


def test_a_failed_run_adds_nothing(library, tmp_path, monkeypatch):
    store = tmp_path / "store"
    CollectionStore(str(store)).create("lib", "dlib-resnet-v1")
    calls = {"n": 0}
    original = coll._ToCollectionRow.process

    def fail_on_the_third_face(self, face):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("worker lost")
        yield from original(self, face)

    monkeypatch.setattr(coll._ToCollectionRow, "process", fail_on_the_third_face)
    with pytest.raises(Exception, match="worker lost"):
        run(library, "--collection", "lib", "--store", store)
    assert CollectionStore(str(store)).info("lib")["face_count"] == 0


def test_two_commits_at_once_lose_nothing(tmp_path):
    import numpy as np

    store = str(tmp_path / "store")
    CollectionStore(store).create("lib", "v")

    def staged(run_id: str, n: int) -> list[str]:
        rng = np.random.default_rng(hash(run_id) % 2**32)
        rows = [{"face_id": f"{run_id}-{i}", "image_id": "i", "content_sha256": "s", "external_image_id": "x",
                 "source_uri": "u", "user_id": None, "bounding_box": {"width": 0.1, "height": 0.1, "left": 0, "top": 0},
                 "confidence": 99.0, "model_version": "v", "vector": rng.random(128).astype("float32").tolist()}
                for i in range(n)]
        path = f"{store}/_staging/lib/{run_id}/part.parquet"
        write_parquet(pa.Table.from_pylist(rows, schema=COLLECTION_FACES), path)
        return [path]

    jobs = [staged(f"run{k}", 50) for k in range(4)]
    errors = []

    def commit(paths, run_id):
        try:
            CollectionStore(store).merge_staged("lib", paths)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=commit, args=(paths, f"run{k}")) for k, paths in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert CollectionStore(store).info("lib")["face_count"] == 200
