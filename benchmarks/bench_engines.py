"""segdeploy's best engine against the best peer configuration, at each model's native input, in one run.

    .venv/bin/python benchmarks/bench_engines.py                       # demo, fcn, icnet, fastscnn, segmenter
    .venv/bin/python benchmarks/bench_engines.py --cases demo --loop 10

Per case, every engine of the precision ladder in one run: the peers as a skilled user runs them with
their own tools (torch eager, torch fp32 and bf16 tuned + compiled, ONNX Runtime fp32, OpenVINO
f32 / bf16 / NNCF int8 with the latency and the throughput hint) and segdeploy's own deployments
(onnxslim, the opset-23 attention export, static int8, accuracy-aware int8). Accuracy decides which
rows may compete: on the demo model the Δ mIoU gate (0.5 points) on its 20 synthetic val scenes; on
random-weight models, pixel agreement ≥ 99 % with PyTorch fp32 on synthetic street scenes. The
targets compare segdeploy's best eligible engine with the best eligible peer (and with the fastest
peer at any accuracy). Writes benchmarks/results/<case>.json and rewrites benchmarks/RESULTS.md from
every results file present. A benchmark, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from e2e_report import e2e_markdown
from rich.console import Console
from scale_out_report import scale_out_markdown

from segdeploy.benchmark.accuracy import DEFAULT_MAX_DROP
from segdeploy.benchmark.catalog import ENGINES
from segdeploy.benchmark.compare import (
    THROUGHPUT_NOTE,
    BenchConfig,
    BenchReport,
    model_factory,
    prepare_engine_files,
    run_accuracy,
    run_bench,
    score_ladder,
)
from segdeploy.benchmark.profile import openvino_op_profile, ort_op_profile
from segdeploy.data.datasets import list_samples
from segdeploy.data.images import read_rgb
from segdeploy.data.synthetic import generate_cityscapes_like
from segdeploy.data.transforms import normalize
from segdeploy.models import get_spec
from segdeploy.reporting.atomic import write_json_atomic, write_text_atomic
from segdeploy.reporting.tables import accuracy_ladder_table, engines_table

HERE = Path(__file__).resolve().parent
ALL_ENGINES = ("torch", "torch-opt", "torch-bf16", "onnxruntime", "onnxruntime-slim", "onnxruntime-fused",
               "onnxruntime-int8", "onnxruntime-int8-aware", "onnxruntime-streams", "onnxruntime-int8-streams", "openvino", "openvino-bf16", "openvino-int8",
               "openvino-throughput", "openvino-bf16-throughput", "openvino-int8-throughput")
DEMO_CHECKPOINT = HERE.parent / "src" / "segdeploy" / "assets" / "fastscnn_synthetic.pth"
TARGET_VS_PEER = 1.3
MIN_AGREEMENT = 0.99  # random-weight models: pixel agreement with torch fp32 that counts as within budget
RESULTS_FORMAT = 2  # results files of earlier versions of this script are not read


@dataclass(frozen=True)
class Case:
    model: str
    hw: tuple[int, int]
    batches: tuple[int, ...]
    checkpoint: Path | None = None
    demo: bool = False  # scored on labelled scenes (Δ mIoU), else by pixel agreement
    accuracy_images: int = 2


CASES = {
    "demo": Case("fastscnn_cityscapes", (256, 512), (1, 2, 4, 8),
                 DEMO_CHECKPOINT if DEMO_CHECKPOINT.is_file() else None, demo=True, accuracy_images=20),
    "fcn": Case("fcn_r50_d8_voc", (500, 500), (1, 2)),
    "icnet": Case("icnet_r50_cityscapes", (1024, 2048), (1, 2)),
    "fastscnn": Case("fastscnn_cityscapes", (1024, 2048), (1, 2)),
    "segmenter": Case("segmenter_vitl16_mask_cityscapes", (768, 768), (1,), accuracy_images=1),  # one window
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated: {', '.join(CASES)}")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--loop", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, default=HERE / "work")
    parser.add_argument("--engines", default=",".join(ALL_ENGINES), help="comma-separated subset")
    args = parser.parse_args()
    console = Console(width=160)
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    for name in args.cases.split(","):
        started = time.perf_counter()
        result = run_case(name, CASES[name], args, console)
        result.update(command=command, seconds=time.perf_counter() - started, format=RESULTS_FORMAT)
        write_json_atomic(HERE / "results" / f"{name}.json", result)
    write_text_atomic(HERE / "RESULTS.md", results_markdown(HERE / "results"))
    console.print(f"wrote {HERE / 'RESULTS.md'}")


def run_case(name: str, case: Case, args, console: Console) -> dict:
    spec = get_spec(case.model)
    loop = 1 if name == "segmenter" else args.loop
    engines = tuple(args.engines.split(","))
    data = args.work_dir / "scenes" / f"{case.hw[0]}x{case.hw[1]}"
    generate_cityscapes_like(data, "val", case.accuracy_images, size=case.hw, seed=1)  # the demo's own val seed
    generate_cityscapes_like(data, "fallback", 8, size=case.hw, seed=5)  # int8-aware keeps its budget here
    config = BenchConfig(engines=engines, batches=case.batches, warmup=args.warmup, loop=loop, input_hw=case.hw,
                         checkpoint=case.checkpoint, work_dir=args.work_dir, show_progress=False,
                         fallback_root=data if case.demo else None, fallback_split="fallback", fallback_images=8)
    title = f"{name}: {spec.name} @ {case.hw[0]}x{case.hw[1]}"
    console.rule(f"[bold]{title}")
    report = run_bench(spec, config, log=console.print)
    console.print(engines_table(report, title=title))
    console.print(THROUGHPUT_NOTE, highlight=False)
    if case.demo:
        accuracy = run_accuracy(spec, config, data, case.hw, DEFAULT_MAX_DROP, case.accuracy_images,
                                report.torch_options, log=console.print)
    else:  # random weights: no labels to score, only agreement with torch fp32's classes
        accuracy = score_ladder(spec, config, synthetic_scenes(spec, data, case.accuracy_images), None,
                                DEFAULT_MAX_DROP, report.torch_options, log=console.print)
    what = "Δ mIoU gate" if case.demo else f"pixel agreement (≥ {MIN_AGREEMENT:.0%} counts)"
    console.print(accuracy_ladder_table(accuracy, title=f"{name}: {what} on {accuracy.images} synthetic scenes "
                                                        "vs torch fp32"))
    eligible = {e.engine for e in accuracy.engines if (e.passed if case.demo else e.pixel_agreement >= MIN_AGREEMENT)}
    result = {"case": name, **report.to_json(), "accuracy": accuracy.to_json(spec.classes),
              "accuracy_rule": what, "eligible": sorted(eligible | {"torch"}),
              "targets": targets(report, eligible | {"torch"})}
    result["profile"] = profile(spec, config, case, console, result["targets"])
    console.print(json.dumps(result["targets"], indent=1))
    return result


def synthetic_scenes(spec, data: Path, count: int) -> np.ndarray:
    """(N, 3, H, W) street scenes normalised as `spec` wants, whatever its data set (VOC models too)."""
    samples = list_samples("cityscapes", data, "val", require_labels=False)[:count]
    return np.stack([normalize(read_rgb(s.image_path), spec.preprocess) for s in samples])


def best(report: BenchReport, engines) -> dict | None:
    row = report.best(tuple(engines))
    if row is None:
        return None
    return {"engine": row.timing.engine, "batch": row.timing.batch, "images_per_s": row.timing.samples_per_s,
            "percent_of_peak": row.percent_of_peak, "detail": row.detail}


def targets(report: BenchReport, eligible: set[str]) -> dict:
    """segdeploy's best eligible engine vs the best eligible peer and the fastest peer (best batch each)."""
    ran = {r.timing.engine for r in report.rows}
    ours = best(report, [n for n in ran & eligible if not ENGINES[n].peer])
    peer = best(report, [n for n in ran & eligible if ENGINES[n].peer])
    fastest_peer = best(report, [n for n in ran if ENGINES[n].peer])
    out = {"segdeploy_best": ours, "peer_best": peer, "peer_fastest_any_accuracy": fastest_peer}
    if ours and peer:
        out["ratio_vs_peer"] = ours["images_per_s"] / peer["images_per_s"]
        out[f"target_{TARGET_VS_PEER}x_met"] = out["ratio_vs_peer"] >= TARGET_VS_PEER
    if ours and fastest_peer:
        out["ratio_vs_fastest_peer"] = ours["images_per_s"] / fastest_peer["images_per_s"]
    return out


def profile(spec, config: BenchConfig, case: Case, console: Console, goals: dict) -> dict:
    """Where the time goes at batch 1: ONNX Runtime's profile of the fp32 file and of segdeploy's best
    engine's file, OpenVINO's performance counters (with the kernels it picked) for the best peer."""
    wanted = {"onnxruntime": "onnxruntime"}
    for key in ("segdeploy_best", "peer_best"):
        engine = (goals.get(key) or {}).get("engine")
        if engine and ENGINES[engine].runtime in ("onnxruntime", "openvino"):
            wanted[engine] = ENGINES[engine].runtime
    files = prepare_engine_files(spec, config, case.hw, model_factory(spec, case.checkpoint, False),
                                 {ENGINES[e].file for e in wanted}, console.print)
    x = np.random.default_rng(0).standard_normal((1, 3, *case.hw), dtype=np.float32)
    out = {}
    for engine, runtime in wanted.items():
        path = getattr(files, ENGINES[engine].file)
        if runtime == "onnxruntime":
            ops = [{"op": op, "ms": ms, "share": share} for op, ms, share in ort_op_profile(path, x)]
        else:
            precision = {"fp32": "f32", "bf16": "bf16"}.get(ENGINES[engine].precision)
            ops = [{"op": f"{op} ({kernel})", "ms": ms, "share": share}
                   for op, ms, share, kernel in openvino_op_profile(path, x, precision)]
        out[engine] = ops
        console.print(f"{engine} top ops: " + ", ".join(f"{o['op']} {o['share']:.0%}" for o in ops))
    return out


def results_markdown(folder: Path) -> str:
    parts = ["# segdeploy CPU benchmarks", "", "Written by `benchmarks/bench_engines.py`; rerun it to refresh.", "",
             THROUGHPUT_NOTE, "", "Peers run as their own tools would run them; the others are segdeploy's "
             "deployments. Only rows within the accuracy budget compete (see each case).", ""]
    results = {}
    for name in CASES:  # other scripts' results live in the folder too
        path = folder / f"{name}.json"
        r = json.loads(path.read_text()) if path.is_file() else {}
        results[name] = r if r.get("format") == RESULTS_FORMAT else None
    parts += _summary(results)
    for name, r in results.items():
        parts += _case_markdown(name, r) if r else [f"## {name}", "", "not measured by this version of the script: "
                                                    f"`.venv/bin/python benchmarks/bench_engines.py --cases {name}`", ""]
    # the other scripts' sections, so a rewrite here keeps them
    parts += e2e_markdown(folder) + scale_out_markdown(folder)
    return "\n".join(parts)


def _summary(results: dict) -> list[str]:
    lines = ["## Targets: segdeploy's best within budget ≥ 1.3x the best peer within budget", "",
             "| case | segdeploy best | images/s | best peer | images/s | ratio | ≥ 1.3x | ratio vs fastest peer |",
             "|---|---|---:|---|---:|---:|---|---:|"]
    for name, r in results.items():
        t = (r or {}).get("targets", {})
        ours, peer = t.get("segdeploy_best"), t.get("peer_best")
        if not (ours and peer):
            lines.append(f"| {name} | - | | - | | | not measured | |")
            continue
        lines.append(f"| {name} | {ours['engine']} bs{ours['batch']} | {ours['images_per_s']:.2f} | {peer['engine']} "
                     f"bs{peer['batch']} | {peer['images_per_s']:.2f} | {t['ratio_vs_peer']:.2f} | "
                     f"{'yes' if t[f'target_{TARGET_VS_PEER}x_met'] else 'no'} | "
                     f"{_f(t.get('ratio_vs_fastest_peer'), '.2f')} |")
    return lines + [""]


def _case_markdown(name: str, r: dict) -> list[str]:
    m, hw = r["machine"], r["input_hw"]
    versions = ", ".join(f"{k} {m[k]}" for k in ("torch", "onnxruntime", "openvino", "nncf", "onnx", "numpy") if m.get(k))
    parts = [f"## {name}: {r['model']} @ {hw[0]}x{hw[1]}", "",
             f"{m['cpu']}, {m['cores']} cores, flags {' '.join(m['cpu_flags'])}; {versions}; 1-min load average "
             f"{_f(m.get('load_average_1min'), '.1f')} at the start (2 cores, shared: other processes' load slows "
             f"every row); matmul peaks: fp32 {r['matmul_peak']['gflops']:.0f} GFLOP/s ({r['matmul_peak']['library']}), "
             f"bf16 {_f(r['matmul_peak']['bf16_gflops'], '.0f')} GFLOP/s, int8 {_f(r['matmul_peak']['int8_gops'], '.0f')} "
             "GOP/s; "
             f"{r['gflops_per_sample']:.1f} GFLOPs per {r['unit'][:-1]}; run took {r['seconds']:.0f} s.", "",
             f"Command: `{r['command']}`", "",
             "| engine | whose | batch | images/s | p50 ms | p90 ms | × torch | GFLOP/s | % peak | % own peak | "
             "peak RSS MB | eligible |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in r["results"]:
        peer = "peer" if ENGINES[row["engine"]].peer else "segdeploy"
        if row["status"] != "ok":
            parts.append(f"| {row['engine']} | {peer} | {row['batch']} | skipped: {row['reason']} | | | | | | | | |")
            continue
        parts.append(f"| {row['engine']} | {peer} | {row['batch']} | {row['samples_per_s']:.2f} | {row['p50_ms']:.1f} | "
                     f"{row['p90_ms']:.1f} | {_f(row['ratio_to_torch'], '.2f')} | {_f(row['gflops_per_s'], '.0f')} | "
                     f"{_f(row['percent_of_peak'], '.0f')} | {_f(row['percent_of_precision_peak'], '.0f')} | "
                     f"{row['peak_rss_mb']:.0f} | "
                     f"{'yes' if row['engine'] in r['eligible'] else 'no'} |")
    details = {row["engine"]: row["detail"] for row in r["results"] if row.get("detail")}
    parts += [""] + [f"- {engine}: {detail}" for engine, detail in details.items()]
    parts += ["", f"Accuracy ({r['accuracy_rule']}), {r['accuracy']['images']} synthetic scenes vs torch fp32:", "",
              "| engine | Δ aAcc | Δ mAcc | Δ mIoU | pixel agreement | max abs Δlogit | gate |",
              "|---|---:|---:|---:|---:|---:|---|"]
    parts += [f"| {e['engine']} | {e['d_aAcc']:+.3f} | {e['d_mAcc']:+.3f} | {e['d_mIoU']:+.3f} | "
              f"{e['pixel_agreement']:.4%} | {e['max_abs_dlogit']:.3g} | {'pass' if e['passed'] else 'FAILED'} |"
              for e in r["accuracy"]["engines"]]
    parts += ["", "Targets: `" + json.dumps(r["targets"]) + "`", ""]
    for label, ops in r.get("profile", {}).items():
        parts.append(f"- {label} profile (batch 1, {'OpenVINO counters' if label.startswith('openvino') else 'ONNX Runtime'}): "
                     + ", ".join(f"{o['op']} {o['share']:.0%}" for o in ops))
    return parts + [""]


def _f(value: float | None, fmt: str) -> str:
    return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else format(value, fmt)


if __name__ == "__main__":
    main()
