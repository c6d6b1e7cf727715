#!/usr/bin/env python3
"""Print facelake's pinned dependencies (pyproject.toml), one per line: what a Beam worker
environment needs installed when facelake itself comes staged as a wheel.

    pip install -r <(python cluster/worker_requirements.py)
"""

import pathlib
import tomllib

pyproject = pathlib.Path(__file__).resolve().parent.parent / "pyproject.toml"
print("\n".join(tomllib.loads(pyproject.read_text())["project"]["dependencies"]))
