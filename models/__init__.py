"""Face models on onnxruntime: decoding, detection, mesh, alignment, descriptors, attributes; neutral values only."""
