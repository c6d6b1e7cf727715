"""The notebook's code cells run top to bottom against a fresh detect run."""

import json
import os

from conftest import ROOT


def test_library_queries_notebook_runs(tmp_path, monkeypatch):
    nb = json.loads((ROOT / "notebooks" / "library_queries.ipynb").read_text())
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    monkeypatch.chdir(ROOT)
    scope: dict = {}
    for src in cells:
        exec(compile(src.replace('os.path.join(ROOT, "out", "notebook")', repr(str(tmp_path / "out"))),
                     "notebook", "exec"), scope)
    assert scope["summary"]["reconciled"] and scope["summary"]["images"] == 3
    assert len(scope["with_people"]) == 2 and len(scope["without"]) == 1
    assert len(scope["same_person"]) == 2  # the astronaut, upright and EXIF-rotated
    assert len(scope["good_portraits"]) == 2
    assert len(scope["smiling_photos"]) == 2 and scope["bearded_men_in_sunglasses"] == []
    assert scope["eyes_closed"] == [] and scope["glasses"] == []  # the astronaut, eyes open, no glasses
    assert os.path.isdir(tmp_path / "out" / "faces")
