"""This machine's matmul peaks (fp32, and the bf16 and int8 ones reduced-precision engines are measured
against), measured in the same run as the engines they are compared with.

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
    # the reduced-precision peaks an int8 or bf16 engine is measured against (NaN: not measured here)
    bf16_gflops: float = float("nan")  # torch (oneDNN) bf16 matmul, fp32 accumulation
    int8_gops: float = float("nan")  # ONNX Runtime MatMulInteger u8 x s8 -> s32 (MLAS, VNNI where present)

    def of(self, precision: str) -> float:
        """The peak a `precision` engine's rate is a share of."""
        return {"bf16": self.bf16_gflops, "int8": self.int8_gops}.get(precision, self.gflops)

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
    bf16 = 2.0 * n ** 3 / _best_seconds(_torch_mm(a, b, threads, torch.bfloat16), runs) / 1e9
    int8 = 2.0 * n ** 3 / _best_seconds(_ort_int8_mm(a, b, threads), runs) / 1e9
    return MatmulPeak(rates[best], best, rates, n, threads, bf16, int8)


def _best_seconds(fn, runs: int) -> float:
    fn()  # first call: thread pools and packing buffers
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _torch_mm(a: np.ndarray, b: np.ndarray, threads: int, dtype: torch.dtype = torch.float32):
    ta, tb = torch.from_numpy(a).to(dtype), torch.from_numpy(b).to(dtype)

    def run() -> None:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            torch.mm(ta, tb)
        finally:
            torch.set_num_threads(previous)

    return run


def _ort_mm(a: np.ndarray, b: np.ndarray, threads: int):
    return _ort_session("MatMul", a, b, TensorProto.FLOAT, TensorProto.FLOAT, threads)


def _ort_int8_mm(a: np.ndarray, b: np.ndarray, threads: int):
    """u8 activations x s8 constant weights, as the int8 QDQ files' integer kernels multiply."""
    a8 = np.clip(a * 32 + 128, 0, 255).astype(np.uint8)
    b8 = np.clip(b * 32, -127, 127).astype(np.int8)
    return _ort_session("MatMulInteger", a8, b8, TensorProto.UINT8, TensorProto.INT32, threads)


def _ort_session(op: str, a: np.ndarray, b: np.ndarray, a_type: int, c_type: int, threads: int):
    n = a.shape[0]
    # B is a constant, as convolution weights are: MLAS packs it once, at session creation, as it
    # does for a network's weights (a B fed per run is repacked every time, ~20 % slower here).
    graph = helper.make_graph([helper.make_node(op, ["a", "b"], ["c"])], "gemm",
                              [helper.make_tensor_value_info("a", a_type, [n, n])],
                              [helper.make_tensor_value_info("c", c_type, [n, n])],
                              [numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 10  # onnx may stamp a newer IR than the installed runtime reads; opset 18 needs 8+
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return lambda: session.run(None, {"a": a})
