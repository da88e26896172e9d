"""`verify` of every model at its native network input: export, ONNX Runtime vs eager PyTorch, and the bisect.

    .venv/bin/python benchmarks/parity.py                                   # every model
    .venv/bin/python benchmarks/parity.py --models fastscnn_cityscapes,fcn_r50_d8_voc --bisect --dynamic-hw

Each model runs in its own process, so its peak RSS (export + verify + bisect) is its own. Fast-SCNN
loads the shipped synthetic-scenes checkpoint (trained logits); the others run random weights
(seed 0), whose logits are small, so read their |Δlogit| against their own magnitude. With
--dynamic-hw the file leaves H and W free and is verified at three sizes (`export.run.check_sizes`).
Prints one table and writes benchmarks/results/parity.json (parity_dynamic_hw.json with --dynamic-hw). Segmenter-L is slow here (~16 s per
768x768 window per engine on 2 cores), which is why the test suite verifies the tiny variants.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from segdeploy.demo import DEMO_MODEL, demo_checkpoint
from segdeploy.export.onnx_export import ExportShape, default_input_hw, export_program, save_program
from segdeploy.export.run import check_sizes
from segdeploy.models import MODELS, build_model
from segdeploy.reporting.atomic import write_json_atomic
from segdeploy.runtime.machine import machine_info
from segdeploy.runtime.onnxruntime_backend import OnnxRuntimeBackend
from segdeploy.verify.run import VerifyConfig, verify_engine

HERE = Path(__file__).resolve().parent


def measure(name: str, dynamic_hw: bool, bisect: bool) -> dict:
    """One model, in this process: export, verify (and bisect), with timings and peak RSS."""
    spec = MODELS[name]
    torch.manual_seed(0)
    checkpoint = demo_checkpoint() if name == DEMO_MODEL else None
    model = build_model(spec, checkpoint)
    shape = ExportShape(1, *default_input_hw(spec), dynamic_hw=dynamic_hw, size_divisor=spec.size_divisor)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        program = export_program(model, shape)
        path = save_program(program, Path(tmp) / "model.onnx")
        export_s = time.perf_counter() - started
        sizes = check_sizes(shape)
        config = VerifyConfig(random_sizes=sizes, images=len(sizes), onnx=path,
                              bisect="always" if bisect else "never", show_progress=False)
        started = time.perf_counter()
        result = verify_engine(spec, model, OnnxRuntimeBackend(path), config, program)
        verify_s = time.perf_counter() - started
    first = result.bisect.first_failure if result.bisect is not None else None
    verification = result.to_json()
    if verification["bisect"] is not None:  # the counts and the first failure; not every value's record
        del verification["bisect"]["values"]
    return {"model": name, "weights": "synthetic-scenes checkpoint" if checkpoint else "random (seed 0)",
            "sizes": sizes, "dynamic_hw": dynamic_hw, "export_s": export_s, "verify_and_bisect_s": verify_s,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "bisect_values": None if result.bisect is None else len(result.bisect.compared),
            "bisect_runs": None if result.bisect is None else result.bisect.engine_runs,
            "bisect_first_failure": None if first is None else first.node, "verify": verification}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--dynamic-hw", action="store_true", help="export with H and W free, verify at 3 sizes")
    parser.add_argument("--bisect", action="store_true", help="also compare every intermediate value")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # one model, JSON on stdout
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.worker, args.dynamic_hw, args.bisect)))
        return
    rows = [_in_subprocess(name, args) for name in args.models.split(",")]
    info = machine_info()
    table = Table(title="verify: ONNX Runtime vs eager PyTorch fp32 at the native network input "
                        f"({'dynamic' if args.dynamic_hw else 'static'} H/W; {info['cpu']}, {info['cores']} cores, "
                        f"torch {info['torch']}, onnxruntime {info['onnxruntime']})")
    for column in ("model", "weights", "sizes", "export s", "verify s", "max |Δlogit|", "max |PyTorch logit|", "agreement",
                   "passed", "bisect values / runs", "peak RSS MB"):
        table.add_column(column)
    for row in rows:
        v = row["verify"]
        table.add_row(row["model"], row["weights"], ", ".join(f"{h}x{w}" for h, w in row["sizes"]),
                      f"{row['export_s']:.0f}", f"{row['verify_and_bisect_s']:.0f}", f"{v['overall']['max_abs']:.2e}",
                      f"{v['overall']['reference_max_abs']:.3g}", f"{v['overall']['agreement']:.4%}",
                      str(v["passed"]), "-" if row["bisect_values"] is None else
                      f"{row['bisect_values']} / {row['bisect_runs']}", f"{row['peak_rss_mb']:,.0f}")
    Console(width=200).print(table)
    write_json_atomic(HERE / "results" / f"parity{'_dynamic_hw' if args.dynamic_hw else ''}.json",
                      {"machine": info, "models": rows})


def _in_subprocess(name: str, args: argparse.Namespace) -> dict:
    argv = [sys.executable, __file__, "--worker", name] + ["--dynamic-hw"] * args.dynamic_hw + ["--bisect"] * args.bisect
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{name}: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
