"""The Backend protocol every engine implements, and running any batch size through one."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from segdeploy.runtime.engine_io import EngineIO


class Backend(Protocol):
    """Maps a float32 (N, 3, H, W) batch to float32 logits (N, C, H, W), or what its `io` declares
    (`segdeploy.runtime.engine_io`: uint8 pixels in, class maps out, for folded files).

    `fixed_batch` is the batch size an engine was compiled for (None: any); `fixed_hw` likewise for
    the spatial size of its input.
    """

    name: str
    fixed_batch: int | None
    fixed_hw: tuple[int, int] | None
    io: EngineIO

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
