"""Run one function over many files in worker processes, behind one progress bar."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import TypeVar

from segdeploy.reporting.progress import progress_bar

Job = TypeVar("Job")


def run_in_processes(work: Callable[[Job], object], jobs: Sequence[Job], workers: int, label: str,
                     unit: str = "file", show_progress: bool = True) -> None:
    """Call `work(job)` for every job; `work` must be a module-level function (it is pickled).

    The first failure is re-raised here, after cancelling the jobs not yet started. With one
    worker (or one job) everything runs in this process, which keeps small runs cheap.
    """
    with progress_bar(label, len(jobs), unit=unit, enabled=show_progress) as advance:
        if workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                work(job)
                advance(1)
            return
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(work, job) for job in jobs]
            try:
                for future in as_completed(futures):
                    future.result()
                    advance(1)
            except BaseException:
                pool.shutdown(cancel_futures=True)
                raise
