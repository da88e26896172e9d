"""The engine names `segdeploy bench` knows: the file each runs and what it is.

Kept free of heavy imports: the CLI reads it while parsing arguments.
"""

from __future__ import annotations

# name -> (the file it runs, what it is); "torch" is the baseline of every ratio and of the accuracy gate.
ENGINES: dict[str, tuple[str | None, str]] = {
    "torch": (None, "PyTorch eager fp32"),
    "torch-opt": (None, "PyTorch with the fastest of channels_last / bf16 autocast measured here"),
    "onnxruntime": ("fp32", "ONNX Runtime, exported fp32 file, tuned session"),
    "onnxruntime-slim": ("slim", "ONNX Runtime, onnxslim-simplified fp32 file"),
    "onnxruntime-int8": ("int8", "ONNX Runtime, static int8 QDQ file (per-channel weights)"),
    "openvino": ("fp32", "OpenVINO CPU, fp32 precision hint, same fp32 file"),
    "openvino-int8": ("int8", "OpenVINO CPU, same int8 QDQ file"),
}
# The accuracy ladder: each rung is the previous file with one more transform.
LADDER = ("torch", "onnxruntime", "onnxruntime-slim", "onnxruntime-int8")
