"""OpenVINO engine on the same ONNX file (optional dependency: the `openvino` package)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segdeploy.errors import SegdeployError
from segdeploy.runtime.engine_io import EngineIO
from segdeploy.runtime.machine import physical_cores


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


class OpenVinoBackend:
    """OpenVINO's CPU plugin with a latency hint and one stream: one batch at a time, all cores on it.

    `precision` is the inference precision hint: "f32" is the fp32 peer of ONNX Runtime; OpenVINO's
    own default on a CPU with AVX-512 BF16 is bf16, which would compare a different arithmetic. An
    int8 (QDQ) file runs its integer kernels whatever the hint. The file is compiled once per input
    shape (static shapes let the plugin pick its fastest kernels); the first call of a shape pays it.
    """

    fixed_batch: int | None = None
    fixed_hw: tuple[int, int] | None = None

    def __init__(self, path: str | Path, precision: str = "f32", threads: int | None = None,
                 name: str = "openvino") -> None:
        import openvino as ov  # optional dependency (the `bench` extra)

        path = Path(path)
        if not path.is_file():
            raise SegdeployError.at(path, "ONNX file not found")
        self.name = name
        self.core = ov.Core()
        try:
            self.model = self.core.read_model(str(path))
        except Exception as err:  # OpenVINO raises RuntimeError subclasses with multi-line text
            raise SegdeployError.at(path, f"OpenVINO cannot read it: {str(err).strip().splitlines()[0][:200]}") from err
        self.config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision,
                       "INFERENCE_NUM_THREADS": threads or physical_cores(), "NUM_STREAMS": 1}
        # A folded file's canvas (ONNX metadata) is not read here: such a file is refused by the runner.
        self.io = EngineIO(pixels=self.model.inputs[0].get_element_type() == ov.Type.u8,
                           class_map=self.model.outputs[0].get_element_type() in (ov.Type.i32, ov.Type.i64))
        shape = self.model.inputs[0].get_partial_shape()
        if shape[0].is_static:
            self.fixed_batch = shape[0].get_length()
        h, w = (shape[1], shape[2]) if self.io.pixels else (shape[2], shape[3])
        if h.is_static and w.is_static:
            self.fixed_hw = (h.get_length(), w.get_length())
        self._requests: dict[tuple[int, ...], object] = {}

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(batch, dtype=np.uint8 if self.io.pixels else np.float32)
        request = self._requests.get(x.shape) or self._compile(x.shape)
        request.infer({0: x})
        return request.get_output_tensor(0).data.copy()  # the request reuses its output buffer

    def _compile(self, shape: tuple[int, ...]):
        model = self.model.clone()
        model.reshape({model.inputs[0]: list(shape)})
        request = self.core.compile_model(model, "CPU", self.config).create_infer_request()
        self._requests[shape] = request
        return request
