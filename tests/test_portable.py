"""The jobs on Beam's portable runners give the tables the default runner gives.

A job service and an SDK worker pool run as processes of their own on 127.0.0.1; the worker
environment (a virtualenv .ci/run makes) has facelake's dependencies but not facelake, which
comes staged as a wheel and is installed by cluster/worker_boot.py, as on a cluster. Runners:
Beam's Python job service behind the PortableRunner, and Prism (Beam's Go runner, built by
.ci/run from the Go module proxy).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, SAMPLES
from facelake.pipelines import detect, index
from facelake.store.collections import CollectionStore

sys.path.insert(0, str(ROOT / "cluster"))
import local_services  # noqa: E402  (a script folder, not a package: it runs without facelake)

WORKER_ENV = Path(os.environ.get("FACELAKE_BEAM_WORKER_ENV", ROOT / ".cache" / "beam-worker"))
PRISM = Path(os.environ.get("FACELAKE_PRISM", ROOT / ".cache" / "prism" / "prism"))
VARYING = {"run_id"}  # the only columns a run may change


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    """The worker pool and Beam's Python job service (cluster/local_services.py)."""
    python = WORKER_ENV / "bin" / "python"
    if not python.exists():
        pytest.skip(f"no Beam worker environment at {WORKER_ENV} (.ci/run makes it)")
    home = tmp_path_factory.mktemp("services")
    # the worker environment really lacks facelake: the wheel is what puts it there
    assert subprocess.run([str(python), "-c", "import facelake"], cwd=home, capture_output=True).returncode != 0
    with local_services.running(WORKER_ENV, home) as ports:
        yield ports


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return local_services.build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def library(tmp_path_factory, insightface_images):
    root = tmp_path_factory.mktemp("library")
    for i in range(3):  # several files, so that the work is spread over bundles
        shutil.copy(SAMPLES / "astronaut.jpg", root / f"astronaut-{i}.jpg")
    shutil.copy(SAMPLES / "cat.jpg", root / "cat.jpg")
    (root / "group.jpg").write_bytes(insightface_images["t1.jpg"])
    (root / "broken.jpg").write_bytes(b"not a photo")
    return root


def portable_args(runner: str, services, wheel: Path) -> list[str]:
    return local_services.job_options(runner, services, wheel, PRISM)


def runners() -> list:
    return ["PortableRunner",
            pytest.param("PrismRunner", marks=pytest.mark.skipif(not PRISM.exists(), reason=f"no Prism at {PRISM}"))]


def table(out: Path, name: str, key: list[str]) -> pd.DataFrame:
    frame = pd.read_parquet(out / name)
    return frame.drop(columns=sorted(VARYING & set(frame.columns))).sort_values(key).reset_index(drop=True)


def assert_same_rows(a: pd.DataFrame, b: pd.DataFrame, vector: str) -> None:
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    for column in a.columns:
        if column == vector:
            np.testing.assert_allclose(np.stack(a[column]), np.stack(b[column]), atol=1e-5)
        else:
            assert a[column].map(repr).tolist() == b[column].map(repr).tolist(), column


@pytest.mark.parametrize("runner", runners())
def test_detect_on_a_portable_runner_gives_the_same_tables(runner, services, wheel, library, tmp_path):
    here = detect.run([str(library), "--output", str(tmp_path / "here"), "--no-progress"])
    there = detect.run([str(library), "--output", str(tmp_path / "there"), "--no-progress",
                        *portable_args(runner, services, wheel)])
    assert there["runner"] == runner and there["workers"] is None and there["worker_processes"] >= 1
    assert here["worker_processes"] == 1 and here["workers"] == 1
    assert (there["images"], there["faces"], there["errors"]) == (here["images"], here["faces"], here["errors"]) \
        == (5, 9, 1)
    for name, key in (("images", ["uri"]), ("faces", ["face_id", "uri"]), ("errors", ["uri"])):
        assert_same_rows(table(tmp_path / "here", name, key), table(tmp_path / "there", name, key), "embedding")


@pytest.mark.parametrize("runner", runners())
def test_index_on_a_portable_runner_gives_the_same_collection(runner, services, wheel, library, tmp_path):
    def collection(store: Path) -> pd.DataFrame:
        rows = CollectionStore(str(store)).table("lib").to_pandas()
        return rows.sort_values("face_id").reset_index(drop=True)

    here = index.run([str(library), "--collection", "lib", "--store", str(tmp_path / "a"), "--create", "--no-progress"])
    there = index.run([str(library), "--collection", "lib", "--store", str(tmp_path / "b"), "--create", "--no-progress",
                       *portable_args(runner, services, wheel)])
    assert there["collection"]["inserted"] == here["collection"]["inserted"] == 9  # 3 named copies + 6
    assert_same_rows(collection(tmp_path / "a"), collection(tmp_path / "b"), "vector")
    assert CollectionStore(str(tmp_path / "b")).info("lib")["face_count"] == 9


def test_workers_is_refused_where_it_would_not_be_what_runs():
    with pytest.raises(ValueError, match="--workers is for local runs; on PortableRunner"):
        detect.run([str(SAMPLES), "--output", "/nonexistent/out", "--workers", "2", "--runner=PortableRunner",
                    "--job_endpoint=127.0.0.1:1"])


def test_a_dead_job_service_or_worker_pool_is_named_at_once(tmp_path):
    dead = local_services.free_port()
    with pytest.raises(ValueError, match=f"no Beam job service \\(--job_endpoint\\) answers at 127.0.0.1:{dead}"):
        detect.run([str(SAMPLES), "--output", str(tmp_path / "a"), "--runner=PortableRunner",
                    f"--job_endpoint=127.0.0.1:{dead}"])
    with pytest.raises(ValueError, match=f"no SDK worker pool \\(--environment_config\\) answers at 127.0.0.1:{dead}"):
        detect.run([str(SAMPLES), "--output", str(tmp_path / "b"), "--runner=PrismRunner", "--environment_type=EXTERNAL",
                    f"--environment_config=127.0.0.1:{dead}"])
