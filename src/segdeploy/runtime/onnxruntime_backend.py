"""ONNX Runtime engine (CPU, and CUDA / TensorRT providers where the installed build has them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segdeploy.errors import SegdeployError
from segdeploy.runtime.backend import physical_cores


class OnnxRuntimeBackend:
    """One InferenceSession with all graph optimisations; input `input`, first output = logits."""

    name = "onnxruntime"

    def __init__(self, path: str | Path, providers: list[str] | None = None, threads: int | None = None) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise SegdeployError.at(path, "ONNX file not found")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or physical_cores()
        options.log_severity_level = 3
        available = ort.get_available_providers()
        chosen = [p for p in (providers or ["CPUExecutionProvider"]) if p in available] or ["CPUExecutionProvider"]
        try:
            self.session = ort.InferenceSession(str(path), options, providers=chosen)
        except Exception as err:  # ORT raises its own exception types for a bad file
            raise SegdeployError.at(path, f"ONNX Runtime cannot load it: {str(err).splitlines()[0][:200]}") from err
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.output_name = self.session.get_outputs()[0].name
        batch, _, height, width = inp.shape
        self.fixed_batch = batch if isinstance(batch, int) else None
        self.fixed_hw = (height, width) if isinstance(height, int) and isinstance(width, int) else None
        self.providers = self.session.get_providers()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        feed = {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)}
        return self.session.run([self.output_name], feed)[0]
