"""The command line: JSON out, drawings, one clear line and a non-zero exit for bad input."""

import json
import subprocess
import sys

from conftest import SAMPLES


def run(*args):
    return subprocess.run([sys.executable, "-m", "facelake.cli", *args], capture_output=True, text=True, timeout=300)


def test_detect_faces_prints_the_response_and_draws(tmp_path):
    out = tmp_path / "drawn.png"
    r = run("detect-faces", str(SAMPLES / "astronaut.jpg"), "--draw", str(out))
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["FaceDetails"]) == 1
    from PIL import Image

    assert Image.open(out).size == (512, 512)


def test_compare_faces(tmp_path):
    r = run("compare-faces", str(SAMPLES / "astronaut.jpg"), str(SAMPLES / "astronaut-exif-rotated.jpg"),
            "--draw", str(tmp_path / "c.png"))
    assert r.returncode == 0, r.stderr
    resp = json.loads(r.stdout)
    assert resp["FaceMatches"][0]["Similarity"] > 99 and resp["TargetImageOrientationCorrection"] == "ROTATE_90"


def test_bad_files_and_arguments_fail_with_one_line(tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    cases = [
        (("detect-faces", str(text)), 1, "InvalidImageFormatException"),
        (("detect-faces", str(tmp_path / "missing.jpg")), 1, "not found"),
        (("detect-faces", str(tmp_path)), 1, "directory"),
        (("compare-faces", str(SAMPLES / "cat.jpg"), str(SAMPLES / "astronaut.jpg")), 1, "no face"),
        (("detect-faces", str(SAMPLES / "astronaut.jpg"), "--attributes", "NOPE"), 1, "Value 'NOPE' at 'attributes.1.member'"),
        (("frobnicate",), 2, "invalid choice"),
        # a misspelt option is refused, not handed to Beam to drop (local runs)
        (("detect", str(SAMPLES), "--output", str(tmp_path / "o"), "--treshold", "3"), 1, "unrecognised argument --treshold"),
        (("detect", str(SAMPLES), "--output", str(tmp_path / "o"), "--runer=FnApiRunner"), 1, "close: --runner"),
        (("group", "--collection", "lib", "--store", str(tmp_path / "s"), "--threshhold", "90"), 1, "unrecognised argument"),
    ]
    for args, code, message in cases:
        r = run(*args)
        assert r.returncode == code, (args, r.stderr)
        assert message in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
        assert r.stdout == ""
