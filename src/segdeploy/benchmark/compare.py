"""`segdeploy bench`: several engines on the same inputs in one run, one row per engine and batch size."""

from __future__ import annotations

import dataclasses
import gc
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx
import torch

from segdeploy.benchmark.accuracy import labelled_images, score_engines
from segdeploy.benchmark.artifacts import calibration_batches, prepare_files, weights_tag
from segdeploy.benchmark.catalog import LADDER
from segdeploy.benchmark.engines import (
    EngineUnavailable,
    build_engine,
    files_needed,
    torch_options_of,
)
from segdeploy.benchmark.memory import peak_rss_mb, reset_peak_rss
from segdeploy.benchmark.peak import measure_matmul_peak
from segdeploy.benchmark.timing import BatchTiming, time_batches
from segdeploy.data.datasets import list_samples
from segdeploy.data.images import read_rgb
from segdeploy.errors import SegdeployError
from segdeploy.export.onnx_export import default_input_hw
from segdeploy.models import build_model
from segdeploy.models.spec import ModelSpec
from segdeploy.reporting.report import metrics_json
from segdeploy.reporting.zoo import spec_flops

THROUGHPUT_NOTE = ("images/s = images per second of wall time over the timed loop, a batch of N counting N "
                   "images; compute only (inputs already in memory as float32 NCHW, no decode, no "
                   "post-processing). Latency = one batch. ratio = images/s / torch eager fp32 images/s at the "
                   "same batch. GFLOP/s = the model's forward FLOPs (2 per multiply-add, torch's counter) x "
                   "images/s; % peak = that / the best fp32 sgemm rate measured in this run. Peak RSS = "
                   "process high-water mark while that engine ran that batch.")


@dataclass(frozen=True)
class BenchConfig:
    engines: tuple[str, ...]
    batches: tuple[int, ...] = (1,)
    warmup: int = 5
    loop: int = 100
    input_hw: tuple[int, int] | None = None  # default: the model's (one window for sliding models)
    checkpoint: Path | None = None  # default: random weights under a fixed seed
    trust: bool = False
    onnx: Path | None = None  # an fp32 file to use instead of exporting
    device: str = "cpu"
    work_dir: Path = Path("bench_out")  # exported / simplified / int8 files, ORT's optimised graphs
    calib_root: Path | None = None  # dataset for int8 calibration (default: synthetic street scenes)
    calib_split: str = "train"  # not the scored split: calibrating on the test images would flatter int8
    calib_images: int = 8
    split: str = "val"
    show_progress: bool = True
    peak_n: int = 2048  # side of the sgemm probe's matrices


@dataclass(frozen=True)
class BenchRow:
    timing: BatchTiming
    detail: str = ""
    ratio_to_torch: float = float("nan")
    gflops_per_s: float = float("nan")
    percent_of_peak: float = float("nan")
    peak_rss_mb: float = float("nan")

    def to_json(self) -> dict:
        return {**self.timing.to_json(), **{k: v for k, v in asdict(self).items() if k != "timing"}}


@dataclass(frozen=True)
class BenchReport:
    model: str
    input_hw: tuple[int, int]
    unit: str
    gflops_per_sample: float
    peak: object  # MatmulPeak
    rows: list[BenchRow] = field(default_factory=list)
    torch_options: object = None  # TorchOptions torch-opt chose, if it ran

    def best(self, engines: tuple[str, ...] | None = None) -> BenchRow | None:
        ok = [r for r in self.rows if r.timing.status == "ok" and (engines is None or r.timing.engine in engines)]
        return max(ok, key=lambda r: r.timing.samples_per_s, default=None)

    def to_json(self) -> dict:
        return {"model": self.model, "input_hw": list(self.input_hw), "unit": self.unit,
                "definition": THROUGHPUT_NOTE, "gflops_per_sample": self.gflops_per_sample,
                "matmul_peak": self.peak.to_json(), "results": [r.to_json() for r in self.rows]}


def bench_input_hw(spec: ModelSpec, config: BenchConfig, input_size: tuple[int, int] | None,
                   data_root: Path | None) -> BenchConfig:
    """`config` with the input size to bench at: given, else the scored data's image size (else
    `run_bench` takes a given ONNX file's static size, else the model's)."""
    hw = input_size
    if hw is None and data_root is not None:
        samples = list_samples(spec.dataset, data_root, config.split)
        if samples:
            hw = read_rgb(samples[0].image_path).shape[:2]
    return dataclasses.replace(config, input_hw=None if hw is None else (int(hw[0]), int(hw[1])))


def _static_hw(path: Path) -> tuple[int, int] | None:
    if not Path(path).is_file():
        raise SegdeployError.at(path, "ONNX file not found")
    dims = onnx.load(str(path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim
    height, width = dims[2].dim_value, dims[3].dim_value
    return (height, width) if height > 0 and width > 0 else None


def model_factory(spec: ModelSpec, checkpoint: Path | None, trust: bool, tiny: bool = False):
    """A function building the network afresh; random weights are drawn under seed 0 so that every
    engine (and a cached exported file) holds the same ones."""
    def build() -> torch.nn.Module:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            return build_model(spec, checkpoint, trust, tiny=tiny)

    return build


def run_bench(spec: ModelSpec, config: BenchConfig, log=print, tiny: bool = False) -> BenchReport:
    """Time every engine of `config` at every batch size, one engine at a time, and relate the rows."""
    hw = config.input_hw or (config.onnx and _static_hw(config.onnx)) or default_input_hw(spec, tiny)
    build = model_factory(spec, config.checkpoint, config.trust, tiny)
    files = prepare_engine_files(spec, config, hw, build, files_needed(list(config.engines), config.device), log,
                                 tiny)
    flops = spec_flops(spec, hw, tiny)
    peak = measure_matmul_peak(config.peak_n)
    log(f"fp32 matmul peak: {peak.gflops:.0f} GFLOP/s ({peak.library} sgemm {peak.n}x{peak.n}, "
        f"{peak.threads} threads); model: {flops / 1e9:.1f} GFLOPs per input")
    timed, torch_options = [], None
    for name in config.engines:
        rows, options = _time_engine(name, build, files, hw, config)
        timed += rows
        torch_options = options or torch_options
    base = {r.timing.batch: r.timing.samples_per_s for r in timed
            if r.timing.engine == "torch" and r.timing.status == "ok"}
    rows = [_relate(r, base.get(r.timing.batch, float("nan")), flops, peak.gflops) for r in timed]
    unit = "windows" if spec.slide is not None else "images"
    return BenchReport(spec.name, hw, unit, flops / 1e9, peak, rows, torch_options)


def prepare_engine_files(spec: ModelSpec, config: BenchConfig, hw: tuple[int, int], build, need: set[str], log,
                         tiny: bool = False):
    tag = weights_tag(spec, config.checkpoint, config.onnx, hw) + ("_tiny" if tiny else "")

    def calibration() -> list[np.ndarray]:
        return calibration_batches(spec, hw, config.calib_images, config.calib_root, config.calib_split,
                                   config.work_dir / "calibration")

    return prepare_files(build, hw, config.work_dir, tag, need, calibration, config.onnx, log)


def _time_engine(name: str, build, files, hw: tuple[int, int], config: BenchConfig) -> tuple[list[BenchRow], object]:
    """Rows of one engine: built, timed batch by batch (peak RSS per batch), then released."""
    sample = np.random.default_rng(0).standard_normal((config.batches[0], 3, *hw), dtype=np.float32)
    try:
        built = build_engine(name, build, files, sample, config.device)
    except EngineUnavailable as why:
        return [BenchRow(BatchTiming(name, b, "skipped", str(why))) for b in config.batches], None
    rows = []
    for batch in config.batches:
        reset_peak_rss()
        (timing,) = time_batches(built.backend, hw, [batch], config.warmup, config.loop,
                                 show_progress=config.show_progress)
        rows.append(BenchRow(timing, built.detail, peak_rss_mb=peak_rss_mb()))
    options = torch_options_of(built) if name == "torch-opt" else None
    del built
    gc.collect()
    return rows, options


def _relate(row: BenchRow, torch_rate: float, flops: float, peak_gflops: float) -> BenchRow:
    t = row.timing
    if t.status != "ok":
        return row
    gflops_per_s = flops * t.samples_per_s / 1e9
    ratio = t.samples_per_s / torch_rate if torch_rate > 0 and not math.isnan(torch_rate) else float("nan")
    return BenchRow(t, row.detail, ratio, gflops_per_s, 100.0 * gflops_per_s / peak_gflops, row.peak_rss_mb)


@dataclass(frozen=True)
class AccuracyReport:
    reference: object  # SegMetrics of torch fp32
    engines: list  # EngineAccuracy, ladder order first
    images: int
    max_drop: float

    def failed(self) -> list[str]:
        return [e.engine for e in self.engines if not e.passed]

    def to_json(self, classes: tuple[str, ...]) -> dict:
        return {"images": self.images, "max_drop": self.max_drop, "failed": self.failed(),
                "reference": metrics_json(self.reference, classes), "engines": [e.to_json(classes) for e in self.engines]}


def run_accuracy(spec: ModelSpec, config: BenchConfig, data_root: Path, hw: tuple[int, int], max_drop: float,
                 limit: int = 20, torch_options=None, log=print, tiny: bool = False) -> AccuracyReport:
    """Score the ladder (fp32 ONNX, simplified, int8) and every engine of `config` vs PyTorch fp32."""
    names = [n for n in dict.fromkeys([*LADDER, *config.engines]) if n != "torch"]
    images, labels = labelled_images(spec, data_root, config.split, hw, limit)
    build = model_factory(spec, config.checkpoint, config.trust, tiny)
    files = prepare_engine_files(spec, config, hw, build, files_needed(names, config.device), log, tiny)
    reference = build_engine("torch", build, files, images[:1], config.device).backend
    engines = []
    for name in names:
        try:
            engines.append(build_engine(name, build, files, images[:1], config.device, torch_options).backend)
        except EngineUnavailable as why:
            log(f"accuracy: {name} {why}")
    base, scored = score_engines(spec, reference, engines, images, labels, max_drop)
    return AccuracyReport(base, scored, len(images), max_drop)
