"""Fixtures every test folder uses."""

from __future__ import annotations

import pytest
import torch


def _tiny_model(spec, seed: int = 0) -> torch.nn.Module:
    """The test-size variant with non-trivial BatchNorm statistics, so parity checks mean something."""
    torch.manual_seed(seed)
    model = spec.build(**spec.tiny)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


@pytest.fixture(scope="session")
def tiny_model():
    """`tiny_model(spec, seed=0)`: see `_tiny_model`."""
    return _tiny_model
