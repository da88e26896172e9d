"""This machine's fp32 matmul peak, measured in the same run as the engines it is compared with.

A roofline number from the datasheet would flatter nobody: clocks, turbo and neighbours on a shared
host change what a core delivers minute to minute. So the peak is the best square sgemm rate of the
libraries at hand (torch's BLAS, numpy's BLAS, ONNX Runtime's MLAS), each on the same thread count
the engines get; the fastest is the reference "% of peak" divides by.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper

from segdeploy.runtime.machine import physical_cores

SGEMM_N = 2048  # large enough to be compute bound, small enough to take ~0.1 s per product


@dataclass(frozen=True)
class MatmulPeak:
    gflops: float  # the best rate of `per_library`
    library: str
    per_library: dict[str, float]  # library -> best GFLOP/s of its runs
    n: int
    threads: int

    def to_json(self) -> dict:
        return asdict(self)


def measure_matmul_peak(n: int = SGEMM_N, runs: int = 5, threads: int | None = None) -> MatmulPeak:
    """Best-of-`runs` GFLOP/s (2·n³ FLOPs per product) of an n×n float32 matmul, per library."""
    threads = threads or physical_cores()
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    rates = {}
    for library, matmul in (("torch", _torch_mm(a, b, threads)), ("numpy", lambda: a @ b),
                            ("onnxruntime", _ort_mm(a, b, threads))):
        rates[library] = 2.0 * n ** 3 / _best_seconds(matmul, runs) / 1e9
    best = max(rates, key=rates.get)
    return MatmulPeak(rates[best], best, rates, n, threads)


def _best_seconds(fn, runs: int) -> float:
    fn()  # first call: thread pools and packing buffers
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _torch_mm(a: np.ndarray, b: np.ndarray, threads: int):
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)

    def run() -> None:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            torch.mm(ta, tb)
        finally:
            torch.set_num_threads(previous)

    return run


def _ort_mm(a: np.ndarray, b: np.ndarray, threads: int):
    n = a.shape[0]
    # B is a constant, as convolution weights are: MLAS packs it once, at session creation, as it
    # does for a network's weights (a B fed per run is repacked every time, ~20 % slower here).
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "sgemm",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])],
                              [numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 10  # onnx may stamp a newer IR than the installed runtime reads; opset 18 needs 8+
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return lambda: session.run(None, {"a": a})
