"""Overlapped read -> preprocess -> infer -> post-process -> write, with per-stage wall and CPU time.

The guides measured Fast-SCNN end to end at 0.18x its pure inference rate because every stage ran
one after the other. Here reading and decoding run in workers ahead of the engine (bounded, in
order, so batches are always the same consecutive items), the engine runs in the caller's thread,
post-processing in a thread behind it and writing in another behind that, so a slow disk never
holds the post-processing (nor, through it, the engine).

The first batch runs stage by stage in the caller's thread: it measures what loading an item and
running the engine cost, and `segdeploy.inference.workers` sizes the workers from that (threads, or
processes where the load holds the GIL) and says why. Every stage records its CPU time per item,
so the result states the throughput the cores allow if no stage ever waited (all stages' CPU time
over the cores) and how close the run came to it.
"""

from __future__ import annotations

import collections
import itertools
import math
import multiprocessing
import multiprocessing.forkserver
import os
import pickle
import queue
import sys
import threading
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Generic, Sequence, TypeVar

import numpy as np

from segdeploy.inference.shared_slots import Packed, SlotRing, pack, payload_bytes
from segdeploy.inference.workers import (
    SINGLE_THREADED,
    WorkerPlan,
    available_cores,
    gil_free_share,
    plan_workers,
)

Item = TypeVar("Item")
STAGES = ("data read", "preprocess", "inference", "postprocess", "write")
LOAD_STAGES = ("data read", "preprocess")


@dataclass
class StageStats:
    """Busy and CPU time of one stage; `workers` items can be in it at once."""

    name: str
    workers: int = 1
    latencies: list[float] = field(default_factory=list)  # seconds per item (per batch for inference)
    items: int = 0
    cpu_seconds: float = 0.0  # CPU time of all its items

    def add(self, seconds: float, items: int = 1, cpu: float = 0.0) -> None:
        self.latencies.append(seconds)  # list.append is atomic under the GIL
        self.items += items
        self.cpu_seconds += cpu

    @property
    def capacity(self) -> float:
        """Items per second this stage could sustain alone with its workers busy all the time."""
        busy = sum(self.latencies)
        return self.items * self.workers / busy if busy > 0 else float("inf")

    @property
    def mean_ms(self) -> float:
        return float(np.mean(self.latencies) * 1000) if self.latencies else float("nan")

    @property
    def cpu_ms_per_item(self) -> float:
        return self.cpu_seconds / self.items * 1000 if self.items else 0.0


@dataclass
class PipelineResult:
    items: int
    wall_seconds: float
    stages: dict[str, StageStats]
    plan: WorkerPlan
    cores: int

    @property
    def throughput(self) -> float:
        return self.items / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def bottleneck(self) -> str:
        return min(self.stages.values(), key=lambda s: s.capacity).name

    @property
    def cpu_ms_per_item(self) -> float:
        return sum(s.cpu_ms_per_item for s in self.stages.values())

    @property
    def cpu_bound(self) -> float:
        """Images/s the cores allow: every core busy, all the time, on the stages' measured CPU work."""
        return self.cores * 1000 / self.cpu_ms_per_item if self.cpu_ms_per_item > 0 else float("inf")

    @property
    def of_cpu_bound(self) -> float:
        return self.throughput / self.cpu_bound if self.cpu_bound > 0 else 0.0

    def lines(self) -> list[str]:
        """The guides' report shape: one bracketed line per stage and one for the whole."""
        out = [f"[e2e] throughput {self.throughput:.2f} images/s over {self.items} images, "
               f"{self.wall_seconds:.2f} s wall; bottleneck: {self.bottleneck}",
               f"[cpu bound] {self.cpu_bound:.2f} images/s = {self.cores} cores / {self.cpu_ms_per_item:.1f} CPU ms "
               f"per image over all stages; this run: {self.of_cpu_bound:.0%} of it", self.plan.line()]
        for stage in self.stages.values():
            out.append(f"[{stage.name}] capacity {stage.capacity:.2f} images/s with {stage.workers} worker(s), "
                       f"mean {stage.mean_ms:.1f} ms per {'batch' if stage.name == 'inference' else 'image'}, "
                       f"{stage.cpu_ms_per_item:.1f} CPU ms per image")
        return out


@dataclass(frozen=True)
class Stages(Generic[Item]):
    """What the pipeline calls, per item: `read(item) -> raw` (I/O), `preprocess(item, raw) -> loaded`
    (decode, normalise); per batch: `infer(items, loaded) -> outputs` (one per item); per item:
    `postprocess(item, loaded, output) -> result` (class maps, metric), then `write(item, result)`
    (files). `read` and `preprocess` must be picklable (module-level functions or partials of
    them) for worker processes; the pipeline falls back to threads otherwise."""

    read: Callable[[Item], object]
    preprocess: Callable[[Item, object], object]
    infer: Callable[[list, list], list]
    postprocess: Callable[[Item, object, object], object]
    write: Callable[[Item, object], None] = lambda item, result: None


def run_pipeline(items: Sequence[Item], stages: Stages[Item], batch: int, workers: WorkerPlan | None = None,
                 prefetch: int = 8, on_done: Callable[[int], None] | None = None) -> PipelineResult:
    """Run every item through the stages, overlapped; `workers` None: planned from the first batch."""
    stats = {name: StageStats(name) for name in STAGES}
    cores = available_cores()
    if not items:
        return PipelineResult(0, 0.0, stats, workers or WorkerPlan("threads", 1, "nothing to load"), cores)
    behind = _Behind(stages, stats, on_done, max(2, prefetch // max(batch, 1)))
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        first = list(items[:batch])
        first_timed, gil_free = gil_free_share(lambda: _load_timed(stages.read, stages.preprocess, first[0]))
        timed = [first_timed] + [_load_timed(stages.read, stages.preprocess, item) for item in first[1:]]
        first_load_cpu = sum(t[3] + t[4] for t in timed)  # spent here, in the caller's thread
        infer_s = _infer(stages, first, [_record(t, stats) for t in timed], stats, behind, [None] * len(first))
        # read wall + preprocess CPU: the probe's GIL contention stretches the first load's wall time
        plan = workers or plan_workers(first_timed[1] + first_timed[4], gil_free, infer_s / len(first), cores,
                                       _picklable(stages, first[0]))
        for name in LOAD_STAGES:
            stats[name].workers = plan.count
        prefetch = max(prefetch, batch)
        if plan.kind == "processes":  # every item in flight at once has its slot
            size = math.ceil(1.5 * payload_bytes(timed[0][0]))  # room for somewhat larger images
            behind.ring = SlotRing(prefetch + batch * (behind.depth + 2), size)
        with _executor(plan, stages) as pool:
            for chunk, chunk_loaded, slots in _batches(items[batch:], stages, stats, pool, batch, prefetch,
                                                       behind.ring):
                _infer(stages, chunk, chunk_loaded, stats, behind, slots)
    finally:
        behind.close()
    in_process = sum(stats[n].cpu_seconds for n in LOAD_STAGES) if plan.kind == "threads" else first_load_cpu
    _charge_inference_cpu(stats, time.process_time() - cpu_started, in_process)
    return PipelineResult(len(items), time.perf_counter() - started, stats, plan, cores)


def _infer(stages: Stages, chunk: list, loaded: list, stats: dict[str, StageStats], behind: "_Behind",
           slots: list) -> float:
    t0 = time.perf_counter()
    outputs = stages.infer(chunk, loaded)
    seconds = time.perf_counter() - t0
    stats["inference"].add(seconds, len(chunk))
    behind.put((chunk, loaded, outputs, slots))
    return seconds


def _charge_inference_cpu(stats: dict[str, StageStats], process_cpu: float, load_cpu_here: float) -> None:
    """The engine's threads are not ours to time: inference is charged this process's CPU time that no
    other stage's thread used (so it includes the pipeline's own overhead, e.g. receiving items)."""
    others = stats["postprocess"].cpu_seconds + stats["write"].cpu_seconds + load_cpu_here
    stats["inference"].cpu_seconds = max(0.0, process_cpu - others)


def _picklable(stages: Stages, item) -> bool:
    try:
        pickle.dumps((stages.read, stages.preprocess, item))
    except Exception:  # lambdas, closures, open handles: whatever pickle refuses
        return False
    return True


def _executor(plan: WorkerPlan, stages: Stages) -> Executor:
    if plan.kind == "threads":
        return ThreadPoolExecutor(max_workers=plan.count)
    return ProcessPoolExecutor(max_workers=plan.count, mp_context=worker_context([type(stages.preprocess).__module__]),
                               initializer=_single_threaded)


def worker_context(preload: list[str]) -> multiprocessing.context.BaseContext:
    """Worker processes fork from a forkserver: a clean single-threaded process (not the engine's, with
    its threads and locks) that imported `preload` once, so a pool starts in milliseconds instead of
    each worker importing torch again (seconds). The server lives as long as this process; the first
    call's `preload` is what it imports."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(preload)
    return context


def start_worker_server(preload: list[str]) -> None:
    """Start the forkserver now (a benchmark does, so its timed runs do not pay the one-off start)."""
    worker_context(preload)
    multiprocessing.forkserver.ensure_running()


def _single_threaded() -> None:
    os.environ.update(SINGLE_THREADED)
    for name in ("torch", "cv2"):  # already imported by the server: tell them directly
        module = sys.modules.get(name)
        if module is not None:
            (module.set_num_threads if name == "torch" else module.setNumThreads)(1)


def _load_packed(read, preprocess, item, slot) -> tuple[Packed, float, float, float, float]:
    """`_load_timed` in a worker process, its result packed into shared-memory `slot` (see shared_slots)."""
    loaded, *times = _load_timed(read, preprocess, item)
    return pack(loaded, slot), *times


def _load_timed(read, preprocess, item) -> tuple[object, float, float, float, float]:
    """Read and preprocess one item; returns it with the wall and CPU seconds of each step (runs in workers)."""
    t0, c0 = time.perf_counter(), time.thread_time()
    raw = read(item)
    t1, c1 = time.perf_counter(), time.thread_time()
    loaded = preprocess(item, raw)
    return loaded, t1 - t0, time.perf_counter() - t1, c1 - c0, time.thread_time() - c1


def _record(timed: tuple, stats: dict[str, StageStats]) -> object:
    loaded, read_s, pre_s, read_cpu, pre_cpu = timed
    stats["data read"].add(read_s, cpu=read_cpu)
    stats["preprocess"].add(pre_s, cpu=pre_cpu)
    return loaded


def _batches(items, stages: Stages, stats: dict[str, StageStats], pool: Executor, batch: int, prefetch: int,
             ring: SlotRing | None):
    """Consecutive chunks of `batch` items with what loading made of them (and the shared-memory slot
    each came in, with worker processes); up to `prefetch` items load ahead, and chunks come in
    order, so batch composition never depends on timing."""
    pending: collections.deque[tuple[object, Future, int | None]] = collections.deque()
    upcoming = iter(items)

    def top_up() -> None:
        for item in itertools.islice(upcoming, prefetch - len(pending)):
            if ring is None:
                pending.append((item, pool.submit(_load_timed, stages.read, stages.preprocess, item), None))
                continue
            slot = ring.take()
            future = pool.submit(_load_packed, stages.read, stages.preprocess, item, slot)
            pending.append((item, future, None if slot is None else slot[0]))

    top_up()
    chunk, loaded, slots = [], [], []
    try:
        while pending:
            item, future, slot = pending.popleft()
            timed = future.result()
            if ring is not None:
                timed = (ring.unpack(timed[0]), *timed[1:])
            loaded.append(_record(timed, stats))
            chunk.append(item)
            slots.append(slot)
            top_up()
            if len(chunk) == batch or not pending:
                yield chunk, loaded, slots
                chunk, loaded, slots = [], [], []
    finally:
        for _, future, _ in pending:  # an error stops the run: nothing more is loaded
            future.cancel()


class _Behind:
    """The post-processing thread and the writer thread behind it, with bounded queues between.

    The first error in either stops both (they drain their queues so nobody blocks) and is raised
    in the caller's thread at its next `put` or at `close`.
    """

    def __init__(self, stages: Stages, stats: dict[str, StageStats], on_done, depth: int) -> None:
        self.stages, self.stats, self.on_done, self.depth = stages, stats, on_done, depth
        self.ring: SlotRing | None = None  # set when items come from worker processes
        self.errors: list[BaseException] = []
        self.post_queue: queue.Queue = queue.Queue(maxsize=depth)
        self.write_queue: queue.Queue = queue.Queue(maxsize=4 * depth)
        self.threads = [threading.Thread(target=self._post, daemon=True), threading.Thread(target=self._write, daemon=True)]
        for thread in self.threads:
            thread.start()

    def put(self, job) -> None:
        if self.errors:
            raise self.errors[0]
        self.post_queue.put(job)

    def close(self) -> None:
        self.post_queue.put(None)
        for thread in self.threads:
            thread.join()
        if self.ring is not None:
            self.ring.close()
        if self.errors:
            raise self.errors[0]

    def _post(self) -> None:
        while (job := self.post_queue.get()) is not None:
            for item, one_loaded, output, slot in zip(*job):
                try:
                    if not self.errors:  # else drain so the producer never blocks; the error is re-raised there
                        self._post_one(item, one_loaded, output)
                except BaseException as err:  # surfaced in the caller's thread
                    self.errors.append(err)
                finally:
                    if self.ring is not None:  # done with what the item's slot holds
                        self.ring.give_back(slot)
        self.write_queue.put(None)

    def _post_one(self, item, loaded, output) -> None:
        t0, c0 = time.perf_counter(), time.thread_time()
        result = self.stages.postprocess(item, loaded, output)
        self.stats["postprocess"].add(time.perf_counter() - t0, cpu=time.thread_time() - c0)
        self.write_queue.put((item, result))

    def _write(self) -> None:
        stage = self.stats["write"]
        while (job := self.write_queue.get()) is not None:
            if self.errors:
                continue
            try:
                t0, c0 = time.perf_counter(), time.thread_time()
                self.stages.write(*job)
                stage.add(time.perf_counter() - t0, cpu=time.thread_time() - c0)
                if self.on_done is not None:
                    self.on_done(1)
            except BaseException as err:
                self.errors.append(err)
