"""Export dlib's 5-point shape predictor (an ensemble of regression trees) to a numpy .npz.

Source: face-recognition-models==0.3.0, face_recognition_models/models/
shape_predictor_5_face_landmarks.dat (CC0). The trees are stored as dense arrays so that
``facelake.models.shape5`` can walk them with vectorised numpy.

    python models/export/export_dlib_shape.py path/to/shape_predictor_5_face_landmarks.dat OUT.npz
"""

from __future__ import annotations

import sys

import numpy as np

from dlib_format import DlibStream


def read_shape_predictor(data: bytes) -> dict[str, np.ndarray]:
    s = DlibStream(data)
    if s.read_int() != 1:
        raise ValueError("unexpected shape_predictor version")
    initial = s.read_float_matrix().reshape(-1, 2)

    def read_split():
        return s.read_int(), s.read_int(), s.read_float()

    def read_tree():
        splits = s.read_vector(read_split)
        leaves = s.read_vector(lambda: s.read_float_matrix().reshape(-1))
        return splits, leaves

    forests = s.read_vector(lambda: s.read_vector(read_tree))
    anchors = s.read_vector(lambda: s.read_vector(s.read_int))
    deltas = s.read_vector(lambda: s.read_vector(lambda: (s.read_float(), s.read_float())))
    if s.pos != len(data):
        raise ValueError(f"{len(data) - s.pos} trailing bytes")

    split_idx = np.array([[[(a, b) for a, b, _ in tree[0]] for tree in f] for f in forests], np.int32)
    split_thresh = np.array([[[t for _, _, t in tree[0]] for tree in f] for f in forests], np.float32)
    leaf_values = np.array([[tree[1] for tree in f] for f in forests], np.float32)
    return {
        "initial_shape": initial.astype(np.float32),  # (parts, 2) in the unit box
        "split_idx": split_idx,  # (cascades, trees, splits, 2) feature-pixel indices
        "split_thresh": split_thresh,  # (cascades, trees, splits)
        "leaf_values": leaf_values.reshape(*leaf_values.shape[:3], -1, 2),  # (c, t, leaves, parts, 2)
        "anchor_idx": np.array(anchors, np.int32),  # (cascades, pixels)
        "deltas": np.array(deltas, np.float32),  # (cascades, pixels, 2)
    }


def main(argv: list[str]) -> None:
    src, out = argv
    arrays = read_shape_predictor(open(src, "rb").read())
    np.savez(out, **arrays)
    print({k: v.shape for k, v in arrays.items()})


if __name__ == "__main__":
    main(sys.argv[1:])
