"""How many workers read and preprocess ahead of the engine, threads or processes, and why.

Threads are free to start and share memory. A decoder that holds the GIL (pyspng does, for the
whole 2048x1024 PNG) does not stall the engine, which releases the GIL while it runs and only waits
for it when a run returns mid-decode; but loads in several threads serialise on the GIL, so once the
GIL-held load time nears the engine's time, threads cannot keep up and loading goes to worker
processes, which pay for moving each image between processes. Measured on 2 cores with pyspng
(`benchmarks/bench_e2e.py --workers`, Fast-SCNN at 1024x2048, the load holding the GIL for 0.24 of
the engine's time): threads 0.99 of the CPU-time bound, processes 0.90-0.91; at 256x512, 0.99
against 0.76-0.82. Whether a stage holds the GIL is measured, not assumed: while the first item
loads, a probe thread counts pure-Python steps; the share of its solo rate it keeps is the share of
the load during which the GIL was free. The count follows from the measured costs: enough workers
that loading keeps up with the engine with twice the margin (a worker shares the cores with the
engine, which slows it down), never more than the cores.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Literal, TypeVar

Result = TypeVar("Result")

GIL_BOUND_BELOW = 1 / 3  # probe share under which a stage counts as holding the GIL
PROBE_SWITCH_S = 1e-4  # the interpreter's GIL switch interval while probing (default 5 ms)
MAX_GIL_HELD = 0.5  # GIL-held load time per unit of engine time that threads absorb (see above)
# What worker processes inherit before they import anything: one thread per library, since the
# workers already run in parallel with each other and with the engine.
SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENCV_FOR_THREADS_NUM": "1"}


@dataclass(frozen=True)
class WorkerPlan:
    kind: Literal["threads", "processes"]
    count: int
    why: str = "given"

    def line(self) -> str:
        return f"[workers] {self.kind} x {self.count}: {self.why}"


def available_cores() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def gil_free_share(work: Callable[[], Result], baseline_s: float = 0.02) -> tuple[Result, float]:
    """Run `work()` here while a probe thread counts; returns its result and the probe's rate during it
    over the probe's rate while this thread sleeps (about 1: the GIL was free; about 0: `work` held it).

    The counter is read by this thread right before and after `work`, while it holds the GIL, so
    only the probe's steps during `work` count; a short switch interval keeps the probe from holding
    the GIL into the start of `work` (by default it may keep it 5 ms, a share of a short decode).
    """
    steps = [0]
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            steps[0] += 1

    interval = sys.getswitchinterval()
    sys.setswitchinterval(PROBE_SWITCH_S)
    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    try:
        solo = _rate(steps, lambda: time.sleep(baseline_s))[1]
        result, during = _rate(steps, work)
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(interval)
    return result, min(1.0, during / solo) if solo > 0 else 1.0


def _rate(steps: list[int], work: Callable[[], Result]) -> tuple[Result, float]:
    before, start = steps[0], time.perf_counter()
    result = work()
    return result, (steps[0] - before) / max(time.perf_counter() - start, 1e-9)


def plan_workers(load_s: float, gil_free: float, infer_s_per_item: float, cores: int,
                 can_pickle: bool) -> WorkerPlan:
    """Workers for a load stage costing `load_s` per item, of which `1 - gil_free` holds the GIL,
    in front of an engine taking `infer_s_per_item`."""
    ratio = load_s / max(infer_s_per_item, 1e-9)
    count = max(1, min(cores, math.ceil(2 * ratio)))
    costs = (f"load {load_s * 1000:.0f} ms vs inference {infer_s_per_item * 1000:.0f} ms per image on {cores} "
             f"core(s): ceil(2 x {ratio:.2f}) capped at the cores")
    held = (1 - gil_free) * ratio  # GIL-held load time per unit of engine time
    if gil_free < GIL_BOUND_BELOW:
        holds = f"the load holds the GIL {1 - gil_free:.0%} of the time, for {held:.2f} of the engine's time"
        if held <= MAX_GIL_HELD:
            return WorkerPlan("threads", count, f"{holds}: threads keep up; {costs}")
        if can_pickle:
            return WorkerPlan("processes", count, f"{holds} (threads would serialise on it); {costs}")
        return WorkerPlan("threads", count, f"{holds}, but its items cannot be sent to processes; {costs}")
    return WorkerPlan("threads", count, f"the load leaves the GIL free {gil_free:.0%} of the time; {costs}")
