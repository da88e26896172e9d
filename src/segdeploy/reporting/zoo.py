"""`segdeploy models`: what each model is and what it costs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from rich.table import Table
from torch.utils.flop_counter import FlopCounterMode

from segdeploy.export.onnx_export import default_input_hw
from segdeploy.models.spec import ModelSpec


@dataclass(frozen=True)
class ZooRow:
    spec: ModelSpec
    params: int
    gflops: float | None  # per network input (one window for sliding models); 2 FLOPs per multiply-add


def forward_flops(model: torch.nn.Module, input_hw: tuple[int, int]) -> float:
    """FLOPs of one eval forward at `input_hw`, as torch.utils.flop_counter counts them (2 per MAC).

    Counted on the model's device; on the meta device nothing is computed, and attention is counted
    (on real CPU tensors the fused CPU attention kernel is invisible to the counter).
    """
    device = next(model.parameters()).device
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model.eval()(torch.zeros(1, 3, *input_hw, device=device))
    return float(counter.get_total_flops())


def spec_flops(spec: ModelSpec, input_hw: tuple[int, int], tiny: bool = False) -> float:
    """FLOPs of `spec`'s network at `input_hw`, built on the meta device (no weights, no compute)."""
    with torch.device("meta"):
        model = spec.build(**spec.tiny) if tiny else spec.build()
    return forward_flops(model, input_hw)


def zoo_rows(specs: Iterable[ModelSpec], with_flops: bool = True) -> list[ZooRow]:
    """Build each model on the meta device (no memory, no compute) to count parameters and FLOPs."""
    rows = []
    for spec in specs:
        with torch.device("meta"):
            params = sum(p.numel() for p in spec.build().parameters())
        gflops = spec_flops(spec, default_input_hw(spec)) / 1e9 if with_flops else None
        rows.append(ZooRow(spec, params, gflops))
    return rows


def models_table(rows: list[ZooRow]) -> Table:
    table = Table(title="segdeploy models (GFLOPs: 2 FLOPs per multiply-add, eval forward of one network "
                        "input: the image, or one window for sliding models)")
    for column in ("model", "params (M)", "GFLOPs", "input", "inference", "dataset", "classes", "reference (%)"):
        table.add_column(column)
    for row in rows:
        spec = row.spec
        mode = f"slide {spec.slide.window}/{spec.slide.stride}" if spec.slide else "whole"
        reference = ", ".join(f"{k} {v}" for k, v in spec.reference_metrics.items())
        table.add_row(spec.name, f"{row.params / 1e6:.2f}", "-" if row.gflops is None else f"{row.gflops:.1f}",
                      f"{spec.input_size[0]}x{spec.input_size[1]}", mode, spec.dataset, str(spec.num_classes),
                      reference)
    return table
