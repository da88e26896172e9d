"""`infer --evaluate` on 1 and N torchrun processes over the same data: time, images/s, metrics, same bytes?

    .venv/bin/python benchmarks/scale_out.py                                  # demo checkpoint, 1 and 2 processes
    .venv/bin/python benchmarks/scale_out.py --processes 1,2,4 --images 96 --size 256x512 --threads 1

Generates a synthetic Cityscapes-layout set (unseen seed), runs the demo Fast-SCNN checkpoint with the
torch engine (or `--onnx FILE` with ONNX Runtime) once per process count, each process with `--threads`
intra-op threads, and prints one table: wall seconds of the whole command (start-up included), the
slowest process's inference seconds, images/s, mIoU, and whether every prediction file and metrics.json
equal those of the first run. Writes benchmarks/results/scale_out.json with the CPU and library versions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_engines import results_markdown
from rich.console import Console
from rich.table import Table

import segdeploy
from segdeploy.argtypes import int_list, size_arg
from segdeploy.data.synthetic import generate_cityscapes_like
from segdeploy.reporting.atomic import write_json_atomic, write_text_atomic
from segdeploy.runtime.machine import machine_info

HERE = Path(__file__).resolve().parent
DEMO_CHECKPOINT = Path(segdeploy.__file__).parent / "assets" / "fastscnn_synthetic.pth"


def run(processes: int, data: Path, output: Path, args: argparse.Namespace) -> dict:
    launch = ([sys.executable, "-m", "segdeploy"] if processes == 1 else
              [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes),
               "-m", "segdeploy"])
    weights = ["--onnx", str(args.onnx)] if args.onnx else ["--checkpoint", str(args.checkpoint)]
    command = [*launch, "--threads", str(args.threads), "infer", "--model", args.model, *weights,
               "--data-root", str(data), "--output", str(output), "--batch", str(args.batch), "--evaluate"]
    env = os.environ | {"OMP_NUM_THREADS": str(args.threads), "GLOO_SOCKET_IFNAME": "lo"}
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    (run_dir,) = [p for p in output.iterdir() if p.is_dir()]
    summary = json.loads((output / f"{run_dir.name}_summary.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    files = {p.name: p.read_bytes() for p in sorted(run_dir.iterdir())}
    return {"processes": processes, "wall_s": wall, "inference_s": summary["seconds"],
            "images_per_s": summary["images_per_second"], "images": metrics["images"], "mIoU": metrics["mIoU"],
            "aAcc": metrics["aAcc"], "mAcc": metrics["mAcc"], "files": files}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="fastscnn_cityscapes")
    parser.add_argument("--checkpoint", type=Path, default=DEMO_CHECKPOINT)
    parser.add_argument("--onnx", type=Path, help="run ONNX Runtime on this file instead of the checkpoint")
    parser.add_argument("--processes", type=int_list, default=[1, 2])
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads per process")
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--size", type=size_arg, default=(256, 512))
    parser.add_argument("--batch", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        generate_cityscapes_like(data, "val", args.images, size=args.size, seed=11)
        results = [run(p, data, Path(tmp) / f"out{p}", args) for p in args.processes]
    first = results[0]["files"]
    table = Table(title=f"{args.model}: infer --evaluate on {args.images} synthetic {args.size[0]}x{args.size[1]} "
                        f"images, batch {args.batch}, {args.threads} thread(s) per process")
    for column in ("processes", "wall s", "inference s", "images/s", "x 1 process", "mIoU", "aAcc", "same bytes"):
        table.add_column(column, justify="right")
    for r in results:
        r["same_files_as_first"] = r.pop("files") == first
        r["speedup"] = r["images_per_s"] / results[0]["images_per_s"]
        table.add_row(str(r["processes"]), f"{r['wall_s']:.1f}", f"{r['inference_s']:.2f}", f"{r['images_per_s']:.2f}",
                      f"{r['speedup']:.2f}", f"{100 * r['mIoU']:.2f}", f"{100 * r['aAcc']:.2f}",
                      "yes" if r["same_files_as_first"] else "NO")
    Console(width=160).print(table)
    write_json_atomic(HERE / "results" / "scale_out.json", {"machine": machine_info(), "args": vars(args) | {
        "checkpoint": str(args.checkpoint), "onnx": str(args.onnx) if args.onnx else None}, "results": results,
        "command": " ".join(["benchmarks/scale_out.py", *sys.argv[1:]])})
    write_text_atomic(HERE / "RESULTS.md", results_markdown(HERE / "results"))


if __name__ == "__main__":
    main()
