"""`segdeploy bench --e2e`: end-to-end pipelined throughput next to the same engine's pure inference.

End to end = read -> decode/preprocess -> infer -> class map + file + metric, stages overlapped by
`segdeploy.inference.pipeline`, over a labelled dataset whose images are the engine's input size.
"""

from __future__ import annotations

import gc
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from segdeploy.benchmark.compare import BenchConfig, model_factory, prepare_engine_files
from segdeploy.benchmark.engines import EngineUnavailable, build_engine, files_needed
from segdeploy.benchmark.timing import time_batches
from segdeploy.distributed import DistInfo, barrier, from_main, gather_objects
from segdeploy.evaluation.confusion import ConfusionMatrix
from segdeploy.evaluation.metrics import segmentation_metrics
from segdeploy.inference.inputs import items_from_dataset
from segdeploy.inference.pipeline import PipelineResult
from segdeploy.inference.runner import InferConfig, run_inference
from segdeploy.models.spec import ModelSpec


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
    pure_images_per_s: float  # summed over processes, each timing its own loop at the same time
    e2e_images_per_s: float  # images of the whole set / the slowest process's seconds
    pipeline: PipelineResult  # rank 0's stages
    mIoU: float
    ranks: tuple[RankThroughput, ...] = ()

    @property
    def ratio(self) -> float:
        return self.e2e_images_per_s / self.pure_images_per_s

    def to_json(self) -> dict:
        return {"engine": self.engine, "batch": self.batch, "pure_images_per_s": self.pure_images_per_s,
                "e2e_images_per_s": self.e2e_images_per_s, "e2e_over_pure": self.ratio,
                "bottleneck": self.pipeline.bottleneck, "mIoU": self.mIoU,
                "stages": {name: {"capacity_images_per_s": s.capacity, "mean_ms": s.mean_ms, "workers": s.workers}
                           for name, s in self.pipeline.stages.items()},
                "ranks": [asdict(r) for r in self.ranks]}


def run_e2e(spec: ModelSpec, config: BenchConfig, data_root: Path, workers: int = 2, log=print,
            info: DistInfo | None = None) -> list[E2ERow]:
    """For each engine and batch: pure-inference images/s, then the whole pipeline over the dataset.

    Under torchrun (`info`) rank 0 makes the engine files in the work folder (shared storage on several
    nodes), every process times its engine, then the processes share the dataset as `infer` does.
    """
    assert config.input_hw is not None, "bench_input_hw sets the data's image size"
    info = info or DistInfo()
    hw = config.input_hw
    build = model_factory(spec, config.checkpoint, config.trust)
    need = files_needed(list(config.engines), config.device)
    files = from_main(lambda: prepare_engine_files(spec, config, hw, build, need, log), info)
    items = items_from_dataset(spec, data_root, config.split)
    sample = np.random.default_rng(0).standard_normal((config.batches[0], 3, *hw), dtype=np.float32)
    rows = []
    for name in config.engines:
        built = _build_everywhere(name, build, files, sample, config.device, info, log)
        if built is None:
            continue
        for batch in config.batches:
            rows.append(_measure(spec, config, built.backend, name, batch, items, workers, info))
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


def _measure(spec: ModelSpec, config: BenchConfig, backend, name: str, batch: int, items, workers: int,
             info: DistInfo) -> E2ERow:
    hw = config.input_hw
    (pure,) = time_batches(backend, hw, [batch], config.warmup, config.loop, show_progress=config.show_progress)
    pure_rates = gather_objects(pure.samples_per_s, info)
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
                  segmentation_metrics(confusion).mIoU, ranks if info.world_size > 1 else ())
