"""`segdeploy bench --e2e`: end-to-end pipelined throughput next to the same engine's pure inference.

End to end = read -> decode/preprocess -> infer -> class map + file + metric, stages overlapped by
`segdeploy.inference.pipeline`, over a labelled dataset whose images are the engine's input size.
"""

from __future__ import annotations

import gc
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segdeploy.benchmark.compare import BenchConfig, model_factory, prepare_engine_files
from segdeploy.benchmark.engines import EngineUnavailable, build_engine, files_needed
from segdeploy.benchmark.timing import time_batches
from segdeploy.evaluation.confusion import ConfusionMatrix
from segdeploy.evaluation.metrics import segmentation_metrics
from segdeploy.inference.inputs import items_from_dataset
from segdeploy.inference.pipeline import PipelineResult
from segdeploy.inference.runner import InferConfig, run_inference
from segdeploy.models.spec import ModelSpec


@dataclass(frozen=True)
class E2ERow:
    engine: str
    batch: int
    pure_images_per_s: float
    pipeline: PipelineResult
    mIoU: float

    @property
    def ratio(self) -> float:
        return self.pipeline.throughput / self.pure_images_per_s

    def to_json(self) -> dict:
        return {"engine": self.engine, "batch": self.batch, "pure_images_per_s": self.pure_images_per_s,
                "e2e_images_per_s": self.pipeline.throughput, "e2e_over_pure": self.ratio,
                "bottleneck": self.pipeline.bottleneck, "mIoU": self.mIoU,
                "stages": {name: {"capacity_images_per_s": s.capacity, "mean_ms": s.mean_ms, "workers": s.workers}
                           for name, s in self.pipeline.stages.items()}}


def run_e2e(spec: ModelSpec, config: BenchConfig, data_root: Path, workers: int = 2, log=print) -> list[E2ERow]:
    """For each engine and batch: pure-inference images/s, then the whole pipeline over the dataset."""
    assert config.input_hw is not None, "bench_input_hw sets the data's image size"
    hw = config.input_hw
    build = model_factory(spec, config.checkpoint, config.trust)
    files = prepare_engine_files(spec, config, hw, build, files_needed(list(config.engines)), log)
    items = items_from_dataset(spec, data_root, config.split)
    sample = np.random.default_rng(0).standard_normal((config.batches[0], 3, *hw), dtype=np.float32)
    rows = []
    for name in config.engines:
        try:
            built = build_engine(name, build, files, sample, config.device)
        except EngineUnavailable as why:
            log(f"{name}: skipped ({why})")
            continue
        for batch in config.batches:
            (pure,) = time_batches(built.backend, hw, [batch], config.warmup, config.loop,
                                   show_progress=config.show_progress)
            confusion = ConfusionMatrix(spec.num_classes)
            with tempfile.TemporaryDirectory() as tmp:
                result = run_inference(spec, built.backend, items, InferConfig(Path(tmp), batch=batch),
                                       show_progress=config.show_progress, confusion=confusion, workers=workers)
            assert result.pipeline is not None
            rows.append(E2ERow(name, batch, pure.samples_per_s, result.pipeline,
                               segmentation_metrics(confusion).mIoU))
        del built
        gc.collect()
    return rows
