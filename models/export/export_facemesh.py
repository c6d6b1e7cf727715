"""Convert MediaPipe's 468-point face mesh (face_landmark.tflite) to ONNX with a dynamic batch.

Source: mediapipe==0.10.21 (Apache-2.0), mediapipe/modules/face_landmark/face_landmark.tflite.
Needs the export extra (tensorflow-cpu, tf2onnx). The converted graph fixes the batch at 1;
we free it (graph inputs/outputs and the Reshape targets), name the outputs
``landmarks`` (batch, 1, 1, 1404: x, y, z in 192-px crop units) and ``face_flag``
(batch, 1, 1, 1: a logit), and check parity with the TFLite interpreter.

tf2onnx's output is not byte-identical from run to run (generated names), so a re-export
changes the sha256 in the manifest; what must hold is the parity checked here.

    python models/export/export_facemesh.py path/to/face_landmark.tflite OUT.onnx
"""

from __future__ import annotations

import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper


def convert_tflite(src: str, out: str, rename: dict[str, str], input_name: str) -> None:
    """tf2onnx-convert a MediaPipe .tflite with a free batch dimension and our tensor names."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = f"{tmp}/raw.onnx"
        subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--tflite", src, "--output", raw,
                        "--opset", "17"], check=True, capture_output=True)
        model = onnx.load(raw)
    g = model.graph
    for v in list(g.input) + list(g.output):
        v.type.tensor_type.shape.dim[0].dim_param = "batch"
    reshape_targets = {n.input[1] for n in g.node if n.op_type == "Reshape"}
    for init in g.initializer:
        if init.name in reshape_targets:
            shape = numpy_helper.to_array(init).copy()
            # free the batch: -1, or 0 (copy it from the input) where another dim is -1
            shape[0] = 0 if (shape[1:] == -1).any() else -1
            init.CopyFrom(numpy_helper.from_array(shape, init.name))
    for node in g.node:
        node.output[:] = [rename.get(o, o) for o in node.output]
    for v in g.output:
        v.name = rename.get(v.name, v.name)
    old_input = g.input[0].name
    g.input[0].name = input_name
    for node in g.node:
        node.input[:] = [input_name if i == old_input else i for i in node.input]
    onnx.checker.check_model(model)
    onnx.save(model, out)


def check_parity(tflite_path: str, onnx_path: str, shape: tuple[int, ...], input_name: str, output: str,
                 size: int, what: str) -> None:
    """Max difference between the ONNX output and the TFLite output of the same ``size``."""
    import onnxruntime as ort
    import tensorflow as tf

    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    interp = tf.lite.Interpreter(model_path=tflite_path)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    ref = {d["name"]: interp.get_tensor(d["index"]) for d in interp.get_output_details()}
    got = ort.InferenceSession(onnx_path).run([output], {input_name: np.concatenate([x, x])})[0]
    want = next(v for v in ref.values() if v.size == size)
    print(f"{what} parity with TFLite (batch of 2): max abs diff "
          f"{np.abs(got - want.reshape(got[:1].shape)).max():.2e} px")


def main(argv: list[str]) -> None:
    src, out = argv
    convert_tflite(src, out, {"conv2d_21": "landmarks", "conv2d_31": "face_flag"}, "crops")
    check_parity(src, out, (1, 192, 192, 3), "crops", "landmarks", 1404, "face mesh")


if __name__ == "__main__":
    main(sys.argv[1:])
