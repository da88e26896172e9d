"""Timed loops over several engine instances at once (streams), for the throughput/latency trade-off.

One stream is one engine instance driven by its own thread; with `s` streams of `t` threads each,
the cores are shared out instead of all serving one call. That is how OpenVINO's THROUGHPUT hint
and ais_bench's multi-threaded mode raise images/s: each call gets slower, more run at once. The
engines release the GIL while they compute (ONNX Runtime, OpenVINO, torch ops), so Python threads
really run the streams in parallel.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from segdeploy.benchmark.timing import BatchTiming, timing_from_latencies
from segdeploy.runtime.backend import Backend
from segdeploy.runtime.engine_io import FLOAT_LOGITS


@dataclass(frozen=True)
class StreamsTiming:
    timing: BatchTiming  # throughput over all streams; latency percentiles over every call
    latencies_ms: tuple[float, ...]  # every timed call of every stream
    wall_s: float


def time_streams(backends: Sequence[Backend], x: np.ndarray, warmup: int = 1, seconds: float = 2.0,
                 min_calls: int = 3, max_calls: int = 10_000) -> StreamsTiming:
    """Each backend (a stream) runs `warmup` untimed calls, then, from a common start, calls on `x`
    until `seconds` have passed (at least `min_calls`, at most `max_calls` each).

    Throughput = every sample computed / wall time from the common start to the last stream's end.
    """
    if not backends:
        raise ValueError("time_streams needs at least one backend")
    start_line = threading.Barrier(len(backends))
    outcomes: list[tuple[float, float, list[float]] | None] = [None] * len(backends)
    errors: list[BaseException] = []

    def stream(k: int) -> None:
        try:
            for _ in range(warmup):
                backends[k](x)
            start_line.wait()
            began = time.perf_counter()
            latencies: list[float] = []
            while len(latencies) < max_calls and (len(latencies) < min_calls or time.perf_counter() - began < seconds):
                call = time.perf_counter()
                backends[k](x)
                latencies.append(time.perf_counter() - call)
            outcomes[k] = (began, time.perf_counter(), latencies)
        except threading.BrokenBarrierError:
            pass  # another stream failed first: its error is the one reported
        except BaseException as err:  # re-raised in the caller's thread below
            errors.append(err)
            start_line.abort()

    threads = [threading.Thread(target=stream, args=(k,), daemon=True) for k in range(len(backends))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    done = [o for o in outcomes if o is not None]
    wall = max(end for _, end, _ in done) - min(began for began, _, _ in done)
    latencies = [s for _, _, calls in done for s in calls]
    timing = timing_from_latencies(backends[0].name, len(x), latencies, len(x) * len(latencies) / wall)
    return StreamsTiming(timing, tuple(s * 1000 for s in latencies), wall)


class StreamsBackend:
    """Several instances of one engine as one backend with THROUGHPUT semantics: a call runs on the
    first instance (the accuracy pass), `run_async` keeps every instance busy as OpenVINO's
    THROUGHPUT hint keeps its requests, so `bench` times segdeploy's own streams the way it times
    OpenVINO's (benchmark_app's count)."""

    hint = "THROUGHPUT"

    def __init__(self, streams: Sequence[Backend]) -> None:
        if not streams:
            raise ValueError("StreamsBackend needs at least one stream")
        self.streams = list(streams)
        first = self.streams[0]
        self.name, self.fixed_batch, self.fixed_hw = first.name, first.fixed_batch, first.fixed_hw
        self.io = getattr(first, "io", None) or FLOAT_LOGITS

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.streams[0](batch)

    def run_async(self, x: np.ndarray, runs: int) -> tuple[float, list[float]]:
        """Every stream runs `x` `runs` times from a common start: (wall s, every call's latency in s)."""
        measured = time_streams(self.streams, x, warmup=0, seconds=0.0, min_calls=runs, max_calls=runs)
        return measured.wall_s, [ms / 1000 for ms in measured.latencies_ms]
