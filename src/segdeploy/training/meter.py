"""Per-interval training statistics: loss/accuracy means over ranks, iteration and data times, images/s."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from segdeploy.distributed import all_reduce_mean, gather_objects
from segdeploy.reporting.atomic import write_json_atomic
from segdeploy.training.log import format_eta, peak_memory_mb
from segdeploy.training.run import Run


class Meter:
    """Times each iteration (data wait + step) and sums the step's values until `flush`."""

    def __init__(self, run: Run, perf_warmup: int) -> None:
        self.run, self.perf_warmup = run, perf_warmup
        self.sums: dict[str, torch.Tensor] = {}
        self.times: list[float] = []  # this interval: (iteration, data) seconds, flattened pairs
        self.all_times: list[float] = []  # this process run, after the warm-up
        self.steps = 0
        self.mark = 0.0  # perf_counter() when the wait for the current batch began
        self.data_time = 0.0
        self.lr = 0.0

    def data_started(self) -> None:
        """From here the loop waits for the next batch; log/eval/checkpoint time is never counted."""
        self.mark = time.perf_counter()

    def batch_ready(self) -> None:
        self.data_time = time.perf_counter() - self.mark
        self.lr = self.run.optimizer.param_groups[0]["lr"]  # the lr this step uses

    def record_step(self, parts: dict[str, torch.Tensor]) -> None:
        if self.run.info.device.type == "cuda":
            torch.cuda.synchronize(self.run.info.device)  # kernels are asynchronous: time their end
        elapsed = time.perf_counter() - self.mark
        self.steps += 1
        self.times += [elapsed, self.data_time]
        if self.steps > self.perf_warmup:
            self.all_times.append(elapsed)
        for key, value in parts.items():
            self.sums[key] = self.sums.get(key, 0) + value.float()

    def flush(self) -> dict[str, Any]:
        """The interval's record (means over iterations and ranks); collective, like every reduction."""
        run, n = self.run, len(self.times) // 2
        keys = list(self.sums)
        local = torch.tensor([float(v) for v in (self.sums[k] for k in keys)]
                             + [sum(self.times[0::2]), sum(self.times[1::2])], dtype=torch.float64)
        means = all_reduce_mean(local, run.info) / max(n, 1)
        step_time, data_time = float(means[-2]), float(means[-1])
        timed = self.all_times or self.times[0::2]
        eta = (run.config.recipe.iters - run.iteration) * sum(timed) / max(len(timed), 1)
        record: dict[str, Any] = {
            "mode": "train", "iter": run.iteration, "lr": self.lr, "eta": format_eta(eta),
            "time": round(step_time, 4), "data_time": round(data_time, 4),
            "memory": peak_memory_mb(run.info.device),
            **{k: round(float(means[i]), 4) for i, k in enumerate(keys) if k != "loss"},
            "loss": round(float(means[keys.index("loss")]), 4),
        }
        if run.config.amp:
            record["skipped_steps"] = run.skipped_steps
        if run.config.perf:
            batch = run.config.recipe.batch_per_device
            record["fps"] = round(batch * run.info.world_size / step_time, 2)
            record["fps_per_device"] = round(batch / step_time, 2)
        self.sums, self.times = {}, []
        return record

    def write_perf(self, path: Path) -> dict[str, Any]:
        """Images/s of each device and in total over this run's iterations after the warm-up."""
        run = self.run
        batch = run.config.recipe.batch_per_device
        own = batch * len(self.all_times) / sum(self.all_times) if self.all_times else float("nan")
        per_device = [float(v) for v in gather_objects(own, run.info)]
        result = {"model": run.spec.name, "world_size": run.info.world_size, "batch_per_device": batch,
                  "device": str(run.info.device), "amp": run.config.amp,
                  "iterations_timed": len(self.all_times),
                  "images_per_second_per_device": [round(v, 3) for v in per_device],
                  "images_per_second_total": round(sum(per_device), 3),
                  "definition": "batch_per_device / mean iteration time (data wait + forward + backward + "
                                f"step), summed over devices; the first {self.perf_warmup} iterations "
                                "are left out"}
        if run.info.is_main:
            write_json_atomic(path, result)
            run.log.info(f"perf: {result['images_per_second_total']:.2f} images/s in total, per device "
                         + ", ".join(f"{v:.2f}" for v in per_device) + f" (written to {path})")
        return result
