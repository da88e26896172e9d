"""Pure-inference timing (the guides' `--loop` mode): per batch size, throughput and latency percentiles."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from segdeploy.reporting.progress import progress_bar
from segdeploy.runtime.backend import Backend
from segdeploy.runtime.engine_io import engine_io

THROUGHPUT_DEFINITION = ("throughput = samples per second of wall time over the timed loop, each batch of N counting "
                         "N samples; compute only (inputs already in memory, no decode, no post-processing)")


@dataclass(frozen=True)
class BatchTiming:
    engine: str
    batch: int
    status: str  # "ok" or "skipped"
    reason: str = ""
    samples_per_s: float = float("nan")
    mean_ms: float = float("nan")  # latency of one batch
    p50_ms: float = float("nan")
    p90_ms: float = float("nan")
    p99_ms: float = float("nan")
    loops: int = 0

    def to_json(self) -> dict:
        return asdict(self)


def time_batches(backend: Backend, input_hw: tuple[int, int], batches: list[int], warmup: int, loop: int,
                 show_progress: bool = True, seed: int = 0) -> list[BatchTiming]:
    """Time `loop` runs after `warmup` for each batch size; a batch that cannot run is skipped with why."""
    rng = np.random.default_rng(seed)
    results = []
    for batch in batches:
        if backend.fixed_batch is not None and batch != backend.fixed_batch:
            results.append(BatchTiming(backend.name, batch, "skipped",
                                       f"engine compiled for batch {backend.fixed_batch} only"))
            continue
        x = engine_io(backend).random_batch(batch, input_hw, rng)  # what this engine takes
        try:
            results.append(_time_one(backend, x, warmup, loop, show_progress))
        except Exception as err:  # out of memory is a MemoryError, RuntimeError or an engine's own type
            reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
            results.append(BatchTiming(backend.name, batch, "skipped", reason))
    return results


def _time_one(backend: Backend, x: np.ndarray, warmup: int, loop: int, show_progress: bool) -> BatchTiming:
    for _ in range(warmup):
        backend(x)
    latencies = []
    with progress_bar(f"bench {backend.name} bs{len(x)}", loop, unit="it", enabled=show_progress) as advance:
        for _ in range(loop):
            start = time.perf_counter()
            backend(x)
            latencies.append(time.perf_counter() - start)
            advance(1)
    return timing_from_latencies(backend.name, len(x), latencies, float(len(x) * loop / np.sum(latencies)))


def timing_from_latencies(engine: str, batch: int, latencies_s: list[float], samples_per_s: float) -> BatchTiming:
    """The row of `len(latencies_s)` timed calls of `batch` samples each (latencies in seconds)."""
    ms = np.array(latencies_s) * 1000.0
    return BatchTiming(
        engine=engine, batch=batch, status="ok", samples_per_s=samples_per_s,
        mean_ms=float(ms.mean()), p50_ms=float(np.percentile(ms, 50)), p90_ms=float(np.percentile(ms, 90)),
        p99_ms=float(np.percentile(ms, 99)), loops=len(latencies_s))
