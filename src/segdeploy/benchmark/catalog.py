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
    "torch-fp16": (None, "PyTorch on CUDA, fp16 autocast"),
    "onnxruntime-trt-fp16": ("fp32", "ONNX Runtime's TensorRT provider, fp16 engines of the fp32 file"),
    "onnxruntime-trt-int8": ("trt_table", "ONNX Runtime's TensorRT provider, int8 engines of the fp32 file "
                                          "(fp16 where int8 has no kernel), calibrated on the images of the "
                                          "int8 QDQ file"),
}
# Engines that run on a CUDA device only (`--device cuda[:N]`); elsewhere their rows say so.
CUDA_ENGINES = frozenset({"torch-fp16", "onnxruntime-trt-fp16", "onnxruntime-trt-int8"})
# What `segdeploy infer` runs: a checkpoint (torch*) or one given ONNX file (onnxruntime*, openvino).
# "onnxruntime" uses the CPU or the CUDA provider after --device.
INFER_ENGINES = ("torch", "torch-fp16", "onnxruntime", "onnxruntime-trt-fp16", "onnxruntime-trt-int8", "openvino")
# The accuracy ladder: each rung is the previous file with one more transform.
LADDER = ("torch", "onnxruntime", "onnxruntime-slim", "onnxruntime-int8")
