"""What this machine offers an engine: the cores this process may use."""

from __future__ import annotations

import os


def physical_cores() -> int:
    """Cores to give an engine's intra-op pool: what this process may use (hyperthreads are not
    worth a thread each for conv-heavy work, but we cannot see the topology portably)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
