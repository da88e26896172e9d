"""Rich tables of `segdeploy verify`, its bisect, and the export preflight (printing is the caller's)."""

from __future__ import annotations

import math

from rich.table import Table

from segdeploy.export.preflight import Preflight
from segdeploy.reporting.tables import percent
from segdeploy.verify.bisect import BisectResult
from segdeploy.verify.run import VerifyResult

MAX_ROWS = 20  # images listed; the JSON has them all
BEFORE_FIRST_FAILURE = 2  # passing values shown before the bisect's first failure


def _g(value: float) -> str:
    return "nan" if math.isnan(value) else ("inf" if math.isinf(value) else f"{value:.3g}")


def _shape(shape) -> str:
    return "x".join(map(str, shape))


def verify_table(result: VerifyResult) -> Table:
    """Per image (or random input) and overall: |Δlogit|, relative Δ, argmax agreement, verdict."""
    verdict = "[green]passed" if result.passed else "[red]FAILED"
    table = Table(title=f"{result.model}: {result.engine} vs PyTorch fp32 on {result.source}: {verdict}")
    for header in ("input", "network input", "max |Δlogit|", "mean |Δlogit|", "max rel Δ", "argmax agreement",
                   "non-finite", "status"):
        table.add_column(header, justify="left" if header in ("input", "network input", "status") else "right")
    failing_first = sorted(result.images, key=lambda image: not image.failures)[:MAX_ROWS]
    for image in sorted(failing_first, key=result.images.index):
        shapes = _shape(image.input_shapes[0]) + (f" x{len(image.input_shapes)}" if len(image.input_shapes) > 1 else "")
        d = image.diff
        table.add_row(image.name, shapes, _g(d.max_abs), _g(d.mean_abs), _g(d.max_rel), f"{d.agreement:.4%}",
                      f"{d.nonfinite:,}", "ok" if not image.failures else "[red]FAILED")
    if len(result.images) > MAX_ROWS:
        table.add_row(f"... {len(result.images) - MAX_ROWS} more in the JSON", *[""] * 7)
    if result.overall is not None:
        d = result.overall
        table.add_section()
        table.add_row(f"all {len(result.images)}", "", _g(d.max_abs), _g(d.mean_abs), _g(d.max_rel), f"{d.agreement:.4%}",
                      f"{d.nonfinite:,}", "ok" if result.passed else "[red]FAILED", style="bold")
    return table


def verify_metrics_table(result: VerifyResult) -> Table:
    """aAcc / mAcc / mIoU of PyTorch and the engine, then every class's IoU and Δ IoU (points)."""
    m = result.metrics
    assert m is not None, "only for a verification with labels"
    table = Table(title=f"segmentation metrics vs PyTorch fp32 ({result.engine}; Δ in points)")
    for header in ("metric / class", "PyTorch", result.engine, "Δ"):
        table.add_column(header, justify="left" if header == "metric / class" else "right")
    for name, delta in (("aAcc", m.d_aAcc), ("mAcc", m.d_mAcc), ("mIoU", m.d_mIoU)):
        table.add_row(name, percent(getattr(m.reference, name)), percent(getattr(m.engine, name)),
                      _signed(delta), style="bold")
    table.add_section()
    for i, name in enumerate(result.classes):
        table.add_row(f"IoU {name}", percent(float(m.reference.IoU[i])), percent(float(m.engine.IoU[i])),
                      _signed(float(m.d_class_iou[i])))
    return table


def _signed(delta: float) -> str:
    return "-" if math.isnan(delta) else f"{round(delta, 3) + 0.0:+.3f}"  # + 0.0: no "-0.000"


def bisect_table(bisect: BisectResult) -> Table:
    """The first value beyond tolerance in graph order, a few passing ones before it and the next after it."""
    first = bisect.first_failure
    tolerance = f"|Δ| <= {bisect.atol:g} + {bisect.rtol:g}·|PyTorch|"
    if first is None:
        title = f"bisect: all {len(bisect.compared)} compared values within {tolerance}"
        rows = bisect.compared[-BEFORE_FIRST_FAILURE - 1:]
    else:
        title = (f"bisect: first value beyond {tolerance}: {first.op_type} {first.node} "
                 f"(module {first.module or 'top level'})")
        rows = bisect.compared[max(0, first.index - BEFORE_FIRST_FAILURE):]
    table = Table(title=f"{title}; {len(bisect.compared)} of {bisect.comparable} comparable values "
                        f"({bisect.values_in_file} in the file) on a {_shape(bisect.input_shape)} input, "
                        f"{bisect.engine_runs} ONNX Runtime run(s)")
    for header in ("#", "op", "ONNX node", "PyTorch module", "shape", "max |Δ|", "max rel Δ", "status"):
        table.add_column(header, justify="right" if header in ("#", "max |Δ|", "max rel Δ") else "left",
                         overflow="fold")
    for d in rows:
        status = "ok" if d.passed else ("[red bold]FIRST" if d is first else "[red]beyond")
        module = d.module + (f" ({d.module_class.rsplit('.', 1)[-1]})" if d.module_class else "")
        table.add_row(str(d.index), d.op_type, d.node, module, _shape(d.shape), _g(d.max_abs), _g(d.max_rel),
                      status + (f": {d.note}" if d.note else ""), style="bold" if d is first else None)
    if first is not None and first.weights:
        table.caption = f"{first.node} reads {', '.join(first.weights)}"
    return table


def preflight_table(pre: Preflight) -> Table:
    """Frozen shapes, engine support, memory per batch size and file size, one section each."""
    table = Table(title=f"export preflight: {pre.model}, input {_shape(pre.input_shape)}, engine {pre.engine}")
    table.add_column("check")
    table.add_column("finding")
    frozen = [f"static by request: {', '.join(pre.static_axes)}" if pre.static_axes else "every axis asked is dynamic"]
    frozen += [f"[red]{name} fixed at {size} by torch.export although asked dynamic" for name, size in
               pre.frozen_axes.items()]
    frozen += [f"[yellow]{op.op_type} {op.node} ({op.module or 'top level'}) freezes {', '.join(op.axes)}: "
               f"{op.detail}" for op in pre.frozen_ops]
    table.add_row("frozen shapes", "\n".join(frozen))
    if pre.engine_note:
        support = f"[yellow]{pre.engine_note}"
    else:
        support = f"[red]no kernel for: {', '.join(pre.unsupported_ops)}" if pre.unsupported_ops else "every op"
    table.add_row(f"{pre.engine} runs", support)
    table.add_row("peak memory (estimate)", ", ".join(f"batch {b}: {v / 2**20:,.0f} MiB" for b, v in pre.peak_bytes.items())
                  + f" (weights {pre.weight_bytes / 2**20:,.1f} MiB + {pre.activation_bytes_per_sample / 2**20:,.0f} "
                    "MiB of live intermediates per sample; engines add workspace)")
    table.add_row("file size", f"{pre.file_bytes / 1e6:,.1f} MB")
    return table
