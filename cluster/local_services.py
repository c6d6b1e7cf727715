#!/usr/bin/env python3
"""Beam's portable services on 127.0.0.1, each a process of its own, run from a worker
environment that has facelake's dependencies but not facelake:

- an SDK worker pool (``worker_pool_main``) whose workers boot with cluster/worker_boot.py,
  installing the facelake wheel a job stages (``--extra_package``);
- Beam's Python job service (``local_job_service_main``), for ``--runner=PortableRunner``.

    python cluster/local_services.py --worker-env .cache/beam-worker   # builds the wheel, prints the options

The tests (tests/test_portable.py) and benchmarks/portable_runners.py start them the same way.
Imports only the standard library (its python builds the wheel: it needs pip).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

BOOT = Path(__file__).resolve().parent / "worker_boot.py"
ROOT = BOOT.parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}: {log.read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds} s: {log.read_text()[-2000:]}")


@contextlib.contextmanager
def running(worker_env: Path, folder: Path) -> Iterator[dict]:
    """Start the worker pool and the job service from ``worker_env`` (a virtualenv) in ``folder``
    (their logs go there); yield {"pool": port, "jobs": port}; stop them."""
    python = worker_env / "bin" / "python"
    env = {**os.environ, "PATH": f"{worker_env / 'bin'}{os.pathsep}{os.environ['PATH']}"}  # the boot's python3
    env.pop("PYTHONPATH", None)
    ports = {"pool": free_port(), "jobs": free_port()}
    commands = {
        "pool": [str(python), "-m", "apache_beam.runners.worker.worker_pool_main", "--service_port",
                 str(ports["pool"]), "--container_executable", str(BOOT)],
        "jobs": [str(python), "-m", "apache_beam.runners.portability.local_job_service_main", "--port",
                 str(ports["jobs"]), "--staging_dir", str(folder / "staging")],
    }
    procs = []
    try:
        for name, command in commands.items():
            log = folder / f"{name}.log"
            procs.append(subprocess.Popen(command, cwd=folder, env=env, stdout=log.open("wb"),
                                          stderr=subprocess.STDOUT, start_new_session=True))
            wait_for_port(ports[name], procs[-1], log)
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def job_options(runner: str, ports: dict, wheel: Path, prism: Path | None = None) -> list[str]:
    """Beam options that run a facelake job on ``runner`` (PortableRunner or PrismRunner) with
    the workers of this pool, facelake staged as ``wheel``."""
    options = [f"--runner={runner}", "--environment_type=EXTERNAL",
               f"--environment_config=127.0.0.1:{ports['pool']}", f"--extra_package={wheel}"]
    if runner == "PortableRunner":
        return [*options, f"--job_endpoint=127.0.0.1:{ports['jobs']}"]
    if runner == "PrismRunner":
        return [*options, f"--prism_location={prism}", "--prism_log_level=warn"]
    raise ValueError(f"not a runner these services serve: {runner}")


def build_wheel(folder: Path, python: str = sys.executable) -> Path:
    """facelake's wheel (its model weights inside), built into ``folder`` from a copy of this
    checkout's package files, so that the checkout gets no build/ folder."""
    source = folder / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".*", "build", "dist", "*.egg-info", "__pycache__", "node_modules", "tests", "benchmarks", "notebooks", "docs",
        "cluster"))
    subprocess.run([python, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(folder), str(source)], check=True,
                   capture_output=True, timeout=600)
    shutil.rmtree(source)
    (wheel,) = folder.glob("facelake-*.whl")
    return wheel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worker-env", type=Path, required=True, help="a virtualenv with facelake's dependencies")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the services on SIGTERM too
    folder = Path(tempfile.mkdtemp(prefix="beam-services-"))
    wheel = build_wheel(folder)
    with running(args.worker_env.resolve(), folder) as ports:
        print("facelake detect SOURCE --output OUT " + " ".join(job_options("PortableRunner", ports, wheel)), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
