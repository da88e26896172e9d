"""PyTorch engines: eager fp32 (the baseline of every speed ratio), and the fastest CPU options measured here."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from segdeploy.errors import SegdeployError
from segdeploy.runtime.device import require_torch_device
from segdeploy.runtime.engine_io import FLOAT_LOGITS, EngineIO

# A tuned variant must predict the same class as fp32 eager on this share of pixels of the tuning
# input; the accuracy gate (`segdeploy bench --accuracy`) then measures its real mIoU cost.
MIN_TUNED_AGREEMENT = 0.995


@dataclass(frozen=True)
class TorchOptions:
    channels_last: bool = False
    bf16: bool = False  # autocast convolutions and matmuls to bfloat16 (AVX-512 BF16 / AMX where present)
    compile: bool = False  # torch.compile (inductor)
    fp16: bool = False  # autocast convolutions and matmuls to float16 (CUDA only: tensor cores)

    @property
    def label(self) -> str:
        on = [name for name in ("channels_last", "bf16", "fp16", "compile") if getattr(self, name)]
        return "+".join(on) or "eager fp32"


class TorchBackend:
    """Runs an `nn.Module` in eval mode under inference_mode on `device`."""

    fixed_batch: int | None = None
    fixed_hw: tuple[int, int] | None = None
    io: EngineIO = FLOAT_LOGITS  # folding applies to exported files; the network itself takes floats

    def __init__(self, model: nn.Module, device: str = "cpu", options: TorchOptions | None = None,
                 name: str | None = None) -> None:
        require_torch_device(device)
        self.options = options or TorchOptions()
        self.device = torch.device(device)
        if self.options.fp16 and self.device.type != "cuda":
            raise SegdeployError.at(f"--device {device}", "fp16 autocast runs on CUDA devices: use --device cuda[:N]")
        self.memory_format = torch.channels_last if self.options.channels_last else torch.contiguous_format
        self.model = model.eval().to(self.device, memory_format=self.memory_format)
        # dynamic=False: one specialised graph per batch size (the warm-up pays each compile) instead of
        # the generic dynamic-shape kernels torch switches to when a second batch size shows up.
        self.forward = torch.compile(self.model, dynamic=False) if self.options.compile else self.model
        self.name = name or ("torch" if self.options == TorchOptions() else f"torch-{self.options.label}")

    @torch.inference_mode()
    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
        x = x.contiguous(memory_format=self.memory_format)
        dtype = torch.bfloat16 if self.options.bf16 else torch.float16 if self.options.fp16 else None
        autocast = torch.autocast(self.device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()
        with autocast:
            logits = self.forward(x)
        return logits.float().contiguous().cpu().numpy()


def bf16_supported() -> bool:
    """Whether oneDNN has native bf16 kernels here; emulated bf16 is slower than fp32."""
    return torch.backends.mkldnn.is_available() and bool(getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported",
                                                                 lambda: False)())


def tune_torch(build: Callable[[], nn.Module], sample: np.ndarray, candidates: list[TorchOptions] | None = None,
               runs: int = 2) -> tuple[TorchOptions, dict[str, float]]:
    """The fastest options on `sample` whose predictions agree with fp32 eager; also every median in s.

    Each candidate gets a fresh model from `build()` (channels_last converts weights in place). What
    helps differs per network and per CPU (oneDNN's blocked layouts, native bf16 or not, how much
    time goes to ops outside convolutions), so it is measured rather than assumed.
    """
    eager = TorchBackend(build())
    reference = eager(sample).argmax(1)
    timings = {TorchOptions().label: _median_seconds(eager, sample, runs)}
    best, best_s = TorchOptions(), timings[TorchOptions().label]
    candidates = candidates if candidates is not None else default_candidates()
    # torch.compile costs tens of seconds per variant, so it is tried once, on the best of the others.
    for options in [*candidates, None]:
        options = options or dataclasses.replace(best, compile=True)
        backend = TorchBackend(build(), options=options)
        if np.mean(backend(sample).argmax(1) == reference) < MIN_TUNED_AGREEMENT:
            timings[options.label] = float("nan")
            continue
        timings[options.label] = seconds = _median_seconds(backend, sample, runs)
        if seconds < best_s:
            best, best_s = options, seconds
    return best, timings


def default_candidates() -> list[TorchOptions]:
    candidates = [TorchOptions(channels_last=True)]
    if bf16_supported():
        candidates += [TorchOptions(bf16=True), TorchOptions(channels_last=True, bf16=True)]
    return candidates


def _median_seconds(backend: TorchBackend, sample: np.ndarray, runs: int) -> float:
    backend(sample)  # first call: oneDNN primitive creation, compilation
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        backend(sample)
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds))
