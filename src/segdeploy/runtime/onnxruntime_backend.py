"""ONNX Runtime engine (CPU, and CUDA / TensorRT providers where the installed build has them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from segdeploy.errors import SegdeployError
from segdeploy.runtime.engine_io import io_from_types
from segdeploy.runtime.machine import physical_cores


class OnnxRuntimeBackend:
    """One InferenceSession tuned for throughput; input `input`, first output = logits.

    All graph optimisations, one intra-op thread per physical core, the memory-pattern planner and
    the CPU arena (buffers are reused between runs of the same shape). With `optimized_cache`, the
    optimised graph is written there once and later sessions load it without optimising again; the
    file holds layout transforms for this CPU's vector width, so it is only valid on this machine.

    No IO binding: binding a preallocated output only pays when the caller may keep the buffer,
    and a Backend returns an array the caller owns; with the copy that needs, binding measured
    0.74x plain `run` on Fast-SCNN at 1024x2048 and 1.05x (noise) at 256x512 on this machine.
    """

    def __init__(self, path: str | Path, providers: list[str] | None = None, threads: int | None = None,
                 optimized_cache: str | Path | None = None, name: str = "onnxruntime") -> None:
        path = Path(path)
        if not path.is_file():
            raise SegdeployError.at(path, "ONNX file not found")
        self.name, self.path = name, path
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or physical_cores()
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.enable_mem_pattern = True
        options.enable_cpu_mem_arena = True
        options.log_severity_level = 3
        source = path
        if optimized_cache is not None and Path(optimized_cache).is_file():
            source = Path(optimized_cache)  # already optimised: only the cheap basic passes again
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        else:
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            if optimized_cache is not None:
                options.optimized_model_filepath = str(optimized_cache)
        available = ort.get_available_providers()
        chosen = ([p for p in (providers or ["CPUExecutionProvider"]) if _provider_name(p) in available]
                  or ["CPUExecutionProvider"])
        try:
            self.session = ort.InferenceSession(str(source), options, providers=chosen)
        except Exception as err:  # ORT raises its own exception types for a bad file
            raise SegdeployError.at(source, f"ONNX Runtime cannot load it: {str(err).splitlines()[0][:200]}") from err
        wanted = _provider_name(chosen[0])
        if wanted not in self.session.get_providers():  # ORT falls back to the CPU with a mere warning
            raise SegdeployError.at(path, f"ONNX Runtime could not start {wanted} (it fell back to "
                                          f"{', '.join(self.session.get_providers())}): check the CUDA/cuDNN "
                                          "libraries, or use --device cpu")
        inp, out = _image_input(self.session, path), self.session.get_outputs()[0]
        self.input_name = inp.name
        self.output_name = out.name
        self.io = io_from_types(inp.type, out.type, self.session.get_modelmeta().custom_metadata_map)
        self._dtype = np.uint8 if self.io.pixels else np.float32
        batch, height, width = (inp.shape[0], *inp.shape[1:3]) if self.io.pixels else (inp.shape[0], *inp.shape[2:4])
        self.fixed_batch = batch if isinstance(batch, int) else None
        self.fixed_hw = (height, width) if isinstance(height, int) and isinstance(width, int) else None
        self.providers = self.session.get_providers()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        feed = {self.input_name: np.ascontiguousarray(batch, dtype=self._dtype)}
        return self.session.run([self.output_name], feed)[0]

    def check_logits_of(self, num_classes: int, model: str) -> None:
        """Refuse a file whose first output is not (N, num_classes, H, W) logits: another model's export.
        An (N, 1, H, W) integer class map (--fold-argmax, or the FCN guide's argmax) has no classes to check."""
        out = self.session.get_outputs()[0]
        if self.io.class_map and len(out.shape) == 4 and out.shape[1] == 1:
            return
        channels = out.shape[1] if len(out.shape) == 4 else None
        if len(out.shape) != 4 or (isinstance(channels, int) and channels != num_classes):
            raise SegdeployError.at(self.path, f"outputs {_shape_text(out.shape)}, but {model} predicts "
                                               f"(N, {num_classes}, H, W) logits: is it another model's file?")


def _provider_name(provider: str | tuple[str, dict]) -> str:
    return provider if isinstance(provider, str) else provider[0]


def _image_input(session: ort.InferenceSession, path: Path):
    """The one input, an (N, 3, H, W) float tensor; any name is fine (it is read from the file)."""
    inputs = session.get_inputs()
    if len(inputs) != 1:
        names = ", ".join(f"{i.name} {_shape_text(i.shape)}" for i in inputs)
        raise SegdeployError.at(path, f"has {len(inputs)} inputs ({names}); segdeploy feeds one (N, 3, H, W) "
                                      "image batch")
    inp = inputs[0]
    pixels = inp.type == "tensor(uint8)"  # a file exported with --fold-preprocess takes (N, H, W, 3) pixels
    channels = (inp.shape[3] if pixels else inp.shape[1]) if len(inp.shape) == 4 else None
    if len(inp.shape) != 4 or (isinstance(channels, int) and channels != 3) or inp.type not in ("tensor(float)",
                                                                                              "tensor(uint8)"):
        raise SegdeployError.at(path, f"input {inp.name} is {inp.type} {_shape_text(inp.shape)}; segdeploy feeds "
                                      "float32 (N, 3, H, W) image batches, or uint8 (N, H, W, 3) pixels to a "
                                      "file exported with --fold-preprocess")
    return inp


def _shape_text(shape: list) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"
