"""Several engine instances timed at once: real concurrency, every call counted, errors surface."""

from __future__ import annotations

import time

import numpy as np
import pytest

from segdeploy.benchmark.streams import time_streams


class SleepyEngine:
    """An engine whose call takes `seconds` without holding the GIL (as ONNX Runtime's run does)."""

    fixed_batch = None
    fixed_hw = None

    def __init__(self, seconds: float, fail_after: int | None = None) -> None:
        self.name, self.seconds, self.fail_after, self.calls = "sleepy", seconds, fail_after, 0

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise MemoryError("out of memory in stream")
        time.sleep(self.seconds)
        return batch


def test_streams_run_at_once_and_every_call_is_counted():
    x = np.zeros((2, 3, 4, 4), np.float32)
    one = time_streams([SleepyEngine(0.02)], x, warmup=1, seconds=0.3)
    engines = [SleepyEngine(0.02) for _ in range(3)]
    three = time_streams(engines, x, warmup=1, seconds=0.3)
    assert len(three.latencies_ms) == sum(e.calls - 1 for e in engines) == three.timing.loops
    assert three.timing.batch == 2 and three.timing.engine == "sleepy"
    # three sleeping streams overlap: well over 1.5x the samples per second of one (3x ideally)
    assert three.timing.samples_per_s > 1.5 * one.timing.samples_per_s
    assert three.timing.p50_ms >= 20


def test_min_calls_and_max_calls_bound_the_loop():
    engine = SleepyEngine(0.0)
    assert len(time_streams([engine], np.zeros((1, 3, 2, 2)), warmup=0, seconds=0.0, min_calls=5).latencies_ms) == 5
    assert len(time_streams([engine], np.zeros((1, 3, 2, 2)), warmup=0, seconds=60, max_calls=7).latencies_ms) == 7


def test_a_failing_stream_raises_its_own_error_and_stops_the_others():
    engines = [SleepyEngine(0.01), SleepyEngine(0.01, fail_after=3)]
    with pytest.raises(MemoryError, match="out of memory in stream"):
        time_streams(engines, np.zeros((1, 3, 2, 2)), warmup=1, seconds=0.2)
    with pytest.raises(ValueError):
        time_streams([], np.zeros((1, 3, 2, 2)))
