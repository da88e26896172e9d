"""`segdeploy demo`: the vendor guides' whole chain, end to end, on the embedded synthetic dataset.

synthetic Cityscapes-layout val set -> shipped Fast-SCNN checkpoint (trained by `segdeploy train`,
see README) -> ONNX export + parity -> infer with PyTorch and ONNX Runtime -> evaluate both ->
bench both -> markdown + JSON report and a few colourised predictions.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from rich.console import Console

from segdeploy.benchmark.timing import THROUGHPUT_DEFINITION, time_batches
from segdeploy.data.binio import find_predictions, read_prediction
from segdeploy.data.datasets import list_samples
from segdeploy.data.images import save_palette_png
from segdeploy.data.synthetic import generate_cityscapes_like
from segdeploy.errors import GateFailed, SegdeployError
from segdeploy.evaluation.evaluate import evaluate_folder
from segdeploy.export.onnx_export import ExportShape
from segdeploy.export.run import ExportConfig, export_model
from segdeploy.inference.inputs import items_from_dataset
from segdeploy.inference.runner import InferConfig, run_inference
from segdeploy.models import build_model, get_spec
from segdeploy.reporting.atomic import write_json_atomic, write_text_atomic
from segdeploy.reporting.report import markdown_table, metrics_json
from segdeploy.reporting.tables import accuracy_table, bench_table
from segdeploy.runtime.onnxruntime_backend import OnnxRuntimeBackend
from segdeploy.runtime.torch_backend import TorchBackend
from segdeploy.verify.run import VerifyConfig

DEMO_MODEL = "fastscnn_cityscapes"
DEMO_CHECKPOINT = "fastscnn_synthetic.pth"
DEMO_SIZE = (256, 512)
DEMO_SEED = 1  # the shipped checkpoint was trained on seed 0: the val scenes are unseen
MAX_MIOU_GAP = 0.1  # percentage points between PyTorch and ONNX Runtime


@dataclass(frozen=True)
class DemoConfig:
    out: Path
    images: int = 20
    batch: int = 4
    samples_to_colourise: int = 3


def demo_checkpoint() -> Path:
    """The shipped checkpoint: `fastscnn_cityscapes` trained on synthetic scenes (see README)."""
    path = Path(str(resources.files("segdeploy").joinpath("assets", DEMO_CHECKPOINT)))
    if not path.is_file():
        raise SegdeployError.at(path, "the demo checkpoint is missing from this installation")
    return path


def run_demo(config: DemoConfig, console: Console) -> dict:
    """Run every step, print the accuracy and bench tables, write the report; return the report dict."""
    started = time.perf_counter()
    spec = get_spec(DEMO_MODEL)
    data_root = config.out / "data"
    console.rule("[bold]1/5 data")
    generate_cityscapes_like(data_root, "val", config.images, size=DEMO_SIZE, seed=DEMO_SEED)
    console.print(f"{config.images} synthetic {DEMO_SIZE[0]}x{DEMO_SIZE[1]} street scenes in {data_root} "
                  "(Cityscapes layout)")

    console.rule("[bold]2/5 export")
    checkpoint = demo_checkpoint()
    model = build_model(spec, checkpoint)
    exported = export_model(spec, model, ExportConfig(
        config.out / "fastscnn.onnx", ExportShape(1, *DEMO_SIZE, dynamic_batch=True, size_divisor=spec.size_divisor),
        check=VerifyConfig(data_root=data_root, images=config.images, show_progress=False)),
        make_engine=lambda name, path: OnnxRuntimeBackend(path))
    onnx_path, parity = exported.path, exported.verification
    console.print(f"{onnx_path}: onnx.checker ok; ORT vs PyTorch on the {parity.source}: max |Δlogit| "
                  f"{parity.overall.max_abs:.2e}, argmax agreement {parity.overall.agreement:.4%}")
    if not parity.passed:
        raise GateFailed.at(onnx_path, f"verification failed: {parity.failures[0]}")

    console.rule("[bold]3/5 infer + evaluate")
    engines = _demo_engines(model, onnx_path)
    accuracy = {name: _infer_and_evaluate(spec, backend, data_root, config, name) for name, backend in engines.items()}

    console.rule("[bold]4/5 bench")
    timings = [t for backend in engines.values()
               for t in time_batches(backend, DEMO_SIZE, [1, config.batch], warmup=2, loop=10)]

    console.rule("[bold]5/5 report")
    samples = _colourise(spec, data_root, config, accuracy["onnxruntime"]["run_dir"])
    report = _write_report(spec, config, parity, accuracy, timings, samples, time.perf_counter() - started)
    _print_summary(console, spec, report, accuracy, timings, THROUGHPUT_DEFINITION)
    gap = abs(accuracy["torch"]["metrics"].mIoU - accuracy["onnxruntime"]["metrics"].mIoU) * 100
    if gap > MAX_MIOU_GAP:
        raise GateFailed.at(onnx_path, f"mIoU differs from PyTorch's by {gap:.3f} points (> {MAX_MIOU_GAP})")
    return report


def _demo_engines(model, onnx_path: Path) -> dict:
    return {"torch": TorchBackend(model), "onnxruntime": OnnxRuntimeBackend(onnx_path)}


def _infer_and_evaluate(spec, backend, data_root: Path, config: DemoConfig, name: str) -> dict:
    pred_root = config.out / "predictions"
    shutil.rmtree(pred_root / name, ignore_errors=True)  # a rerun must not "resume" an older model's files
    result = run_inference(spec, backend, items_from_dataset(spec, data_root, "val"),
                           InferConfig(output=pred_root, batch=config.batch, run_name=name))
    evaluation = evaluate_folder(spec, result.run_dir, data_root, "val", show_progress=False)
    return {"run_dir": result.run_dir, "metrics": evaluation.metrics, "images_per_s": result.images_per_second,
            "images": evaluation.images}


def _colourise(spec, data_root: Path, config: DemoConfig, run_dir: Path) -> list[str]:
    """Palette PNGs of a few predictions beside a copy of their input image."""
    out = config.out / "samples"
    out.mkdir(parents=True, exist_ok=True)
    predictions = find_predictions(run_dir)
    written = []
    for sample in list_samples(spec.dataset, data_root, "val")[: config.samples_to_colourise]:
        class_map = read_prediction(predictions[sample.stem], DEMO_SIZE, spec.num_classes)
        shutil.copyfile(sample.image_path, out / f"{sample.stem}_input.png")
        save_palette_png(out / f"{sample.stem}_pred.png", class_map.astype(np.uint8), spec.palette)
        written.append(str(out / f"{sample.stem}_pred.png"))
    return written


def _write_report(spec, config: DemoConfig, parity, accuracy: dict, timings: list, samples: list[str],
                  seconds: float) -> dict:
    report = {
        "model": spec.name, "input_hw": DEMO_SIZE, "images": config.images, "seconds": seconds,
        "parity": parity.to_json(),
        "accuracy": {name: metrics_json(a["metrics"], spec.classes, images_per_s=a["images_per_s"])
                     for name, a in accuracy.items()},
        "bench": [t.to_json() for t in timings],
        "samples": samples,
    }
    accuracy_rows = [(name, f"{a['metrics'].aAcc * 100:.2f}", f"{a['metrics'].mAcc * 100:.2f}",
                      f"{a['metrics'].mIoU * 100:.2f}") for name, a in accuracy.items()]
    bench_rows = [(t.engine, t.batch, f"{t.samples_per_s:.1f}", f"{t.p50_ms:.1f}", f"{t.p90_ms:.1f}",
                   f"{t.p99_ms:.1f}") for t in timings if t.status == "ok"]
    markdown = "\n\n".join([
        f"# segdeploy demo: {spec.name} on {config.images} synthetic {DEMO_SIZE[0]}x{DEMO_SIZE[1]} scenes",
        markdown_table(("engine", "aAcc", "mAcc", "mIoU"), accuracy_rows),
        markdown_table(("engine", "batch", "images/s", "p50 ms", "p90 ms", "p99 ms"), bench_rows),
        f"ONNX Runtime vs PyTorch on the {parity.source}: max |Δlogit| {parity.overall.max_abs:.2e}, argmax "
        f"agreement {parity.overall.agreement:.4%}. Whole demo: {seconds:.0f} s.",
    ]) + "\n"
    report["report_md"] = str(write_text_atomic(config.out / "report.md", markdown))
    report["report_json"] = str(config.out / "report.json")
    write_json_atomic(config.out / "report.json", report)
    return report


def _print_summary(console: Console, spec, report: dict, accuracy: dict, timings: list, definition: str) -> None:
    console.print(accuracy_table({name: a["metrics"] for name, a in accuracy.items()},
                                 title=f"{spec.name}: accuracy on {report['images']} synthetic val images"))
    console.print(bench_table(timings, title=f"pure inference @ {DEMO_SIZE[0]}x{DEMO_SIZE[1]}", unit="images"))
    console.print(definition)
    console.print(f"report: {report['report_md']} and {report['report_json']}")
    console.print(f"colourised predictions: {', '.join(report['samples'])}")
    console.print(f"demo finished in {report['seconds']:.0f} s")
