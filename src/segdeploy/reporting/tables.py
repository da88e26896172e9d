"""Rich tables for the console: each builds a `rich.table.Table` and leaves printing to the caller."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from rich.table import Table

from segdeploy.evaluation.metrics import SegMetrics

# The order of mmseg 0.x's "Summary" table.
SUMMARY_HEADERS: tuple[str, ...] = ("aAcc", "mIoU", "mAcc")


def percent(fraction: float) -> str:
    """A fraction as mmseg prints it: a percentage rounded to 2 decimals; 'nan' when undefined."""
    if math.isnan(fraction):
        return "nan"
    return f"{np.round(fraction * 100, 2):.2f}"  # np.round, as mmseg, so halfway cases agree


def summary_row(metrics: SegMetrics) -> tuple[str, ...]:
    """aAcc, mIoU, mAcc as percentages, in `SUMMARY_HEADERS` order (a row for comparison tables)."""
    return tuple(percent(getattr(metrics, name)) for name in SUMMARY_HEADERS)


def metrics_table(metrics: SegMetrics, class_names: Sequence[str], title: str | None = None) -> Table:
    """Per-class IoU and Acc, then a summary row: mIoU and mAcc in their columns, aAcc in its label."""
    if len(class_names) != metrics.num_classes:
        raise ValueError(f"{len(class_names)} class names for {metrics.num_classes} classes")
    table = Table(title=title)
    table.add_column("Class")
    table.add_column("IoU", justify="right")
    table.add_column("Acc", justify="right")
    for name, iou, acc in zip(class_names, metrics.IoU, metrics.Acc, strict=True):
        table.add_row(name, percent(float(iou)), percent(float(acc)))
    summary = dict(zip(SUMMARY_HEADERS, summary_row(metrics), strict=True))
    table.add_section()
    table.add_row(f"mean (aAcc {summary['aAcc']})", summary["mIoU"], summary["mAcc"], style="bold")
    return table


def accuracy_table(results: dict[str, SegMetrics], title: str | None = None, baseline: str | None = None) -> Table:
    """One row per engine: aAcc, mIoU, mAcc and the mIoU difference to the first (or `baseline`) engine."""
    baseline = baseline or next(iter(results))
    table = Table(title=title)
    table.add_column("engine")
    for header in (*SUMMARY_HEADERS, f"Δ mIoU vs {baseline}"):
        table.add_column(header, justify="right")
    for name, metrics in results.items():
        delta = (metrics.mIoU - results[baseline].mIoU) * 100
        table.add_row(name, *summary_row(metrics), f"{delta:+.3f}")
    return table


def bench_table(timings: Sequence, title: str | None = None, unit: str = "images") -> Table:
    """Per engine and batch size: throughput and batch latency percentiles; skipped batches say why."""
    table = Table(title=title)
    table.add_column("engine")
    table.add_column("batch", justify="right")
    table.add_column(f"{unit}/s", justify="right")
    for header in ("mean ms", "p50 ms", "p90 ms", "p99 ms"):
        table.add_column(header, justify="right")
    for t in timings:
        if t.status != "ok":
            table.add_row(t.engine, str(t.batch), "skipped", t.reason, "", "", "")
            continue
        table.add_row(t.engine, str(t.batch), f"{t.samples_per_s:.2f}", f"{t.mean_ms:.1f}", f"{t.p50_ms:.1f}",
                      f"{t.p90_ms:.1f}", f"{t.p99_ms:.1f}")
    return table
