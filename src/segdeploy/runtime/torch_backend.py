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

# autocast dtype of each reduced precision; fp32 runs without autocast
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class TorchOptions:
    channels_last: bool = False
    precision: str = "fp32"  # "bf16": autocast convolutions and matmuls (AVX-512 BF16 / AMX); "fp16": CUDA only
    compile: bool = False  # torch.compile (inductor)

    @property
    def label(self) -> str:
        on = [name for name in ("channels_last",) if getattr(self, name)]
        on += [self.precision] if self.precision != "fp32" else []
        on += ["compile"] if self.compile else []
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
        if self.options.precision == "fp16" and self.device.type != "cuda":
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
        dtype = AUTOCAST_DTYPES.get(self.options.precision)
        autocast = torch.autocast(self.device.type, dtype=dtype) if dtype else contextlib.nullcontext()
        with autocast:
            logits = self.forward(x)
        return logits.float().contiguous().cpu().numpy()


def bf16_supported() -> bool:
    """Whether oneDNN has native bf16 kernels here; emulated bf16 is slower than fp32."""
    return torch.backends.mkldnn.is_available() and bool(getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported",
                                                                 lambda: False)())


def precision_unsupported(precision: str, device: str) -> str | None:
    """Why `precision` cannot run on `device` (None: it can)."""
    if precision == "fp16" and not device.startswith("cuda"):
        return "fp16 autocast needs --device cuda (CPU fp16 matmuls are emulated)"
    if precision == "bf16" and not device.startswith("cuda") and not bf16_supported():
        return "this CPU has no native bf16 (oneDNN would emulate it, slower than fp32)"
    return None


def tune_torch(build: Callable[[], nn.Module], sample: np.ndarray, candidates: list[TorchOptions],
               runs: int = 2, device: str = "cpu") -> tuple[TorchOptions, dict[str, float]]:
    """The fastest of `candidates` on `sample`, then that one compiled; also every median in s.

    Each candidate gets a fresh model from `build()` (channels_last converts weights in place). What
    helps differs per network and per CPU (oneDNN's blocked layouts, native bf16 or not, how much
    time goes to ops outside convolutions), so it is measured rather than assumed. Speed only: what
    a reduced precision costs is the accuracy gate's to measure (`segdeploy bench --accuracy`) on
    labelled images; an argmax check on a timing input says nothing there (random weights on noise
    give near-tied logits, where bf16 flips 40 % of pixels of a model that loses no mIoU).
    """
    timings: dict[str, float] = {}
    best, best_s = None, float("inf")
    # torch.compile costs tens of seconds per variant, so it is tried once, on the best of the others.
    for options in [*candidates, None]:
        options = options or dataclasses.replace(best, compile=True)
        backend = TorchBackend(build(), device=device, options=options)
        timings[options.label] = seconds = _median_seconds(backend, sample, runs)
        if seconds < best_s:
            best, best_s = options, seconds
    return best, timings


def fp32_candidates() -> list[TorchOptions]:
    """Options that keep fp32 arithmetic (the same predictions up to summation order)."""
    return [TorchOptions(), TorchOptions(channels_last=True)]


def reduced_candidates(precision: str) -> list[TorchOptions]:
    return [TorchOptions(precision=precision), TorchOptions(channels_last=True, precision=precision)]


def _median_seconds(backend: TorchBackend, sample: np.ndarray, runs: int) -> float:
    backend(sample)  # first call: oneDNN primitive creation, compilation
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        backend(sample)
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds))
