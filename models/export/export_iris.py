"""Convert MediaPipe's iris landmark model (iris_landmark.tflite) to ONNX with a dynamic batch.

Source: mediapipe==0.10.21 (Apache-2.0), mediapipe/modules/iris_landmark/iris_landmark.tflite.
Input ``eyes``: (batch, 64, 64, 3) RGB in 0..1, a square crop around one eye as MediaPipe's
iris graph makes it (the eye corners level, 2.3 x their distance wide; a right eye mirrored).
Outputs ``contours`` (batch, 213: 71 x, y, z eyelid/brow points in 64-px units) and ``iris``
(batch, 15: the iris centre and 4 points on its edge).

    python models/export/export_iris.py path/to/iris_landmark.tflite OUT.onnx
"""

from __future__ import annotations

import sys

from export_facemesh import check_parity, convert_tflite


def main(argv: list[str]) -> None:
    src, out = argv
    convert_tflite(src, out, {"output_eyes_contours_and_brows": "contours", "output_iris": "iris"}, "eyes")
    check_parity(src, out, (1, 64, 64, 3), "eyes", "contours", 213, "iris model contours")
    check_parity(src, out, (1, 64, 64, 3), "eyes", "iris", 15, "iris model iris")


if __name__ == "__main__":
    main(sys.argv[1:])
