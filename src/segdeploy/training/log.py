"""Training logs: an mmseg-style console line and one JSON object per line in `log.jsonl` (rank 0)."""

from __future__ import annotations

import datetime
import json
import resource
from pathlib import Path
from typing import Any

import torch

from segdeploy.errors import naming_path
from segdeploy.reporting.atomic import write_text_atomic

_DECIMALS = {"time": 3, "data_time": 3, "fps": 2, "fps_per_device": 2}  # mmseg prints 4 otherwise


def peak_memory_mb(device: torch.device) -> int:
    """mmseg's `memory` column: peak allocated CUDA memory; on CPU the process's peak RSS instead."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device) / 2**20)
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # Linux reports KiB


def format_eta(seconds: float) -> str:
    return str(datetime.timedelta(seconds=int(seconds)))


def console_line(record: dict[str, Any], iters: int) -> str:
    """`Iter [50/20000]  lr: 9.978e-03, eta: 1:02:03, time: 0.452, ...` as mmseg prints it."""
    if record["mode"] == "val":
        head = f"Iter(val) [{record['images']}]\t"
        keys = [k for k in record if k not in ("mode", "iter", "images")]
    else:
        head = f"Iter [{record['iter']}/{iters}]\t"
        keys = [k for k in record if k not in ("mode", "iter")]
    parts = [f"{k}: {_number(k, record[k])}" for k in keys]
    return head + ", ".join(parts)


def _number(key: str, value: Any) -> str:
    if key == "lr":
        return f"{value:.3e}"
    if isinstance(value, float):
        return f"{value:.{_DECIMALS.get(key, 4)}f}"
    return str(value)


class RunLog:
    """Appends records to `work_dir/log.jsonl` and prints them; a no-op on ranks other than 0."""

    def __init__(self, work_dir: Path, iters: int, enabled: bool) -> None:
        self.path, self.iters, self.enabled = work_dir / "log.jsonl", iters, enabled

    def truncate_after(self, iteration: int) -> None:
        """Drop records past `iteration`: a resumed run rewrites what followed its checkpoint."""
        if not (self.enabled and self.path.is_file()):
            return
        kept = [line for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line).get("iter", 0) <= iteration]
        write_text_atomic(self.path, "".join(line + "\n" for line in kept))

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with naming_path(self.path), self.path.open("a") as f:  # a full disk fails in write/close, unnamed
            f.write(json.dumps(record) + "\n")
        self.info(console_line(record, self.iters))

    def info(self, text: str) -> None:
        if self.enabled:
            stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
            print(f"{stamp} - segdeploy - INFO - {text}", flush=True)
