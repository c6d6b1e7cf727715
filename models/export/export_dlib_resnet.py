"""Export dlib's face recognition ResNet (dlib_face_recognition_resnet_model_v1.dat) to ONNX.

Source: face-recognition-models==0.3.0 (the weights are dlib-models' public-domain release).
The file is read with our own reader of dlib's serialization; the network is the
``anet_type`` of dlib's dnn_face_recognition_ex.cpp (a 29-layer ResNet, 150x150 RGB in,
128-d descriptor out), rebuilt with onnx.helper.

The ONNX input is ``chips``: float32 NCHW, RGB in 0..255; the graph applies dlib's input
normalisation ((x - channel mean) / 256) itself, so callers feed raw aligned chips.

    python models/export/export_dlib_resnet.py path/to/dlib_face_recognition_resnet_model_v1.dat OUT.onnx
"""

from __future__ import annotations

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from dlib_format import DlibStream

MARKERS = ["input_rgb_image_sized", "con_4", "con_5", "con_6", "affine_", "affine_2", "relu_",
           "relu_2", "max_pool_2", "avg_pool_2", "add_prev_", "fc_2", "fc_3", "loss_metric_2"]


def read_layers(data: bytes) -> list[tuple[str, dict]]:
    """Every layer's details, in stream order (input first, loss last)."""
    found = []
    for name in MARKERS:
        raw = name.encode()
        pattern = bytes([1, len(raw)]) + raw
        start = 0
        while (hit := data.find(pattern, start)) >= 0:
            found.append((hit, name))
            start = hit + 1
    found.sort()
    layers = []
    for offset, name in found:
        s = DlibStream(data)
        s.pos = offset
        s.read_string()
        layers.append((name.rstrip("_0123456789"), _read_details(s, name)))
    return layers


def _read_details(s: DlibStream, name: str) -> dict:
    if name.startswith("con_"):
        params = s.read_tensor().reshape(-1)
        _, nr, nc = s.read_int(), s.read_int(), s.read_int()  # the filter count (fshape below holds it too)
        sy, sx, py, px = s.read_int(), s.read_int(), s.read_int(), s.read_int()
        fshape, bshape = s.read_alias_tensor(), s.read_alias_tensor()
        size = int(np.prod(fshape))
        return {"w": params[:size].reshape(fshape), "b": params[size:size + int(np.prod(bshape))],
                "stride": (sy, sx), "pad": (py, px), "kernel": (nr, nc)}
    if name.startswith("affine"):
        params = s.read_tensor().reshape(-1)
        gshape = s.read_alias_tensor()
        s.read_alias_tensor()
        k = int(np.prod(gshape))
        return {"gamma": params[:k], "beta": params[k:2 * k]}
    if name.endswith("pool_2"):
        nr, nc, sy, sx, py, px = (s.read_int() for _ in range(6))
        return {"kernel": (nr, nc), "stride": (sy, sx), "pad": (py, px)}
    if name.startswith("fc_"):
        n_out, n_in = s.read_int(), s.read_int()
        params = s.read_tensor().reshape(-1)
        return {"w": params[:n_in * n_out].reshape(n_in, n_out)}
    if name == "input_rgb_image_sized":
        return {"mean": [s.read_float() for _ in range(3)], "size": (s.read_int(), s.read_int())}
    return {}


class Graph:
    def __init__(self):
        self.nodes, self.inits, self.count = [], [], 0

    def name(self, prefix):
        self.count += 1
        return f"{prefix}{self.count}"

    def const(self, array, prefix="c"):
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(array, np.float32), name))
        return name

    def op(self, op_type, inputs, **attrs):
        out = self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out


def build(layers: list[tuple[str, dict]]) -> onnx.ModelProto:
    """Rebuild anet_type from the layer records, consuming them in forward order."""
    it = iter(layers)

    def take(kind):
        got, details = next(it)
        if got != kind:
            raise ValueError(f"expected {kind}, found {got}")
        return details

    g = Graph()
    size = [150, 150]  # spatial size as the graph goes, to pad add_prev's operands like dlib

    take("loss_metric")  # the loss layer is written before its subnetwork
    inp = take("input_rgb_image_sized")
    mean = np.array(inp["mean"], np.float32).reshape(1, 3, 1, 1)
    x = g.op("Mul", [g.op("Sub", ["chips", g.const(mean)]), g.const(np.float32(1 / 256))])

    def conv(x):
        d = take("con")
        pads = [d["pad"][0], d["pad"][1], d["pad"][0], d["pad"][1]]
        y = g.op("Conv", [x, g.const(d["w"]), g.const(d["b"])], kernel_shape=list(d["kernel"]),
                 strides=list(d["stride"]), pads=pads)
        return y, d["w"].shape[0], d

    def affine(x):
        d = take("affine")
        return g.op("Add", [g.op("Mul", [x, g.const(d["gamma"].reshape(1, -1, 1, 1))]),
                            g.const(d["beta"].reshape(1, -1, 1, 1))])

    def out_size(n, k, s, p):
        return 1 + (n + 2 * p - k) // s

    def block(x, hw):
        y, _, d1 = conv(x)
        hw = [out_size(hw[i], d1["kernel"][i], d1["stride"][i], d1["pad"][i]) for i in range(2)]
        y = affine(y)
        take("relu")
        y = g.op("Relu", [y])
        y, channels, d2 = conv(y)
        hw = [out_size(hw[i], d2["kernel"][i], d2["stride"][i], d2["pad"][i]) for i in range(2)]
        return affine(y), channels, hw

    def pad_to(x, c_have, hw_have, c_want, hw_want):
        extra = [c_want - c_have, hw_want[0] - hw_have[0], hw_want[1] - hw_have[1]]
        if not any(extra):
            return x
        pads = np.array([0, 0, 0, 0, 0] + extra, np.int64)
        name = g.name("pads")
        g.inits.append(numpy_helper.from_array(pads, name))
        return g.op("Pad", [x, name])  # dlib's add_prev: missing elements count as zero

    # stem: con 7x7/2, affine, relu, max_pool 3x3/2
    x, channels, d = conv(x)
    size = [out_size(size[i], d["kernel"][i], d["stride"][i], d["pad"][i]) for i in range(2)]
    x = g.op("Relu", [affine(x)])
    take("relu")
    p = take("max_pool")
    x = g.op("MaxPool", [x], kernel_shape=list(p["kernel"]), strides=list(p["stride"]),
             pads=[p["pad"][0], p["pad"][1]] * 2)
    size = [out_size(size[i], p["kernel"][i], p["stride"][i], p["pad"][i]) for i in range(2)]

    # residual levels, innermost first: (filters, [down?, ...]) as in anet_type
    levels = [(32, [False] * 3), (64, [True] + [False] * 3), (128, [True, False, False]),
              (256, [True, False, False]), (256, [True])]
    for _, downs in levels:
        for down in downs:
            y, c_y, hw_y = block(x, size)
            if down:
                p = take("avg_pool")
                skip = g.op("AveragePool", [x], kernel_shape=list(p["kernel"]),
                            strides=list(p["stride"]), pads=[p["pad"][0], p["pad"][1]] * 2)
                hw_s = [out_size(size[i], p["kernel"][i], p["stride"][i], p["pad"][i]) for i in range(2)]
            else:
                skip, hw_s = x, size
            take("add_prev")
            c_out = max(c_y, channels)
            hw_out = [max(hw_y[i], hw_s[i]) for i in range(2)]
            x = g.op("Add", [pad_to(skip, channels, hw_s, c_out, hw_out),
                             pad_to(y, c_y, hw_y, c_out, hw_out)])
            x = g.op("Relu", [x])
            take("relu")
            channels, size = c_out, hw_out

    take("avg_pool")  # avg_pool_everything
    x = g.op("GlobalAveragePool", [x])
    x = g.op("Flatten", [x])
    fc = take("fc")
    x = g.op("MatMul", [x, g.const(fc["w"])])
    if next(it, None) is not None:
        raise ValueError("layers left over after the fc layer")
    g.nodes[-1].output[0] = "descriptors"

    graph = helper.make_graph(
        g.nodes, "dlib_face_recognition_resnet_v1",
        [helper.make_tensor_value_info("chips", TensorProto.FLOAT, ["batch", 3, 150, 150])],
        [helper.make_tensor_value_info("descriptors", TensorProto.FLOAT, ["batch", 128])],
        g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="facelake export_dlib_resnet")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main(argv: list[str]) -> None:
    src, out = argv
    layers = read_layers(open(src, "rb").read())
    print(len(layers), "layers:", " ".join(k for k, _ in layers[:12]), "...")
    onnx.save(build(layers), out)


if __name__ == "__main__":
    main(sys.argv[1:])
