"""What several test folders share: `python -m segdeploy` under torchrun, one-line CLI errors, tiny models."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from segdeploy.cli import main


@pytest.fixture
def torchrun():
    """`torchrun(launch, args)`: torchrun with `launch` flags running `-m segdeploy args`, over loopback,
    one thread per process; a Popen with stdout and stderr together."""
    started: list[subprocess.Popen] = []

    def launch(flags: list[str], args: list[str], **popen) -> subprocess.Popen:
        env = os.environ | {"OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
        proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", *flags, "-m", "segdeploy", *args],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)
        started.append(proc)
        return proc

    yield launch
    for proc in started:  # a failed assertion must not leave a job running
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.fixture
def one_line_error(capsys):
    """`one_line_error(argv)`: the CLI run in-process must exit 2 with one error line and no traceback;
    returns that line."""
    def run(argv: list[str]) -> str:
        code = main(argv)
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.startswith("segdeploy: error:")]
        assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
        return lines[0]

    return run


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
