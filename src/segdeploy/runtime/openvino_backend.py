"""OpenVINO engine on an ONNX file or an OpenVINO IR (optional dependency: the `openvino` package)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from segdeploy.errors import SegdeployError
from segdeploy.runtime.engine_io import EngineIO
from segdeploy.runtime.machine import physical_cores

HINTS = ("LATENCY", "THROUGHPUT")


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


class OpenVinoBackend:
    """OpenVINO's CPU plugin in one of two configurations.

    LATENCY (as segdeploy runs every engine): one stream, all cores on one batch at a time.
    THROUGHPUT (as OpenVINO's own `benchmark_app` runs it): the plugin picks its streams and threads
    and `run_async` keeps its optimal number of requests in flight; `__call__` still runs one batch.

    `precision` is the inference precision hint: "f32" is the fp32 peer of ONNX Runtime; "bf16"
    is what the plugin picks by itself on a CPU with AVX-512 BF16 or AMX; None leaves the plugin's
    default. An int8 file (QDQ or NNCF IR) runs its integer kernels whatever the hint; the hint sets
    the precision of the layers around them. The file is compiled once per input shape (static
    shapes let the plugin pick its fastest kernels); the first call of a shape pays it.
    """

    fixed_batch: int | None = None
    fixed_hw: tuple[int, int] | None = None

    def __init__(self, path: str | Path, precision: str | None = "f32", hint: str = "LATENCY",
                 threads: int | None = None, name: str = "openvino") -> None:
        import openvino as ov  # optional dependency (the `bench` extra)

        path = Path(path)
        if not path.is_file():
            raise SegdeployError.at(path, "model file not found")
        if hint not in HINTS:
            raise SegdeployError.at("hint", f"unknown OpenVINO performance hint {hint!r}; choose one of {HINTS}")
        self.name = name
        self.hint = hint
        self.core = ov.Core()
        try:
            self.model = self.core.read_model(str(path))
        except Exception as err:  # OpenVINO raises RuntimeError subclasses with multi-line text
            raise SegdeployError.at(path, f"OpenVINO cannot read it: {str(err).strip().splitlines()[0][:200]}") from err
        self.config: dict[str, object] = {"PERFORMANCE_HINT": hint}
        if precision is not None:
            self.config["INFERENCE_PRECISION_HINT"] = precision
        if hint == "LATENCY":
            self.config.update({"INFERENCE_NUM_THREADS": threads or physical_cores(), "NUM_STREAMS": 1})
        # A folded file's canvas (ONNX metadata) is not read here: such a file is refused by the runner.
        self.io = EngineIO(pixels=self.model.inputs[0].get_element_type() == ov.Type.u8,
                           class_map=self.model.outputs[0].get_element_type() in (ov.Type.i32, ov.Type.i64))
        shape = self.model.inputs[0].get_partial_shape()
        if shape[0].is_static:
            self.fixed_batch = shape[0].get_length()
        h, w = (shape[1], shape[2]) if self.io.pixels else (shape[2], shape[3])
        if h.is_static and w.is_static:
            self.fixed_hw = (h.get_length(), w.get_length())
        self._compiled: dict[tuple[int, ...], object] = {}
        self._requests: dict[tuple[int, ...], object] = {}

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(batch, dtype=self._input_dtype)
        request = self._requests.get(x.shape)
        if request is None:
            request = self._requests[x.shape] = self._compile(x.shape).create_infer_request()
        request.infer({0: x})
        return request.get_output_tensor(0).data.copy()  # the request reuses its output buffer

    @property
    def _input_dtype(self) -> type:
        return np.uint8 if self.io.pixels else np.float32

    def run_async(self, batch: np.ndarray, rounds: int) -> tuple[float, list[float]]:
        """Run `batch` `rounds` times per request, with the plugin's optimal number of requests in flight.

        Returns the wall time from the first start to the last completion and each run's latency (from
        its start to when it was collected, round-robin), in seconds: benchmark_app's throughput is
        runs x batch / that wall time. Plain infer requests, not AsyncInferQueue: a queue with a Python
        callback can deadlock on the GIL when it is destroyed (openvinotoolkit/openvino#37073).
        """
        x = np.ascontiguousarray(batch, dtype=self._input_dtype)
        compiled = self._compile(x.shape)
        requests = [compiled.create_infer_request()
                    for _ in range(int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))]
        started = [0.0] * len(requests)
        latencies: list[float] = []
        start = time.perf_counter()
        for round_ in range(rounds + 1):
            for i, request in enumerate(requests):
                if round_:
                    request.wait()
                    latencies.append(time.perf_counter() - started[i])
                if round_ < rounds:
                    started[i] = time.perf_counter()
                    request.start_async({0: x})
        return time.perf_counter() - start, latencies

    def streams(self, shape: tuple[int, ...]) -> tuple[int, int]:
        """(streams, optimal infer requests) the plugin chose for `shape`."""
        compiled = self._compile(tuple(shape))
        return (int(compiled.get_property("NUM_STREAMS")),
                int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))

    def _compile(self, shape: tuple[int, ...]):
        compiled = self._compiled.get(shape)
        if compiled is None:
            model = self.model.clone()
            model.reshape({model.inputs[0]: list(shape)})
            compiled = self._compiled[shape] = self.core.compile_model(model, "CPU", self.config)
        return compiled
