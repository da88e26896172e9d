"""Peak resident memory of this process over a span of work (one engine at one batch size).

Linux keeps a high-water mark of the resident set (VmHWM) that writing "5" to /proc/self/clear_refs
resets, so each engine's peak can be measured in one process, one after another. Where that is not
possible, the process-lifetime peak from getrusage is reported instead (it never decreases).
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def reset_peak_rss() -> bool:
    """Start a new peak-RSS span; False where the platform cannot (the peak is then lifetime)."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """Peak resident set size in MB since the last successful `reset_peak_rss` (or process start)."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024  # bytes on macOS, kB elsewhere
