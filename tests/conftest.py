"""What several test folders share: launching `python -m segdeploy` under torchrun."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


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
