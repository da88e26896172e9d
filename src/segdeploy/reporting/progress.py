"""One progress bar for every long loop: count, items/s, time left."""

from __future__ import annotations

import contextlib
import time
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


@contextlib.contextmanager
def progress_bar(label: str, total: int, unit: str = "img", enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """Yield `advance(n)`; shows a rich bar with the measured rate when enabled (to stderr)."""
    if not enabled:
        yield lambda n: None
        return
    bar = Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=Console(stderr=True))
    task = bar.add_task(label, total=total, rate="")
    started = time.perf_counter()
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        rate = done / max(time.perf_counter() - started, 1e-9)
        bar.update(task, advance=n, rate=f"{rate:.2f} {unit}/s")

    with bar:
        yield advance
