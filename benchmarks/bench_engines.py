"""Engines side by side at each model's native input on this machine; checks the issue-5 CPU targets.

    .venv/bin/python benchmarks/bench_engines.py                       # demo, fcn, icnet, fastscnn
    .venv/bin/python benchmarks/bench_engines.py --cases demo --loop 10

Per case: torch eager fp32, torch-opt, onnxruntime, onnxruntime-int8 and openvino in one run at batch 1
and larger batches (the best one is reported), the demo model also through the accuracy gate, and an
ONNX Runtime operator profile. Writes benchmarks/results/<case>.json and rewrites benchmarks/RESULTS.md
from every results file present. A benchmark, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from e2e_report import e2e_markdown
from rich.console import Console

from segdeploy.benchmark.compare import (
    THROUGHPUT_NOTE,
    BenchConfig,
    BenchReport,
    model_factory,
    prepare_engine_files,
    run_accuracy,
    run_bench,
)
from segdeploy.benchmark.profile import ort_op_profile
from segdeploy.models import get_spec
from segdeploy.reporting.atomic import write_json_atomic, write_text_atomic
from segdeploy.reporting.tables import accuracy_ladder_table, engines_table

HERE = Path(__file__).resolve().parent
ENGINES = ("torch", "torch-opt", "onnxruntime", "onnxruntime-int8", "openvino")
PEERS = ("torch", "openvino")  # what the best segdeploy engine is compared with, not candidates for it
DEMO_CHECKPOINT = HERE.parent / "src" / "segdeploy" / "assets" / "fastscnn_synthetic.pth"
FCN_GFLOPS = 383  # per 500x500 image, the issue's figure for the % of peak target


@dataclass(frozen=True)
class Case:
    model: str
    hw: tuple[int, int]
    batches: tuple[int, ...]
    checkpoint: Path | None = None
    accuracy: bool = False


CASES = {
    "demo": Case("fastscnn_cityscapes", (256, 512), (1, 2, 4, 8),
                 DEMO_CHECKPOINT if DEMO_CHECKPOINT.is_file() else None, accuracy=True),
    "fcn": Case("fcn_r50_d8_voc", (500, 500), (1, 2)),
    "icnet": Case("icnet_r50_cityscapes", (1024, 2048), (1, 2)),
    "fastscnn": Case("fastscnn_cityscapes", (1024, 2048), (1, 2)),
    "segmenter": Case("segmenter_vitl16_mask_cityscapes", (768, 768), (1,)),  # one window; slow, opt-in
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="demo,fcn,icnet,fastscnn", help=f"comma-separated: {', '.join(CASES)}")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--loop", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, default=HERE / "work")
    parser.add_argument("--engines", default=",".join(ENGINES),
                        help="comma-separated subset (e.g. skip int8 calibration of Segmenter-L)")
    args = parser.parse_args()
    console = Console(width=160)
    for name in args.cases.split(","):
        started = time.perf_counter()
        result = run_case(name, CASES[name], args, console)
        result["seconds"] = time.perf_counter() - started
        write_json_atomic(HERE / "results" / f"{name}.json", result)
    write_text_atomic(HERE / "RESULTS.md", results_markdown(HERE / "results"))
    console.print(f"wrote {HERE / 'RESULTS.md'}")


def run_case(name: str, case: Case, args, console: Console) -> dict:
    spec = get_spec(case.model)
    loop = 1 if name == "segmenter" else args.loop
    engines = tuple(args.engines.split(","))
    config = BenchConfig(engines=engines, batches=case.batches, warmup=args.warmup, loop=loop, input_hw=case.hw,
                         checkpoint=case.checkpoint, work_dir=args.work_dir, show_progress=False)
    console.rule(f"[bold]{name}: {spec.name} @ {case.hw[0]}x{case.hw[1]}")
    report = run_bench(spec, config, log=console.print)
    console.print(engines_table(report, title=f"{name}: {spec.name} @ {case.hw[0]}x{case.hw[1]}"))
    console.print(THROUGHPUT_NOTE, highlight=False)
    result = {"case": name, "machine": machine(), **report.to_json(), "targets": targets(name, report)}
    if case.accuracy:
        result["accuracy"] = demo_accuracy(spec, config, report, args.work_dir, console)
    result["profile"] = profile(spec, config, case, console, with_int8="onnxruntime-int8" in engines)
    console.print(json.dumps(result["targets"], indent=1))
    return result


def demo_accuracy(spec, config: BenchConfig, report: BenchReport, work_dir: Path, console: Console) -> dict:
    from segdeploy.data.synthetic import generate_cityscapes_like

    data = work_dir / "demo_data"
    generate_cityscapes_like(data, "val", 20, size=config.input_hw, seed=1)  # the demo's own val scenes
    accuracy = run_accuracy(spec, config, data, config.input_hw, max_drop=0.5, limit=20,
                            torch_options=report.torch_options, log=console.print)
    console.print(accuracy_ladder_table(accuracy, title="demo accuracy gate: 20 synthetic val scenes vs torch fp32"))
    return accuracy.to_json(spec.classes)


def profile(spec, config: BenchConfig, case: Case, console: Console, with_int8: bool) -> dict:
    """Top ONNX Runtime op types at batch 1 for the fp32 (and int8) files."""
    files = prepare_engine_files(spec, config, case.hw, model_factory(spec, case.checkpoint, False),
                                 {"int8"} if with_int8 else {"fp32"}, console.print)
    x = np.random.default_rng(0).standard_normal((1, 3, *case.hw), dtype=np.float32)
    out = {}
    paths = [("onnxruntime fp32", files.fp32)] + ([("onnxruntime int8", files.int8)] if with_int8 else [])
    for label, path in paths:
        ops = ort_op_profile(path, x)
        out[label] = [{"op": op, "ms": ms, "share": share} for op, ms, share in ops]
        console.print(f"{label} top ops: " + ", ".join(f"{op} {share:.0%}" for op, _, share in ops))
    return out


def best(report: BenchReport, engines: tuple[str, ...]) -> dict | None:
    row = report.best(engines)
    if row is None:
        return None
    return {"engine": row.timing.engine, "batch": row.timing.batch, "images_per_s": row.timing.samples_per_s,
            "percent_of_peak": row.percent_of_peak}


def targets(name: str, report: BenchReport) -> dict:
    """The issue's targets, each with the measured ratio (best batch of each engine vs best batch)."""
    ours = best(report, tuple(e for e in ENGINES if e not in PEERS))
    torch_eager, openvino = best(report, ("torch",)), best(report, ("openvino",))
    out = {"best_engine": ours, "torch_eager_best": torch_eager, "openvino_fp32_best": openvino}
    if ours and torch_eager:
        out["best_vs_torch"] = ours["images_per_s"] / torch_eager["images_per_s"]
        out["best_vs_torch_target_2x_met"] = out["best_vs_torch"] >= 2.0
    if ours and openvino:
        out["best_vs_openvino"] = ours["images_per_s"] / openvino["images_per_s"]
        out["best_vs_openvino_target_1.5x_met"] = out["best_vs_openvino"] >= 1.5
    ort = best(report, ("onnxruntime",))
    if name == "fcn" and ort:
        out["ort_fp32_percent_of_peak"] = ort["percent_of_peak"]
        out["ort_fp32_percent_of_peak_at_383_gflops"] = (FCN_GFLOPS * ort["images_per_s"]
                                                         / report.peak.gflops * 100)
        out["ort_fp32_70pct_target_met"] = out["ort_fp32_percent_of_peak_at_383_gflops"] >= 70
    return out


def machine() -> dict:
    import onnxruntime
    import torch

    from segdeploy.runtime.machine import physical_cores

    info = {"cpu": platform.processor() or platform.machine(), "cores": physical_cores(), "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__}
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        info["cpu"] = names[0] if names else info["cpu"]
    try:
        import openvino

        info["openvino"] = openvino.__version__
    except ImportError:
        info["openvino"] = None
    return info


def results_markdown(folder: Path) -> str:
    parts = ["# segdeploy CPU benchmarks", "", "Written by `benchmarks/bench_engines.py`; rerun it to refresh.",
             "", THROUGHPUT_NOTE, ""]
    for path in (folder / f"{name}.json" for name in CASES):  # other scripts' results live here too
        if not path.is_file():
            continue
        r = json.loads(path.read_text())
        hw = r["input_hw"]
        parts += [f"## {r['case']}: {r['model']} @ {hw[0]}x{hw[1]}", "",
                  f"{r['machine']['cpu']}, {r['machine']['cores']} cores; fp32 matmul peak "
                  f"{r['matmul_peak']['gflops']:.0f} GFLOP/s ({r['matmul_peak']['library']}); "
                  f"{r['gflops_per_sample']:.1f} GFLOPs per image; run took {r.get('seconds', 0):.0f} s.", "",
                  "| engine | batch | images/s | p50 ms | p90 ms | p99 ms | × torch | GFLOP/s | % peak | peak RSS MB |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for row in r["results"]:
            if row["status"] != "ok":
                parts.append(f"| {row['engine']} | {row['batch']} | skipped: {row['reason']} | | | | | | | |")
                continue
            parts.append(f"| {row['engine']} | {row['batch']} | {row['samples_per_s']:.2f} | {row['p50_ms']:.1f} | "
                         f"{row['p90_ms']:.1f} | {row['p99_ms']:.1f} | {_f(row['ratio_to_torch'], '.2f')} | "
                         f"{_f(row['gflops_per_s'], '.0f')} | {_f(row['percent_of_peak'], '.0f')} | "
                         f"{row['peak_rss_mb']:.0f} |")
        details = {row["engine"]: row["detail"] for row in r["results"] if row.get("detail")}
        parts += [""] + [f"- {engine}: {detail}" for engine, detail in details.items()]
        parts += ["", "Targets: `" + json.dumps(r["targets"]) + "`", ""]
        if "accuracy" in r:
            parts += ["| engine | Δ aAcc | Δ mAcc | Δ mIoU | pixel agreement | max abs Δlogit | gate |",
                      "|---|---:|---:|---:|---:|---:|---|"]
            parts += [f"| {e['engine']} | {e['d_aAcc']:+.3f} | {e['d_mAcc']:+.3f} | {e['d_mIoU']:+.3f} | "
                      f"{e['pixel_agreement']:.4%} | {e['max_abs_dlogit']:.3g} | {'pass' if e['passed'] else 'FAILED'} |"
                      for e in r["accuracy"]["engines"]]
            parts.append("")
        for label, ops in r.get("profile", {}).items():
            parts.append(f"- {label} profile: " + ", ".join(f"{o['op']} {o['share']:.0%}" for o in ops))
        parts.append("")
    parts += e2e_markdown(folder)  # bench_e2e.py's section, so a rewrite here keeps it
    return "\n".join(parts)


def _f(value: float | None, fmt: str) -> str:
    return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else format(value, fmt)


if __name__ == "__main__":
    main()
