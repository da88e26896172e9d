"""The report's plots, made with matplotlib's Agg renderer and returned as PNG bytes.

Plain data in, PNG bytes out: no pyplot (no global figure state, no display needed), so the
plots render the same in a test, a CI job or a headless server. matplotlib is imported in
`_figure` only: it takes about a second, and only the commands that plot pay it.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

DPI = 100


@dataclass(frozen=True)
class SpeedPoint:
    """One candidate on the accuracy-vs-speed plane."""

    label: str
    throughput: float  # images/s
    miou: float  # percent
    passed: bool
    pareto: bool = False
    chosen: bool = False


def _figure(width: float, height: float):
    # deferred: matplotlib is heavy and only the plotting commands need it
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")  # a Figure without pyplot renders with the Agg canvas
    return buffer.getvalue()


def throughput_vs_batch(series: Mapping[str, Sequence[tuple[int, float]]], unit: str = "images") -> bytes:
    """One line per engine setting: throughput at each batch size it was timed at."""
    fig = _figure(8, 4.5 + 0.18 * len(series))
    ax = fig.add_subplot()
    for label, points in series.items():
        points = sorted(points)
        ax.plot([b for b, _ in points], [v for _, v in points], marker="o", label=label)
    batches = sorted({b for points in series.values() for b, _ in points})
    ax.set_xscale("log", base=2)
    ax.set_xticks(batches, [str(b) for b in batches])
    ax.set_xlabel("batch size")
    ax.set_ylabel(f"{unit}/s")
    ax.set_title(f"throughput vs batch size ({unit} per second, pure inference)")
    ax.grid(True, alpha=0.3)
    if series:
        fig.legend(loc="outside lower center", fontsize="small", ncols=2)
    return _png(fig)


def latency_distribution(latencies_ms: Mapping[str, Sequence[float]]) -> bytes:
    """A box per candidate: its per-call latencies (one call = one batch), log scale."""
    labels = list(latencies_ms)
    fig = _figure(8, max(2.5, 0.32 * len(labels) + 1.2))
    ax = fig.add_subplot()
    if labels:
        ax.boxplot([list(latencies_ms[k]) for k in labels], orientation="horizontal", tick_labels=labels,
                   showfliers=True, flierprops={"markersize": 3})
        ax.set_xscale("log")
        ax.invert_yaxis()  # the search's order, top to bottom
        ax.tick_params(axis="x", which="minor", labelbottom=False)  # 2x10^1, 3x10^1... would overlap
    ax.set_xlabel("latency of one call (ms, log scale)")
    ax.set_title("latency distribution per candidate (box: quartiles, whiskers: 1.5 IQR)")
    ax.tick_params(axis="y", labelsize="small")
    ax.grid(True, axis="x", alpha=0.3)
    return _png(fig)


def accuracy_vs_speed(points: Sequence[SpeedPoint], min_miou: float | None = None) -> bytes:
    """mIoU against throughput: passing and failed candidates, the Pareto front, the chosen point."""
    fig = _figure(8, 5)
    ax = fig.add_subplot()
    for passed, style in ((True, {"marker": "o", "color": "tab:blue", "label": "passed"}),
                          (False, {"marker": "x", "color": "tab:red", "label": "failed the accuracy gate"})):
        chosen = [p for p in points if p.passed == passed]
        if chosen:
            ax.scatter([p.throughput for p in chosen], [p.miou for p in chosen], **style)
    front = sorted((p for p in points if p.pareto), key=lambda p: p.throughput)
    if front:
        ax.plot([p.throughput for p in front], [p.miou for p in front], "--", color="tab:green",
                label="Pareto front")
    for p in points:
        if p.chosen:
            ax.scatter([p.throughput], [p.miou], s=260, facecolors="none", edgecolors="black", linewidths=2,
                       label=f"chosen: {p.label}")
    if min_miou is not None:
        ax.axhline(min_miou, color="tab:red", alpha=0.4, linestyle=":", label="accuracy gate")
    ax.set_xlabel("throughput (images/s)")
    ax.set_ylabel("mIoU (%)")
    ax.set_title("accuracy vs speed: every candidate")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return _png(fig)


def per_class_iou(classes: Sequence[str], iou_percent: Mapping[str, Sequence[float]]) -> bytes:
    """One row per class, one marker per engine at its IoU (a class absent from labels and predictions
    has none): engines that agree sit on top of each other, a class an engine loses stands out."""
    engines = list(iou_percent)
    fig = _figure(8, 0.3 * len(classes) + 1.6)
    ax = fig.add_subplot()
    rows = np.arange(len(classes))
    markers = "osD^vP*Xph"
    for k, engine in enumerate(engines):
        values = np.asarray(iou_percent[engine], dtype=float)
        offset = (k - (len(engines) - 1) / 2) * 0.12  # side by side within the class's row
        ax.scatter(values, rows + offset, marker=markers[k % len(markers)], s=28, alpha=0.8, label=engine)
    ax.set_yticks(rows, list(classes), fontsize="small")
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("IoU (%)")
    ax.set_title("per-class IoU per engine")
    ax.grid(True, alpha=0.3)
    if engines:
        fig.legend(loc="outside lower center", fontsize="small", ncols=min(4, len(engines)))
    return _png(fig)


def confusion_matrix(matrix: np.ndarray, classes: Sequence[str], title: str) -> bytes:
    """Rows = label, columns = prediction, each row normalised to 100% (counts of in-range classes)."""
    counts = np.asarray(matrix, dtype=np.float64)[: len(classes), : len(classes)]
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts * 100, totals, out=np.zeros_like(counts), where=totals > 0)
    size = max(4.0, 0.38 * len(classes) + 2)
    fig = _figure(size + 1, size)
    ax = fig.add_subplot()
    shown = ax.imshow(share, cmap="Blues", vmin=0, vmax=100)
    ax.set_xticks(range(len(classes)), list(classes), rotation=90, fontsize="small")
    ax.set_yticks(range(len(classes)), list(classes), fontsize="small")
    ax.set_xlabel("predicted")
    ax.set_ylabel("label")
    ax.set_title(title)
    if len(classes) <= 12:
        for (i, j), value in np.ndenumerate(share):
            ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize="x-small",
                    color="white" if value > 50 else "black")
    fig.colorbar(shown, ax=ax, label="% of the label's pixels")
    return _png(fig)


def image_grid(rows: Sequence[tuple[str, Sequence[tuple[str, np.ndarray]]]]) -> bytes:
    """Rows of (row title, [(column title, (H, W, 3) uint8 image), ...]) side by side."""
    columns = max((len(images) for _, images in rows), default=1)
    aspect = max((img.shape[1] / img.shape[0] for _, images in rows for _, img in images), default=1.0)
    fig = _figure(min(16, 2.6 * columns * min(aspect, 2.5)), 2.8 * max(1, len(rows)))
    axes = fig.subplots(max(1, len(rows)), columns, squeeze=False)
    for r, (row_title, images) in enumerate(rows):
        for c in range(columns):
            ax = axes[r][c]
            ax.set_axis_off()
            if c < len(images):
                title, img = images[c]
                ax.imshow(img, interpolation="nearest")
                ax.set_title(title if c else f"{row_title}\n{title}", fontsize="small")
    return _png(fig)
