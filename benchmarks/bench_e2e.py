"""End-to-end throughput on real-layout data next to the same engine's pure inference (issue 11 targets).

    .venv/bin/python benchmarks/bench_e2e.py                          # fcn, icnet, fastscnn
    .venv/bin/python benchmarks/bench_e2e.py --cases segmenter        # Segmenter-L: ~2 min per image
    .venv/bin/python benchmarks/bench_e2e.py --cases fastscnn --images 12 --loop 5   # a short check

Per case, `segdeploy bench --e2e` in-process: ONNX Runtime on the file with the case's folds
(`segdeploy.export.fold`), random weights under seed 0 (speed does not depend on them), batch 1.
Data: synthetic 2048x1024 street scenes in the Cityscapes layout; for FCN a VOC2012 tree of
VOC-sized JPEGs (500x375, 375x500, 500x333) made from such scenes. Writes
benchmarks/results/e2e_<case>.json and rewrites benchmarks/RESULTS.md (`bench_engines.results_markdown`,
which renders this section from those files). A benchmark, not a test: the targets are reported,
never asserted. Run it on a quiet machine: other processes' CPU time shows up as a slower pipeline.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from bench_engines import results_markdown
from PIL import Image
from rich.console import Console

from segdeploy.argtypes import workers_arg
from segdeploy.benchmark.compare import BenchConfig
from segdeploy.benchmark.e2e import run_e2e
from segdeploy.data.images import read_rgb
from segdeploy.data.synthetic import generate_cityscapes_like
from segdeploy.data.voc import voc_colormap
from segdeploy.inference.workers import WorkerPlan
from segdeploy.models import get_spec
from segdeploy.reporting.atomic import write_json_atomic, write_text_atomic
from segdeploy.reporting.tables import e2e_stage_table, e2e_table
from segdeploy.runtime.machine import machine_info

HERE = Path(__file__).resolve().parent
VOC_SIZES = ((375, 500), (375, 500), (500, 375), (333, 500))  # VOC val's usual shapes, in this mix


@dataclass(frozen=True)
class Case:
    model: str
    data: str  # "cityscapes" (2048x1024 scenes) or "voc" (VOC-sized JPEGs)
    images: int
    loop: int  # pure-inference timed runs
    fold_argmax: bool
    variant: str | None = None
    targets: dict[str, tuple[str, float]] = field(default_factory=dict)  # name -> (row key, minimum)


VS_PURE_90 = {"e2e >= 0.9x pure": ("e2e_over_pure", 0.9)}
CASES = {
    "fcn": Case("fcn_r50_d8_voc", "voc", 12, 5, True, "guide-letterbox", VS_PURE_90),
    "icnet": Case("icnet_r50_cityscapes", "cityscapes", 12, 5, True, targets=VS_PURE_90),
    "fastscnn": Case("fastscnn_cityscapes", "cityscapes", 60, 30, True,
                     targets={"e2e >= 0.75x pure": ("e2e_over_pure", 0.75),
                              "within 10% of the CPU bound": ("e2e_over_cpu_bound", 0.9)}),
    # windows' logits are averaged before the argmax: the preprocessing only is folded
    "segmenter": Case("segmenter_vitl16_mask_cityscapes", "cityscapes", 2, 2, False, targets=VS_PURE_90),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="fcn,icnet,fastscnn", help=f"comma-separated: {', '.join(CASES)}")
    parser.add_argument("--images", type=int, help="images per case (default: the case's)")
    parser.add_argument("--loop", type=int, help="pure-inference timed runs (default: the case's)")
    parser.add_argument("--workers", type=workers_arg, default=None, metavar="auto|threads:N|processes:N",
                        help="load workers (default auto: the pipeline plans them from the first image)")
    parser.add_argument("--work-dir", type=Path, default=HERE / "work")
    args = parser.parse_args()
    console = Console(width=160)
    for name in args.cases.split(","):
        result = run_case(name, CASES[name], args, console)
        write_json_atomic(HERE / "results" / f"e2e_{name}.json", result)
    write_text_atomic(HERE / "RESULTS.md", results_markdown(HERE / "results"))
    console.print(f"wrote {HERE / 'RESULTS.md'}")


def run_case(name: str, case: Case, args, console: Console) -> dict:
    spec = get_spec(case.model)
    images = args.images or case.images
    data = make_data(case.data, images, args.work_dir)
    config = BenchConfig(engines=("onnxruntime",), batches=(1,), warmup=1, loop=args.loop or case.loop,
                         work_dir=args.work_dir, show_progress=False)
    console.rule(f"[bold]{name}: {spec.name} end to end on {images} {case.data} images")
    load_before = _load()
    started = time.perf_counter()
    workers = None if args.workers is None else WorkerPlan(*args.workers, "--workers")
    rows = run_e2e(spec, config, data, case.variant, fold_preprocess=True, fold_argmax=case.fold_argmax,
                   workers=workers, log=console.print)
    seconds = time.perf_counter() - started
    for row in rows:
        console.print("\n".join(row.pipeline.lines()), markup=False, highlight=False)
        console.print(e2e_stage_table(row.pipeline, title=f"{name}: stages"))
    console.print(e2e_table(rows, title=f"{name}: {spec.name} end to end vs pure inference"))
    out_rows = []
    for row in rows:
        measured = row.to_json()
        measured["targets"] = {label: measured[key] >= minimum for label, (key, minimum) in case.targets.items()}
        out_rows.append(measured)
        console.print(f"targets: {measured['targets']}")
    return {"case": name, "model": spec.name, "variant": case.variant or spec.variants[0].name, "data": case.data,
            "images": images, "machine": machine_info(), "load_before": load_before, "load_after": _load(),
            "seconds": seconds, "command": " ".join(["benchmarks/bench_e2e.py", *sys.argv[1:]]), "rows": out_rows}


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())  # as `uptime` prints it: 1, 5, 15 minutes


def make_data(kind: str, images: int, work: Path) -> Path:
    """Cityscapes-layout 2048x1024 scenes, or a VOC2012 tree of VOC-sized JPEGs made from scenes."""
    scenes = work / "e2e_data" / "cityscapes_1024x2048"
    if kind == "cityscapes":
        generate_cityscapes_like(scenes, "val", images, size=(1024, 2048), seed=1)
        return scenes
    voc = work / "e2e_data" / f"voc_{images}"
    split = voc / "ImageSets" / "Segmentation" / "val.txt"
    if split.is_file():
        return voc
    palette = [v for rgb in voc_colormap(256) for v in rgb]
    shapes = [VOC_SIZES[i % len(VOC_SIZES)] for i in range(images)]
    scenes_of = {hw: iter(generate_cityscapes_like(work / "e2e_data" / f"scenes_{hw[0]}x{hw[1]}", "val",
                                                   shapes.count(hw), size=hw, seed=2)) for hw in set(shapes)}
    for folder in ("JPEGImages", "SegmentationClass"):
        (voc / folder).mkdir(parents=True, exist_ok=True)
    ids = [f"2007_{i:06d}" for i in range(images)]
    for image_id, hw in zip(ids, shapes):
        path = next(scenes_of[hw])
        label_path = Path(str(path).replace("leftImg8bit", "gtFine").replace("_gtFine.png", "_gtFine_labelTrainIds.png"))
        labels = np.asarray(Image.open(label_path))
        labels = np.where(labels == 255, 255, labels % 21).astype(np.uint8)  # 21 VOC classes, 255 kept
        Image.fromarray(read_rgb(path)).save(voc / "JPEGImages" / f"{image_id}.jpg", quality=90)
        label = Image.fromarray(labels, mode="P")
        label.putpalette(palette)
        label.save(voc / "SegmentationClass" / f"{image_id}.png")
    split.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(split, "".join(f"{i}\n" for i in ids))  # last: a complete tree is reused
    return voc


if __name__ == "__main__":
    main()
