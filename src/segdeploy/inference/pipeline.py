"""Overlapped read -> preprocess -> infer -> post-process, with per-stage timing.

The guides measured Fast-SCNN end to end at 0.18x its pure inference rate because every stage ran
one after the other. Here reading and decoding run in a thread pool ahead of the engine (bounded,
in order, so batches are always the same consecutive items), and post-processing runs in its own
thread behind it. Decoding (Pillow), numpy and both engines release the GIL for their heavy work.
"""

from __future__ import annotations

import collections
import itertools
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Generic, Sequence, TypeVar

import numpy as np

Item = TypeVar("Item")
STAGES = ("data read", "preprocess", "inference", "postprocess")


@dataclass
class StageStats:
    """Busy time of one stage; `workers` items can be in it at once."""

    name: str
    workers: int = 1
    latencies: list[float] = field(default_factory=list)  # seconds per item (per batch for inference)
    items: int = 0

    def add(self, seconds: float, items: int = 1) -> None:
        self.latencies.append(seconds)
        self.items += items

    @property
    def capacity(self) -> float:
        """Items per second this stage could sustain alone with its workers busy all the time."""
        busy = sum(self.latencies)
        return self.items * self.workers / busy if busy > 0 else float("inf")

    @property
    def mean_ms(self) -> float:
        return float(np.mean(self.latencies) * 1000) if self.latencies else float("nan")


@dataclass
class PipelineResult:
    items: int
    wall_seconds: float
    stages: dict[str, StageStats]

    @property
    def throughput(self) -> float:
        return self.items / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def bottleneck(self) -> str:
        return min(self.stages.values(), key=lambda s: s.capacity).name

    def lines(self) -> list[str]:
        """The guides' report shape: one bracketed line per stage and one for the whole."""
        out = [f"[e2e] throughput {self.throughput:.2f} images/s over {self.items} images, "
               f"{self.wall_seconds:.2f} s wall; bottleneck: {self.bottleneck}"]
        for stage in self.stages.values():
            out.append(f"[{stage.name}] capacity {stage.capacity:.2f} images/s with {stage.workers} worker(s), "
                       f"mean {stage.mean_ms:.1f} ms per {'batch' if stage.name == 'inference' else 'image'}")
        return out


@dataclass(frozen=True)
class Stages(Generic[Item]):
    """What the pipeline calls, per item: `read(item) -> raw` (I/O), `preprocess(item, raw) -> loaded`
    (decode, normalise); per batch: `infer(items, loaded) -> outputs` (one per item); per item:
    `postprocess(item, loaded, output)` (class maps, files, metric)."""

    read: Callable[[Item], object]
    preprocess: Callable[[Item, object], object]
    infer: Callable[[list, list], list]
    postprocess: Callable[[Item, object, object], None]


def run_pipeline(items: Sequence[Item], stages: Stages[Item], batch: int, workers: int = 2,
                 prefetch: int = 8, on_done: Callable[[int], None] | None = None) -> PipelineResult:
    """Run every item through the four stages with the stages overlapped; returns per-stage timing."""
    stats = {name: StageStats(name, workers if name in ("data read", "preprocess") else 1) for name in STAGES}
    post_queue: queue.Queue = queue.Queue(maxsize=max(2, prefetch // max(batch, 1)))
    post_error: list[BaseException] = []
    post_thread = threading.Thread(target=_post_worker, args=(post_queue, stages, stats, post_error, on_done),
                                   daemon=True)
    started = time.perf_counter()
    post_thread.start()
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for chunk, loaded in _batches(items, stages, stats, pool, batch, max(prefetch, batch)):
                t0 = time.perf_counter()
                outputs = stages.infer(chunk, loaded)
                stats["inference"].add(time.perf_counter() - t0, len(chunk))
                _put(post_queue, (chunk, loaded, outputs), post_error)
    finally:
        post_queue.put(None)
        post_thread.join()
    if post_error:
        raise post_error[0]
    return PipelineResult(len(items), time.perf_counter() - started, stats)


def _batches(items, stages, stats, pool, batch, prefetch):
    """Consecutive chunks of `batch` items with what `_load` made of them; up to `prefetch` items load
    ahead, and chunks come in order, so batch composition never depends on timing."""
    pending: collections.deque[tuple[object, Future]] = collections.deque()
    upcoming = iter(items)

    def top_up() -> None:
        for item in itertools.islice(upcoming, prefetch - len(pending)):
            pending.append((item, pool.submit(_load, item, stages, stats)))

    top_up()
    chunk, loaded = [], []
    while pending:
        item, future = pending.popleft()
        loaded.append(future.result())
        chunk.append(item)
        top_up()
        if len(chunk) == batch or not pending:
            yield chunk, loaded
            chunk, loaded = [], []


def _load(item, stages: Stages, stats: dict[str, StageStats]) -> object:
    t0 = time.perf_counter()
    raw = stages.read(item)
    t1 = time.perf_counter()
    tensor = stages.preprocess(item, raw)
    t2 = time.perf_counter()
    stats["data read"].add(t1 - t0)  # list.append is atomic under the GIL
    stats["preprocess"].add(t2 - t1)
    return tensor


def _post_worker(q: queue.Queue, stages: Stages, stats: dict[str, StageStats], errors: list,
                 on_done: Callable[[int], None] | None) -> None:
    while (job := q.get()) is not None:
        if errors:
            continue  # drain so the producer never blocks; the first error is re-raised by run_pipeline
        chunk, loaded, outputs = job
        try:
            for item, one_loaded, output in zip(chunk, loaded, outputs):
                t0 = time.perf_counter()
                stages.postprocess(item, one_loaded, output)
                stats["postprocess"].add(time.perf_counter() - t0)
            if on_done is not None:
                on_done(len(chunk))
        except BaseException as err:  # surfaced in the caller's thread
            errors.append(err)


def _put(q: queue.Queue, job, errors: list) -> None:
    if errors:
        raise errors[0]
    q.put(job)
