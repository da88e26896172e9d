"""ONNX parity of every model at its native network input (random weights): export, check, ORT vs eager.

    .venv/bin/python benchmarks/parity.py                      # every model
    .venv/bin/python benchmarks/parity.py --models fastscnn_cityscapes,icnet_r50_cityscapes

Prints one table (params, GFLOPs, export seconds, max |Δlogit|, argmax agreement) and writes
benchmarks/results/parity.json. Full-size models are slow on a small CPU (Segmenter-L: ~16 s per
768x768 window per engine), which is why the test suite checks parity on tiny variants instead.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from segdeploy.export.onnx_export import check_parity, default_input_hw, export_onnx
from segdeploy.models import MODELS
from segdeploy.reporting.atomic import write_json_atomic
from segdeploy.reporting.zoo import zoo_rows

HERE = Path(__file__).resolve().parent


def measure(name: str, dynamic: bool) -> dict:
    spec = MODELS[name]
    torch.manual_seed(0)
    model = spec.build().eval()
    hw = default_input_hw(spec)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        path = export_onnx(model, Path(tmp) / "model.onnx", (1, 3, *hw), dynamic_batch=dynamic)
        seconds = time.perf_counter() - started
        parity = check_parity(model, path, (1, 3, *hw))
    return {"model": name, "input_hw": hw, "dynamic_batch": dynamic, "export_s": seconds,
            "max_abs_diff": parity.max_abs_diff, "argmax_agreement": parity.argmax_agreement}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--dynamic-batch", action="store_true")
    args = parser.parse_args()
    names = args.models.split(",")
    costs = {row.spec.name: row for row in zoo_rows([MODELS[n] for n in names])}
    table = Table(title="ONNX Runtime vs eager PyTorch at the native network input (random weights, fp32)")
    for column in ("model", "input", "params (M)", "GFLOPs", "export s", "max |Δlogit|", "argmax agreement"):
        table.add_column(column)
    results = []
    for name in names:
        row = measure(name, args.dynamic_batch)
        row.update(params=costs[name].params, gflops=costs[name].gflops)
        results.append(row)
        table.add_row(name, "x".join(map(str, row["input_hw"])), f"{row['params'] / 1e6:.2f}", f"{row['gflops']:.1f}",
                      f"{row['export_s']:.0f}", f"{row['max_abs_diff']:.2e}", f"{row['argmax_agreement']:.4%}")
    Console(width=160).print(table)
    write_json_atomic(HERE / "results" / "parity.json", results)


if __name__ == "__main__":
    main()
