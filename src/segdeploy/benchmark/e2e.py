"""`segdeploy bench --e2e`: end-to-end pipelined throughput next to the same engine's pure inference.

End to end = read -> decode/preprocess -> infer -> class map + metric -> file, stages overlapped by
`segdeploy.inference.pipeline`, over a labelled dataset, with the variant's own geometry (the
engine runs at the letterbox canvas, the window, or the image size). With `fold_preprocess` /
`fold_argmax` the engines run a file folded by `segdeploy.export.fold` (exported once per weights,
size and fold into the work folder). Each row has the stage table: wall and CPU time per image, the
throughput the cores allow on that CPU work, and how close the pipeline came to it. The server that
worker processes fork from starts before the timed runs: a one-off per process (about 3 s: it
imports torch), which a service pays once and a short benchmark run would be dominated by.
"""

from __future__ import annotations

import gc
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from segdeploy.benchmark.artifacts import EngineFiles, weights_tag
from segdeploy.benchmark.compare import BenchConfig, model_factory, prepare_engine_files
from segdeploy.benchmark.engines import EngineUnavailable, build_engine, files_needed
from segdeploy.benchmark.timing import time_batches
from segdeploy.data.datasets import list_samples
from segdeploy.data.images import image_size
from segdeploy.data.variants import geometry_for, get_variant
from segdeploy.distributed import DistInfo, barrier, from_main, gather_objects
from segdeploy.errors import SegdeployError
from segdeploy.evaluation.confusion import ConfusionMatrix
from segdeploy.evaluation.metrics import segmentation_metrics
from segdeploy.export.fold import FoldPlan, export_folded_network, fold_network, plan_fold
from segdeploy.inference.inputs import items_from_dataset
from segdeploy.inference.pipeline import PipelineResult, start_worker_server
from segdeploy.inference.runner import InferConfig, run_inference
from segdeploy.inference.workers import WorkerPlan
from segdeploy.models.spec import ModelSpec
from segdeploy.runtime.engine_io import engine_io

FOLDABLE_ENGINES = ("onnxruntime", "openvino")  # engines that run the exported file itself


@dataclass(frozen=True)
class RankThroughput:
    rank: int
    pure_images_per_s: float
    e2e_images_per_s: float


@dataclass(frozen=True)
class E2ERow:
    """One engine and batch; under torchrun the rates are the whole run's and `ranks` has each process's."""

    engine: str
    batch: int
    pure_images_per_s: float  # engine alone on inputs in memory, per image (windows per image counted); summed
    # over processes under torchrun, each timing its own loop at the same time
    e2e_images_per_s: float  # images of the whole set / the slowest process's seconds
    pipeline: PipelineResult  # rank 0's stages
    mIoU: float
    engine_io: str
    ranks: tuple[RankThroughput, ...] = ()

    @property
    def ratio(self) -> float:
        return self.e2e_images_per_s / self.pure_images_per_s

    def to_json(self) -> dict:
        p = self.pipeline
        return {"engine": self.engine, "batch": self.batch, "engine_io": self.engine_io,
                "pure_images_per_s": self.pure_images_per_s, "e2e_images_per_s": self.e2e_images_per_s,
                "e2e_over_pure": self.ratio, "bottleneck": p.bottleneck, "mIoU": self.mIoU,
                "cores": p.cores, "cpu_ms_per_image": p.cpu_ms_per_item, "cpu_bound_images_per_s": p.cpu_bound,
                "e2e_over_cpu_bound": p.of_cpu_bound, "workers": p.plan.line(),
                "stages": {name: {"capacity_images_per_s": s.capacity, "mean_ms": s.mean_ms,
                                  "cpu_ms_per_image": s.cpu_ms_per_item, "workers": s.workers}
                           for name, s in p.stages.items()},
                "ranks": [asdict(r) for r in self.ranks]}


def run_e2e(spec: ModelSpec, config: BenchConfig, data_root: Path, variant: str | None = None,
            fold_preprocess: bool = False, fold_argmax: bool = False, workers: WorkerPlan | None = None,
            log=print, info: DistInfo | None = None) -> list[E2ERow]:
    """For each engine and batch: pure-inference images/s, then the whole pipeline over the dataset.

    Under torchrun (`info`) rank 0 makes the engine files in the work folder (shared storage on several
    nodes), every process times its engine, then the processes share the dataset as `infer` does.
    """
    info = info or DistInfo()
    chosen = get_variant(spec, variant)
    samples = list_samples(spec.dataset, data_root, config.split)
    if not samples:
        raise SegdeployError.at(data_root, f"no labelled {config.split} images")
    geometry = geometry_for(spec, chosen, image_size(samples[0].image_path))
    hw, inputs_per_image = geometry.input_hws[0], len(geometry.input_hws)
    build = model_factory(spec, config.checkpoint, config.trust)
    fold = _fold(spec, chosen, config, fold_preprocess, fold_argmax)
    if fold is None:
        need = files_needed(list(config.engines), config.device)
        files = from_main(lambda: prepare_engine_files(spec, config, hw, build, need, log), info)
    else:
        files = from_main(lambda: _folded_files(spec, config, fold, hw, build, log), info)
    start_worker_server([run_inference.__module__])  # paid once per process, before the timed runs
    rows = []
    for name in config.engines:
        built = _build_everywhere(name, build, files, np.zeros((1, 3, *hw), np.float32), config.device, info, log)
        if built is None:
            continue
        io = engine_io(built.backend)
        items = items_from_dataset(spec, data_root, config.split, chosen.name, io)
        timing_hw = (io.pad_to, io.pad_to) if io.pad_to else hw  # a padding engine's network sees its canvas
        for batch in config.batches:
            rows.append(_measure(spec, config, built.backend, name, batch, items, timing_hw, inputs_per_image,
                                 workers, info))
        del built
        gc.collect()
    return rows


def _build_everywhere(name, build, files, sample, device: str, info: DistInfo, log):
    """The engine, or None (logged) when some process cannot build it: all processes skip it together."""
    try:
        built, why = build_engine(name, build, files, sample, device), None
    except EngineUnavailable as err:
        built, why = None, str(err)
    reasons = [r for r in gather_objects(why, info) if r is not None]
    if reasons:
        log(f"{name}: skipped ({reasons[0]})")
        return None
    return built


def _measure(spec: ModelSpec, config: BenchConfig, backend, name: str, batch: int, items,
             timing_hw: tuple[int, int], inputs_per_image: int, workers: WorkerPlan | None, info: DistInfo) -> E2ERow:
    (pure,) = time_batches(backend, timing_hw, [batch], config.warmup, config.loop,
                           show_progress=config.show_progress)
    pure_rates = gather_objects(pure.samples_per_s / inputs_per_image, info)
    confusion = ConfusionMatrix(spec.num_classes)
    # predictions are thrown away, but written where every process can: the work folder
    out = from_main(lambda: Path(tempfile.mkdtemp(prefix=".e2e-", dir=config.work_dir)), info)
    try:
        result = run_inference(spec, backend, items, InferConfig(out, batch=batch, run_name="run"),
                               show_progress=config.show_progress, confusion=confusion, workers=workers, info=info)
    finally:
        barrier(info)
        if info.is_main:
            shutil.rmtree(out, ignore_errors=True)
    assert result.pipeline is not None
    ranks = tuple(RankThroughput(r.rank, p, r.images_per_second) for r, p in zip(result.ranks, pure_rates))
    return E2ERow(name, batch, sum(pure_rates), result.images_per_second, result.pipeline,
                  segmentation_metrics(confusion).mIoU, engine_io(backend).describe(),
                  ranks if info.world_size > 1 else ())


def _fold(spec: ModelSpec, variant, config: BenchConfig, preprocess: bool, argmax: bool) -> FoldPlan | None:
    if not (preprocess or argmax):
        return None
    flag = "--fold-preprocess" if preprocess else "--fold-argmax"
    if config.onnx is not None:
        raise SegdeployError.at(flag, "folds an export of --checkpoint; a given --onnx file runs as it was made")
    others = [name for name in config.engines if name not in FOLDABLE_ENGINES]
    if others:
        raise SegdeployError.at(flag, f"applies to exported files, not to engine(s) {', '.join(others)}; "
                                      f"use {', '.join(FOLDABLE_ENGINES)}")
    return plan_fold(spec, variant, preprocess, argmax)


def _folded_files(spec: ModelSpec, config: BenchConfig, plan: FoldPlan, hw: tuple[int, int], build,
                  log) -> EngineFiles:
    """The folded file for these weights, size and fold, exported once into the work folder."""
    parts = [p for p, on in (("pre", plan.preprocess), ("argmax", plan.argmax)) if on]
    path = config.work_dir / f"{weights_tag(spec, config.checkpoint, None, hw)}_{plan.variant}_fold-{'-'.join(parts)}.onnx"
    if not path.is_file():
        log(f"exporting {path.name} ({plan.io.describe()})")
        traced_hw = (plan.pad_to * 3 // 4, plan.pad_to) if plan.pad_to else hw
        export_folded_network(fold_network(build(), spec, plan), plan, path, traced_hw, dynamic_batch=True)
    return EngineFiles(fp32=path, ort_cache=config.work_dir / "ort_optimized")
