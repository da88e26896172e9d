"""PyTorch eager engine."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class TorchBackend:
    """Runs an `nn.Module` in eval mode under inference_mode on `device`."""

    fixed_batch: int | None = None
    fixed_hw: tuple[int, int] | None = None

    def __init__(self, model: nn.Module, device: str = "cpu", channels_last: bool = False) -> None:
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.name = "torch" + ("-channels_last" if channels_last else "")

    @torch.inference_mode()
    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
        x = x.contiguous(memory_format=self.memory_format)
        return self.model(x).float().cpu().numpy()
