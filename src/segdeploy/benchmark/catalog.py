"""The engine names `segdeploy bench` knows: what each runs, at which precision, and whose it is.

Kept free of heavy imports: the CLI reads it while parsing arguments.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineKind:
    runtime: str  # "torch", "onnxruntime" or "openvino"
    file: str | None  # the EngineFiles field it runs (None: the PyTorch model)
    precision: str  # "fp32", "bf16", "fp16" or "int8"
    description: str
    # A peer is what a skilled user gets from a library's own tools at its best; the others are
    # segdeploy's own deployments, whose best is compared with the best peer.
    peer: bool
    # LATENCY: one request at a time on every core; THROUGHPUT: many in flight (OpenVINO's performance
    # hint and its streams; for ONNX Runtime, segdeploy's streams: one single-thread session per core)
    hint: str = "LATENCY"


ENGINES: dict[str, EngineKind] = {
    "torch": EngineKind("torch", None, "fp32", "PyTorch eager fp32", True),
    "torch-opt": EngineKind("torch", None, "fp32", "PyTorch fp32, fastest of eager / channels_last, then compiled",
                            True),
    "torch-bf16": EngineKind("torch", None, "bf16", "PyTorch bf16 autocast, fastest of plain / channels_last, then "
                             "compiled", True),
    "torch-fp16": EngineKind("torch", None, "fp16", "PyTorch fp16 autocast (CUDA only)", True),
    "onnxruntime": EngineKind("onnxruntime", "fp32", "fp32", "ONNX Runtime, exported fp32 file", True),
    "onnxruntime-slim": EngineKind("onnxruntime", "slim", "fp32", "ONNX Runtime, onnxslim-simplified fp32 file",
                                   False),
    "onnxruntime-fused": EngineKind("onnxruntime", "fused", "fp32", "ONNX Runtime, exported at opset 23 "
                                    "(attention as one Attention op), simplified", False),
    "onnxruntime-int8": EngineKind("onnxruntime", "int8", "int8", "ONNX Runtime, static int8 QDQ file "
                                   "(per-channel weights, --calibration method)", False),
    "onnxruntime-int8-aware": EngineKind("onnxruntime", "int8_aware", "int8", "ONNX Runtime, accuracy-aware int8: "
                                         "most sensitive nodes kept in float within --max-drop", False),
    "onnxruntime-streams": EngineKind("onnxruntime", "slim", "fp32", "ONNX Runtime, simplified fp32 file, one "
                                      "single-thread session per core running at once", False, "THROUGHPUT"),
    "onnxruntime-int8-streams": EngineKind("onnxruntime", "int8", "int8", "ONNX Runtime, static int8 QDQ file, one "
                                           "single-thread session per core running at once", False, "THROUGHPUT"),
    "openvino": EngineKind("openvino", "fp32", "fp32", "OpenVINO CPU, f32 precision hint, latency hint", True),
    "openvino-bf16": EngineKind("openvino", "fp32", "bf16", "OpenVINO CPU, bf16 precision hint, latency hint", True),
    "openvino-int8": EngineKind("openvino", "ov_int8", "int8", "OpenVINO CPU, NNCF int8 IR, latency hint", True),
    "openvino-throughput": EngineKind("openvino", "fp32", "fp32", "OpenVINO CPU, f32, THROUGHPUT hint: its "
                                      "streams, async requests", True, "THROUGHPUT"),
    "openvino-bf16-throughput": EngineKind("openvino", "fp32", "bf16", "OpenVINO CPU, bf16, THROUGHPUT hint", True,
                                           "THROUGHPUT"),
    "openvino-int8-throughput": EngineKind("openvino", "ov_int8", "int8", "OpenVINO CPU, NNCF int8 IR, THROUGHPUT "
                                           "hint", True, "THROUGHPUT"),
    "onnxruntime-trt-fp16": EngineKind("onnxruntime", "fp32", "fp16", "ONNX Runtime's TensorRT provider, fp16 "
                                       "engines of the fp32 file", True),
    "onnxruntime-trt-int8": EngineKind("onnxruntime", "trt_table", "int8", "ONNX Runtime's TensorRT provider, int8 "
                                       "engines of the fp32 file (fp16 where int8 has no kernel), calibrated on the "
                                       "images of the int8 QDQ file", True),
}
# Engines that run on a CUDA device only (`--device cuda[:N]`); elsewhere their rows say so.
CUDA_ENGINES = frozenset({"torch-fp16", "onnxruntime-trt-fp16", "onnxruntime-trt-int8"})
# What `segdeploy infer` runs: a checkpoint (torch*) or one given model file (onnxruntime*, openvino*),
# one request at a time, so every engine but the THROUGHPUT-hint ones (their speed comes from many
# requests in flight). The ONNX Runtime names differ only in the file given; "onnxruntime" uses the CPU
# or the CUDA provider after --device.
INFER_ENGINES = tuple(name for name, kind in ENGINES.items() if kind.hint == "LATENCY")
# The torch options `infer --torch-options` takes (the tuned ones torch-opt / torch-bf16 pick in bench).
TORCH_OPTIONS = ("channels_last", "compile")
# The accuracy ladder: each rung is the previous file with one more transform.
LADDER = ("torch", "onnxruntime", "onnxruntime-slim", "onnxruntime-int8")
