"""`segdeploy infer`: batch inputs through an engine and write ais_bench-layout predictions, resumably.

Two kinds of item (see `segdeploy.inference.inputs`): dataset images, which the variant prepares
and post-processes here, in this process, so each `<stem>_0.<fmt>` is a class map at label
resolution (the variants that resize or average logits need them in memory); and preprocessed
`.bin` files, whose raw output is written as ais_bench would (the argmax class map, or with
`keep_logits` the float32 logits) for `segdeploy evaluate` to post-process.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from segdeploy.data.binio import output_name, write_prediction
from segdeploy.data.variants import to_class_map
from segdeploy.errors import SegdeployError
from segdeploy.evaluation.confusion import ConfusionMatrix
from segdeploy.inference.inputs import InputItem, Prepared
from segdeploy.inference.pipeline import PipelineResult, Stages, run_pipeline
from segdeploy.inference.predict import check_input_size
from segdeploy.inference.workers import WorkerPlan
from segdeploy.models.spec import ModelSpec
from segdeploy.reporting.atomic import write_json_atomic
from segdeploy.reporting.progress import progress_bar
from segdeploy.runtime.backend import Backend, run_batch
from segdeploy.runtime.engine_io import EngineIO, engine_io

OUTFMTS = ("bin", "npy", "png")


@dataclass(frozen=True)
class InferConfig:
    output: Path  # the parent of run folders, as ais_bench's --output
    batch: int = 1  # network inputs per engine call (windows, for a windows variant)
    outfmt: str = "bin"
    keep_logits: bool = False  # raw outputs of .bin inputs: float32 (C, H, W) logits, not class maps
    resume: Path | None = None  # an earlier run folder: finished images are skipped
    run_name: str | None = None  # ais_bench's --output_dirname; default a timestamp
    skip_bad: bool = False  # record an unreadable input in the summary and go on


@dataclass
class InferResult:
    run_dir: Path
    written: int = 0
    skipped_done: int = 0
    seconds: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)  # stem -> output file name
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"file", "error"} per bad input
    compute_ms: list[float] = field(default_factory=list)  # engine time of each call
    pipeline: PipelineResult | None = None  # per-stage timing of what was computed

    @property
    def images_per_second(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class _Bad:
    """An input that could not be read or prepared, kept in place so batches keep their composition."""

    error: SegdeployError


def run_inference(spec: ModelSpec, backend: Backend, items: list[InputItem], config: InferConfig,
                  show_progress: bool = True, confusion: ConfusionMatrix | None = None,
                  workers: WorkerPlan | None = None) -> InferResult:
    """Predict every item and write `<run>/<stem>_0.<fmt>` atomically, then `<run>_summary.json`.

    Reading and preprocessing run ahead in workers (`workers` None: planned by the pipeline from
    the first batch) and post-processing and writing run behind the engine
    (`segdeploy.inference.pipeline`). Batches are always the same consecutive chunks of `items`,
    and a chunk is skipped on resume only when every one of its images is finished, so a resumed
    run computes every output with the same batch composition as an uninterrupted one: the files
    are byte-identical. With `confusion`, labelled dataset images are scored as they are written.
    Dataset items must be made for the engine's input (`items_from_dataset(..., io=engine_io(backend))`).
    """
    _check_config(config, engine_io(backend))
    run_dir = _run_folder(config)
    result = InferResult(run_dir)
    todo: list[InputItem] = []
    for chunk in (items[i:i + config.batch] for i in range(0, len(items), config.batch)):
        paths = {item.stem: run_dir / _output_name(item.stem, config.outfmt) for item in chunk}
        if all(p.exists() for p in paths.values()):
            result.skipped_done += len(chunk)
            result.outputs.update({stem: p.name for stem, p in paths.items()})
        else:
            todo.extend(chunk)  # whole chunks only: the pipeline re-forms exactly these batches
    stages = _stages(spec, backend, config, result, confusion)
    start = time.perf_counter()
    with progress_bar("infer", len(todo), enabled=show_progress) as advance:
        result.pipeline = run_pipeline(todo, stages, batch=config.batch, workers=workers, on_done=advance)
    result.seconds = time.perf_counter() - start
    _write_summary(result, items, config, backend.name)
    return result


def _check_config(config: InferConfig, io: EngineIO) -> None:
    if config.outfmt not in OUTFMTS:
        raise SegdeployError.at("--outfmt", f"must be one of {', '.join(OUTFMTS)}, got {config.outfmt!r}")
    if config.batch < 1:
        raise SegdeployError.at("--batch", f"must be at least 1, got {config.batch}")
    if config.keep_logits and config.outfmt == "png":
        raise SegdeployError.at("--outfmt png", "cannot hold logits; use bin or npy")
    if config.keep_logits and io.class_map:
        raise SegdeployError.at("--logits", "this engine returns class maps (exported with --fold-argmax)")


@dataclass(frozen=True)
class _Read:
    """The read stage (picklable, for worker processes): the item's bytes, or `_Bad` with --skip-bad."""

    skip_bad: bool

    def __call__(self, item: InputItem) -> object:
        return _guarded(self.skip_bad, item.read)


@dataclass(frozen=True)
class _Prepare:
    """The preprocess stage (picklable): the variant's inputs, and the label when scoring."""

    skip_bad: bool
    with_label: bool

    def __call__(self, item: InputItem, raw: object) -> object:
        if isinstance(raw, _Bad):
            return raw

        def prepare() -> Prepared:
            prepared = item.prepare(raw)
            if self.with_label and item.label is not None and prepared.geometry is not None:
                return dataclasses.replace(prepared, label=item.label())
            return prepared

        return _guarded(self.skip_bad, prepare)


def _guarded(skip_bad: bool, step: Callable[[], object]) -> object:
    try:
        return step()
    except SegdeployError as err:
        if not skip_bad:
            raise
        return _Bad(err)


def _stages(spec: ModelSpec, backend: Backend, config: InferConfig, result: InferResult,
            confusion: ConfusionMatrix | None) -> Stages[InputItem]:
    """The pipeline stages of `infer`: read, prepare (variant), engine, class map (+ metric), file."""
    io = engine_io(backend)

    def infer(chunk: list[InputItem], prepared: list) -> list:
        good = [p for p in prepared if not isinstance(p, _Bad)]
        outputs = iter(_run_engine(spec, backend, io, [x for p in good for x in p.inputs], config.batch,
                                   result.compute_ms))  # (C, h, w) logits or (h, w) class maps, each a view
        return [None if isinstance(p, _Bad) else [next(outputs) for _ in p.inputs] for p in prepared]

    def postprocess(item: InputItem, prepared, outputs) -> object:
        if isinstance(prepared, _Bad):
            return prepared
        array = _output_array(spec, config, io, item, prepared, outputs)
        if confusion is not None and prepared.label is not None:
            confusion.update(array, prepared.label)
        return array

    def write(item: InputItem, array) -> None:
        if isinstance(array, _Bad):
            result.skipped.append({"file": str(item.source), "error": str(array.error)})
            return
        path = result.run_dir / _output_name(item.stem, config.outfmt)
        write_prediction(path, array, config.outfmt)
        result.outputs[item.stem] = path.name
        result.written += 1

    return Stages(read=_Read(config.skip_bad), preprocess=_Prepare(config.skip_bad, confusion is not None),
                  infer=infer, postprocess=postprocess, write=write)


def _output_array(spec: ModelSpec, config: InferConfig, io: EngineIO, item: InputItem, prepared: Prepared,
                  outputs: list[np.ndarray]) -> np.ndarray:
    """One image's file content: its int32 class map at label resolution (dataset images), or the raw
    output (.bin inputs). A folded engine's int32 map is passed through without a copy."""
    if prepared.geometry is not None:
        return np.asarray(to_class_map(spec, prepared.geometry, outputs, item.source or item.stem), dtype=np.int32)
    if config.keep_logits or io.class_map:
        return outputs[0]
    return outputs[0].argmax(0).astype(np.int32)  # (h, w): what a model ending in argmax emits


def _run_engine(spec: ModelSpec, backend: Backend, io: EngineIO, inputs: list[np.ndarray], batch: int,
                compute_ms: list[float]) -> list[np.ndarray]:
    """Outputs of each input, in engine calls of up to `batch` consecutive inputs of one size."""
    outputs: list[np.ndarray] = []
    start = 0
    while start < len(inputs):
        shape = inputs[start].shape
        stop = start + 1
        while stop < len(inputs) and stop - start < batch and inputs[stop].shape == shape:
            stop += 1
        if io.pad_to is None:  # a padding engine's network always sees its canvas
            check_input_size(spec, backend, io.input_hw(inputs[start]))
        began = time.perf_counter()
        batch_array = inputs[start][None] if stop - start == 1 else np.stack(inputs[start:stop])  # one: a view
        outputs.extend(io.per_sample(run_batch(backend, batch_array)))
        compute_ms.append((time.perf_counter() - began) * 1000)
        start = stop
    return outputs


def _output_name(stem: str, fmt: str) -> str:
    return output_name(stem, 0, fmt)


def _run_folder(config: InferConfig) -> Path:
    if config.resume is not None:
        if not config.resume.is_dir():
            raise SegdeployError.at(config.resume, "--resume: no such run folder")
        return config.resume
    name = config.run_name or time.strftime("%Y_%m_%d-%H_%M_%S")
    run_dir = config.output / name
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def _stats(values: list[float]) -> dict[str, float]:
    """ais_bench's statistics block (milliseconds)."""
    if not values:
        return {"min": 0.0, "max": 0.0, "mean": 0.0, "median": 0.0, "percentile(99%)": 0.0, "count": 0}
    array = np.asarray(values)
    return {"min": float(array.min()), "max": float(array.max()), "mean": float(array.mean()),
            "median": float(np.median(array)), "percentile(99%)": float(np.percentile(array, 99)),
            "count": len(values)}


def _write_summary(result: InferResult, items: list[InputItem], config: InferConfig, engine: str) -> None:
    """`<run>_summary.json` beside the run folder, with ais_bench's keys, plus segdeploy's own below them.

    NPU_compute_time is the engine call time here; host<->device copies are not separately
    measurable on these engines, so H2D/D2H latency are null rather than invented.
    """
    compute = _stats(result.compute_ms)
    done = [item for item in items if item.stem in result.outputs]
    summary = {
        "filesinfo": {str(i): {"infiles": [str(item.source)],
                               "outfiles": [str(result.run_dir / result.outputs[item.stem])]}
                      for i, item in enumerate(done)},
        "args": sys.argv,
        "NPU_compute_time": compute,
        "H2D_latency": None,
        "D2H_latency": None,
        "throughput": 1000 * config.batch / compute["mean"] if compute["mean"] > 0 else 0.0,
        "npu_compute_time_list": result.compute_ms,
        "pid": os.getpid(),
        "engine": engine,
        "batchsize": config.batch,
        "images_written": result.written,
        "images_already_done": result.skipped_done,
        "images_per_second": result.images_per_second,
        "seconds": result.seconds,
        "skipped": result.skipped,
    }
    write_json_atomic(result.run_dir.parent / f"{result.run_dir.name}_summary.json", summary)
