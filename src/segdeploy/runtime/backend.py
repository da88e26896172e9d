"""The Backend protocol every engine implements, and engine construction by name."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from segdeploy.models.spec import ModelSpec

ENGINES = ("torch", "onnxruntime")


class Backend(Protocol):
    """Maps a float32 (N, 3, H, W) batch to float32 logits (N, C, H, W).

    `fixed_batch` is the batch size an engine was compiled for (None: any); `fixed_hw` likewise for
    the spatial size of its input.
    """

    name: str
    fixed_batch: int | None
    fixed_hw: tuple[int, int] | None

    def __call__(self, batch: np.ndarray) -> np.ndarray: ...


def run_batch(backend: Backend, batch: np.ndarray) -> np.ndarray:
    """Run any number of samples through `backend`, honouring a fixed compiled batch size.

    A short batch is padded by repeating its first sample, as ais_bench does; padded outputs are
    dropped. A batch larger than the fixed size runs in chunks.
    """
    fixed = backend.fixed_batch
    if fixed is None or len(batch) == fixed:
        return backend(batch)
    outputs = []
    for start in range(0, len(batch), fixed):
        chunk = batch[start:start + fixed]
        n = len(chunk)
        if n < fixed:
            chunk = np.concatenate([chunk, np.repeat(chunk[:1], fixed - n, axis=0)])
        outputs.append(backend(chunk)[:n])
    return np.concatenate(outputs)


def physical_cores() -> int:
    """Cores to give an engine's intra-op pool: what this process may use (hyperthreads are not
    worth a thread each for conv-heavy work, but we cannot see the topology portably)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def make_backend(spec: "ModelSpec", engine: str | None, onnx: Path | None, checkpoint: Path | None,
                 trust: bool = False, device: str = "cpu") -> Backend:
    """The engine a command asked for: ONNX Runtime on an exported file, or PyTorch on a checkpoint.

    `engine` defaults to onnxruntime when an ONNX file is given and to torch otherwise; torch without
    a checkpoint runs randomly initialised weights (useful for timing only).
    """
    from segdeploy.errors import SegdeployError

    engine = engine or ("onnxruntime" if onnx is not None else "torch")
    if engine not in ENGINES:
        raise SegdeployError.at("--engine", f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    if engine == "onnxruntime":
        if onnx is None:
            raise SegdeployError.at("--engine onnxruntime", "needs --onnx FILE (make one with `segdeploy export`)")
        from segdeploy.runtime.onnxruntime_backend import OnnxRuntimeBackend

        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device.startswith("cuda") else None
        return OnnxRuntimeBackend(onnx, providers=providers)
    if onnx is not None:
        raise SegdeployError.at("--onnx", "the torch engine runs a checkpoint: pass --checkpoint, or --engine onnxruntime")
    from segdeploy.models import build_model
    from segdeploy.runtime.torch_backend import TorchBackend

    return TorchBackend(build_model(spec, checkpoint, trust), device=device)
