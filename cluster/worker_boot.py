#!/usr/bin/env python3
"""Boot a Beam Python SDK worker in an environment that has Beam (and the job's dependencies)
but not facelake: what Beam's container boot program does, for ``worker_pool_main``.

    python -m apache_beam.runners.worker.worker_pool_main --service_port 50000 \\
        --container_executable cluster/worker_boot.sh

The worker pool starts this with ``--id --provision_endpoint --artifact_endpoint
--logging_endpoint --control_endpoint``. It asks the provision service for the job's options
and staged files, fetches them from the artifact service, installs the staged packages
(``--extra_package`` wheels: facelake itself, its model weights inside) into a folder of this
worker's own, and starts ``sdk_worker_main`` with them on its path. The dependencies of those
packages come from the worker's environment (``pip install --no-deps``): install them there
once (``cluster/worker_requirements.py``), as a worker image would.

Imports only Beam and the standard library: facelake is what it installs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import grpc
from apache_beam.portability import common_urns
from apache_beam.portability.api import (beam_artifact_api_pb2, beam_artifact_api_pb2_grpc, beam_provision_api_pb2,
                                         beam_provision_api_pb2_grpc, beam_runner_api_pb2, endpoints_pb2)
from google.protobuf import json_format, text_format

EXTRA_PACKAGES_FILE = "extra_packages.txt"  # Beam's stager lists the --extra_package files in it


def staged_name(artifact: beam_runner_api_pb2.ArtifactInformation) -> str:
    if artifact.role_urn != common_urns.artifact_roles.STAGING_TO.urn:
        raise ValueError(f"staged artifact with an unexpected role {artifact.role_urn}")
    payload = beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(artifact.role_payload)
    return os.path.basename(payload.staged_name)


def fetch_artifacts(endpoint: str, artifacts, folder: str, metadata) -> list[str]:
    """Write each staged artifact into ``folder``, streamed from the artifact service."""
    # some runners (Prism) send a whole artifact, a 40 MB wheel, as one message
    channel = grpc.insecure_channel(endpoint, options=[("grpc.max_receive_message_length", -1)])
    stub = beam_artifact_api_pb2_grpc.ArtifactRetrievalServiceStub(channel)
    names = []
    for artifact in artifacts:
        name = staged_name(artifact)
        with open(os.path.join(folder, name), "wb") as f:
            for chunk in stub.GetArtifact(beam_artifact_api_pb2.GetArtifactRequest(artifact=artifact),
                                          metadata=metadata):
                f.write(chunk.data)
        names.append(name)
    return names


def install(folder: str, names: list[str], target: str) -> None:
    """pip-install the staged packages (without their dependencies) into ``target``."""
    packages = []
    if EXTRA_PACKAGES_FILE in names:
        with open(os.path.join(folder, EXTRA_PACKAGES_FILE)) as f:
            packages = [os.path.join(folder, line.strip()) for line in f if line.strip()]
    if packages:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                        "--disable-pip-version-check", "--target", target, *packages], check=True)


def descriptor(url: str) -> str:
    return text_format.MessageToString(endpoints_pb2.ApiServiceDescriptor(url=url))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name in ("id", "provision_endpoint", "artifact_endpoint", "logging_endpoint", "control_endpoint"):
        ap.add_argument(f"--{name}", required=True)
    ap.add_argument("--semi_persistent_directory", default=None)
    args, _ = ap.parse_known_args(argv)
    metadata = [("worker_id", args.id)]
    provision = beam_provision_api_pb2_grpc.ProvisionServiceStub(grpc.insecure_channel(args.provision_endpoint))
    info = provision.GetProvisionInfo(beam_provision_api_pb2.GetProvisionInfoRequest(), metadata=metadata).info

    base = args.semi_persistent_directory or tempfile.mkdtemp(prefix=f"beam-worker-{args.id}-")
    staged, site = os.path.join(base, "staged"), os.path.join(base, "site-packages")
    os.makedirs(staged, exist_ok=True)
    names = fetch_artifacts(info.artifact_endpoint.url or args.artifact_endpoint, info.dependencies, staged, metadata)
    install(staged, names, site)

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (site, env.get("PYTHONPATH")) if p)
    env["WORKER_ID"] = args.id
    env["SEMI_PERSISTENT_DIRECTORY"] = base
    env["PIPELINE_OPTIONS"] = json_format.MessageToJson(info.pipeline_options)
    env["LOGGING_API_SERVICE_DESCRIPTOR"] = descriptor(info.logging_endpoint.url or args.logging_endpoint)
    env["CONTROL_API_SERVICE_DESCRIPTOR"] = descriptor(info.control_endpoint.url or args.control_endpoint)
    if info.status_endpoint.url:
        env["STATUS_API_SERVICE_DESCRIPTOR"] = descriptor(info.status_endpoint.url)
    if info.runner_capabilities:
        env["RUNNER_CAPABILITIES"] = " ".join(info.runner_capabilities)
    os.execve(sys.executable, [sys.executable, "-m", "apache_beam.runners.worker.sdk_worker_main"], env)


if __name__ == "__main__":
    main()
