"""Which operators an ONNX Runtime run spends its time in (ORT's own profiler), to explain a missed target."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnxruntime as ort

from segdeploy.runtime.machine import physical_cores


def ort_op_profile(path: str | Path, x: np.ndarray, runs: int = 1, top: int = 6) -> list[tuple[str, float, float]]:
    """(op type, ms per run, share of kernel time) of the `top` op types over `runs` after a warm-up."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = physical_cores()
    options.enable_profiling = True
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    session.run(None, {name: x})  # warm-up: its kernels are in the profile too, subtracted below by run count
    for _ in range(runs):
        session.run(None, {name: x})
    trace = Path(session.end_profiling())
    try:
        events = json.loads(trace.read_text())
    finally:
        trace.unlink(missing_ok=True)
    per_op: dict[str, float] = defaultdict(float)
    for event in events:
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            per_op[event["args"]["op_name"]] += event["dur"] / 1000.0  # µs -> ms
    total = sum(per_op.values()) or 1.0
    ranked = sorted(per_op.items(), key=lambda kv: -kv[1])[:top]
    return [(op, ms / (runs + 1), ms / total) for op, ms in ranked]


def openvino_op_profile(path: str | Path, x: np.ndarray, precision: str | None = "f32", top: int = 6
                        ) -> list[tuple[str, float, float, str]]:
    """(layer type, ms, share, the kernel it ran: OpenVINO's exec type) of the `top` layer types of one
    latency-hint run after a warm-up, from OpenVINO's own performance counters."""
    import openvino as ov  # optional dependency (the `bench` extra)

    core = ov.Core()
    model = core.read_model(str(path))
    model.reshape({model.inputs[0]: list(x.shape)})
    config = {"PERF_COUNT": True, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1,
              "INFERENCE_NUM_THREADS": physical_cores()}
    if precision is not None:
        config["INFERENCE_PRECISION_HINT"] = precision
    request = core.compile_model(model, "CPU", config).create_infer_request()
    request.infer({0: x})  # warm-up: the counters below are the second run's
    request.infer({0: x})
    per_type: dict[str, float] = defaultdict(float)
    kernels: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for info in request.profiling_info:
        ms = info.real_time.total_seconds() * 1000.0
        per_type[info.node_type] += ms
        kernels[info.node_type][info.exec_type] += ms
    total = sum(per_type.values()) or 1.0
    ranked = sorted(per_type.items(), key=lambda kv: -kv[1])[:top]
    return [(op, ms, ms / total, max(kernels[op], key=kernels[op].get)) for op, ms in ranked]
