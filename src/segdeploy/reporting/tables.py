"""Rich tables for the console: each builds a `rich.table.Table` and leaves printing to the caller."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from rich.table import Table

from segdeploy.evaluation.metrics import SegMetrics

if TYPE_CHECKING:
    from segdeploy.evaluation.cityscapes_official import OfficialScores

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


# Per-class columns of `metrics_table`: mmseg 0.x's IoU and Acc, then mmseg 1.x's IoUMetric extras.
CLASS_COLUMNS: tuple[str, ...] = ("IoU", "Acc", "Dice", "Fscore", "Precision", "Recall")


def metrics_table(metrics: SegMetrics, class_names: Sequence[str], title: str | None = None) -> Table:
    """Per-class IoU, Acc, Dice, Fscore, Precision, Recall, then a summary row of their means
    (mIoU, mAcc, mDice, ...) with aAcc in its label."""
    if len(class_names) != metrics.num_classes:
        raise ValueError(f"{len(class_names)} class names for {metrics.num_classes} classes")
    table = Table(title=title)
    table.add_column("Class")
    for column in CLASS_COLUMNS:
        table.add_column(column, justify="right")
    columns = [getattr(metrics, column) for column in CLASS_COLUMNS]
    for i, name in enumerate(class_names):
        table.add_row(name, *(percent(float(values[i])) for values in columns))
    table.add_section()
    table.add_row(f"mean (aAcc {percent(metrics.aAcc)})",
                  *(percent(getattr(metrics, f"m{column}")) for column in CLASS_COLUMNS), style="bold")
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
        table.add_row(name, *summary_row(metrics), f"{round(delta, 3) + 0.0:+.3f}")  # + 0.0: no "-0.000"
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


def official_table(ours: SegMetrics, official: "OfficialScores", class_names: Sequence[str]) -> Table:
    """Our per-class IoU beside cityscapesscripts' on the same predictions (equal by construction),
    then the official-only scores: iIoU per class, category IoU / iIoU."""
    table = Table(title="official cityscapesscripts evaluation of the same predictions")
    table.add_column("class / category")
    for header in ("IoU (ours)", "IoU (official)", "iIoU (official)"):
        table.add_column(header, justify="right")
    iiou = official.class_iiou or {}
    for name, value in zip(class_names, ours.IoU, strict=True):
        table.add_row(name, percent(float(value)), percent(official.class_iou[name]),
                      percent(iiou[name]) if name in iiou else "")
    table.add_section()
    mean_iiou = "" if official.mean_iiou is None else percent(official.mean_iiou)
    table.add_row("mean", percent(ours.mIoU), percent(official.mean_iou), mean_iiou, style="bold")
    table.add_section()
    category_iiou = official.category_iiou or {}
    for name, value in official.category_iou.items():
        table.add_row(f"category {name}", "", percent(value),
                      percent(category_iiou[name]) if name in category_iiou else "")
    mean_cat_iiou = "" if official.mean_category_iiou is None else percent(official.mean_category_iiou)
    table.add_row("category mean", "", percent(official.mean_category_iou), mean_cat_iiou, style="bold")
    return table


def _num(value: float, fmt: str) -> str:
    return "-" if math.isnan(value) else format(value, fmt)


def engines_table(report, title: str | None = None) -> Table:
    """`segdeploy bench` side by side: one row per engine and batch; skipped ones say why."""
    table = Table(title=title)
    for header in ("engine", "batch", f"{report.unit}/s", "p50 ms", "p90 ms", "p99 ms", "× torch",
                   "GFLOP/s", "% peak", "peak RSS MB"):
        table.add_column(header, justify="left" if header == "engine" else "right")
    for row in report.rows:
        t = row.timing
        if t.status != "ok":
            table.add_row(t.engine, str(t.batch), "skipped", t.reason, *[""] * 6)
            continue
        table.add_row(t.engine, str(t.batch), f"{t.samples_per_s:.2f}", f"{t.p50_ms:.1f}", f"{t.p90_ms:.1f}",
                      f"{t.p99_ms:.1f}", _num(row.ratio_to_torch, ".2f"), _num(row.gflops_per_s, ".0f"),
                      _num(row.percent_of_peak, ".0f"), _num(row.peak_rss_mb, ".0f"))
    return table


def accuracy_ladder_table(report, title: str | None = None) -> Table:
    """The accuracy gate: each engine vs PyTorch fp32 in points, pass/fail against the allowed mIoU drop."""
    table = Table(title=title)
    for header in ("engine", "mIoU", "Δ aAcc", "Δ mAcc", "Δ mIoU", "worst class Δ IoU", "pixel agreement",
                   "max |Δlogit|", f"gate (Δ mIoU ≥ -{report.max_drop:g})"):
        table.add_column(header, justify="left" if header == "engine" else "right")
    table.add_row("torch (fp32 reference)", percent(report.reference.mIoU), *[""] * 7)
    for e in report.engines:
        deltas = np.asarray(e.d_class_iou)
        worst = "-" if np.isnan(deltas).all() else f"{np.nanmin(deltas):+.2f}"
        table.add_row(e.engine, percent(e.metrics.mIoU), f"{e.d_aAcc:+.3f}", f"{e.d_mAcc:+.3f}", f"{e.d_mIoU:+.3f}",
                      worst, f"{e.pixel_agreement:.4%}", f"{e.max_abs_dlogit:.3g}",
                      "pass" if e.passed else "[red]FAILED")
    return table


def class_delta_table(report, class_names: Sequence[str], title: str | None = None) -> Table:
    """Per-class Δ IoU (points) of every engine vs PyTorch fp32."""
    table = Table(title=title)
    table.add_column("class")
    table.add_column("torch IoU", justify="right")
    for e in report.engines:
        table.add_column(f"Δ {e.engine}", justify="right")
    for i, name in enumerate(class_names):
        table.add_row(name, percent(float(report.reference.IoU[i])),
                      *[_num(e.d_class_iou[i], "+.2f") for e in report.engines])
    return table


def e2e_table(rows: Sequence, title: str | None = None) -> Table:
    """Per engine and batch: pure-inference vs end-to-end images/s, their ratio, the CPU-time bound, the bottleneck."""
    table = Table(title=title)
    for header in ("engine", "batch", "pure images/s", "e2e images/s", "e2e / pure", "CPU bound images/s",
                   "e2e / bound", "bottleneck", "mIoU"):
        table.add_column(header, justify="left" if header in ("engine", "bottleneck") else "right")
    for row in rows:
        p = row.pipeline
        table.add_row(row.engine, str(row.batch), f"{row.pure_images_per_s:.2f}", f"{row.e2e_images_per_s:.2f}",
                      f"{row.ratio:.2f}", f"{p.cpu_bound:.2f}", f"{p.of_cpu_bound:.2f}", p.bottleneck, percent(row.mIoU))
    return table


def e2e_stage_table(pipeline, title: str | None = None) -> Table:
    """One pipeline run per stage: workers, wall ms per image (per batch for inference), CPU ms per image."""
    table = Table(title=title)
    for header in ("stage", "workers", "wall ms", "CPU ms / image", "share of CPU", "capacity images/s"):
        table.add_column(header, justify="left" if header == "stage" else "right")
    total = pipeline.cpu_ms_per_item or 1.0
    for s in pipeline.stages.values():
        table.add_row(s.name, str(s.workers), f"{s.mean_ms:.1f}", f"{s.cpu_ms_per_item:.1f}",
                      f"{s.cpu_ms_per_item / total:.0%}", f"{s.capacity:.2f}")
    table.add_row("all", "", "", f"{pipeline.cpu_ms_per_item:.1f}", "100%",
                  f"{pipeline.cpu_bound:.2f} (CPU bound, {pipeline.cores} cores)")
    return table


def e2e_ranks_table(rows: Sequence, title: str | None = None) -> Table:
    """Under torchrun: each process's pure and end-to-end images/s per engine and batch, then their total."""
    table = Table(title=title)
    for header in ("engine", "batch", "rank", "pure images/s", "e2e images/s"):
        table.add_column(header, justify="left" if header == "engine" else "right")
    for row in rows:
        for r in row.ranks:
            table.add_row(row.engine, str(row.batch), str(r.rank), f"{r.pure_images_per_s:.2f}",
                          f"{r.e2e_images_per_s:.2f}")
        table.add_row(row.engine, str(row.batch), "all", f"{row.pure_images_per_s:.2f}",
                      f"{row.e2e_images_per_s:.2f}", style="bold", end_section=True)
    return table


def ranks_table(ranks: Sequence, title: str | None = None) -> Table:
    """Per torchrun process: images it computed, finished ones it took over, its seconds and images/s;
    the last row is the run's (images/s = all images computed / the slowest process's seconds)."""
    rows = [(r.rank, r.written, r.already_done, f"{r.seconds:.2f}", f"{r.images_per_second:.2f}") for r in ranks]
    written, seconds = sum(r.written for r in ranks), max((r.seconds for r in ranks), default=0.0)
    rows.append(("all", written, sum(r.already_done for r in ranks), f"{seconds:.2f}",
                 f"{written / seconds if seconds > 0 else 0.0:.2f}"))
    return rows_table(("rank", "computed", "already done", "seconds", "images/s"), rows, title,
                      styles=[""] * len(ranks) + ["bold"])


def rows_table(headers: Sequence[str], rows: Sequence[Sequence[object]], title: str | None = None,
               styles: Sequence[str] = ()) -> Table:
    """A plain table of already formatted rows (first column left-aligned); `styles[i]` styles row i."""
    table = Table(title=title)
    for k, header in enumerate(headers):
        table.add_column(header, justify="left" if k == 0 else "right")
    for i, row in enumerate(rows):
        table.add_row(*(str(cell) for cell in row), style=(styles[i] if i < len(styles) else None) or None)
    return table
