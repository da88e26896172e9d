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
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from segdeploy.data.binio import output_name, write_prediction
from segdeploy.data.variants import to_class_map
from segdeploy.distributed import DistInfo, collective, from_main, gather_objects, raise_if_peer_failed
from segdeploy.errors import SegdeployError
from segdeploy.evaluation.confusion import ConfusionMatrix
from segdeploy.inference.distributed import (
    RankReport,
    check_visible,
    chunked,
    deal,
    finished_chunks,
    score_finished,
)
from segdeploy.inference.identity import InferFingerprint
from segdeploy.inference.inputs import InputItem, Prepared
from segdeploy.inference.pipeline import PipelineResult, Stages, run_pipeline
from segdeploy.inference.predict import check_input_size
from segdeploy.inference.workers import WorkerPlan
from segdeploy.models.spec import ModelSpec
from segdeploy.reporting import fingerprint as run_record
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
    resume: Path | None = None  # an earlier run folder made with the same fingerprint: finished images are skipped
    run_name: str | None = None  # ais_bench's --output_dirname; default a timestamp plus a unique suffix
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
    pipeline: PipelineResult | None = None  # per-stage timing of what this process computed
    ranks: list[RankReport] = field(default_factory=list)  # under torchrun: what each process did

    @property
    def images_per_second(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class _Bad:
    """An input that could not be read or prepared, kept in place so batches keep their composition."""

    error: SegdeployError


def run_inference(spec: ModelSpec, backend: Backend, items: list[InputItem], config: InferConfig,
                  fingerprint: InferFingerprint | None = None, show_progress: bool = True,
                  confusion: ConfusionMatrix | None = None, workers: WorkerPlan | None = None,
                  info: DistInfo | None = None) -> InferResult:
    """Predict every item and write `<run>/<stem>_0.<fmt>` atomically, then `<run>_summary.json`.

    A new run folder records `fingerprint` (what determines its outputs) before any prediction;
    `config.resume` continues a folder only when its recorded fingerprint is the same. Without a
    fingerprint (a throw-away run, e.g. bench --e2e) nothing is recorded and the run cannot be resumed.

    Reading and preprocessing run ahead in workers (`workers` None: planned by the pipeline from
    the first batch) and post-processing and writing run behind the engine
    (`segdeploy.inference.pipeline`). Batches are always the same consecutive chunks of `items`,
    and a chunk is skipped on resume only when every one of its images is finished, so a resumed
    run computes every output with the same batch composition as an uninterrupted one: the files
    are byte-identical. With `confusion`, labelled dataset images are scored as they are written,
    and finished ones from their files. Under torchrun (`info`), every process computes its share
    of the chunks into the one run folder (`segdeploy.inference.distributed`), the confusion matrix
    is summed over processes, and every process returns the totals; rank 0 writes the summary.
    Dataset items must be made for the engine's input (`items_from_dataset(..., io=engine_io(backend))`).
    """
    _check_config(config, engine_io(backend))
    _check_unique_stems(items)
    info = info or DistInfo()
    run_dir = from_main(lambda: _run_folder(config, fingerprint), info)  # one folder, one fingerprint record
    check_visible(run_dir, info)
    chunks = chunked(items, config.batch)
    shard = deal(len(chunks), from_main(lambda: finished_chunks(run_dir, chunks, config.outfmt), info), info)
    result = InferResult(run_dir)
    for chunk in (chunks[k] for k in shard.done):
        result.skipped_done += len(chunk)
        result.outputs.update({item.stem: _output_name(item.stem, config.outfmt) for item in chunk})
    todo = [item for k in shard.todo for item in chunks[k]]  # whole chunks: the pipeline re-forms these batches
    stages = _stages(spec, backend, config, result, confusion)
    start = time.perf_counter()
    with progress_bar("infer", len(todo), enabled=show_progress and info.is_main) as advance:
        def chunk_done(count: int) -> None:
            advance(count)
            raise_if_peer_failed(info)  # a rank that failed stops the others after their current batch

        result.pipeline = run_pipeline(todo, stages, batch=config.batch, workers=workers, on_done=chunk_done)
    result.seconds = time.perf_counter() - start
    if confusion is not None:
        score_finished([chunks[k] for k in shard.done], run_dir, config.outfmt, spec.num_classes, confusion, info)
        with collective(info, "summing the confusion matrices"):
            confusion.all_reduce_()
    result = _totals(result, items, info)
    if info.is_main:
        _write_summary(result, items, config, backend.name)
    return result


def _totals(mine: InferResult, items: list[InputItem], info: DistInfo) -> InferResult:
    """Every rank's result added up, on every rank, with each rank's own counts in `ranks`."""
    with collective(info, "gathering the results of every rank"):
        results = gather_objects(dataclasses.replace(mine, pipeline=None), info)
    order = {str(item.source): i for i, item in enumerate(items)}
    return InferResult(
        mine.run_dir, written=sum(r.written for r in results), skipped_done=sum(r.skipped_done for r in results),
        seconds=max(r.seconds for r in results),
        outputs={stem: name for r in results for stem, name in r.outputs.items()},
        skipped=sorted((s for r in results for s in r.skipped), key=lambda s: order.get(s["file"], len(order))),
        compute_ms=[ms for r in results for ms in r.compute_ms], pipeline=mine.pipeline,
        ranks=[RankReport(rank, r.written, r.skipped_done, r.seconds) for rank, r in enumerate(results)])


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
                # a label of another size is an error naming it (with --skip-bad: the image is skipped)
                return dataclasses.replace(prepared, label=item.label(prepared.geometry.image_hw))
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
        raw = run_batch(backend, batch_array)
        hw = io.input_hw(inputs[start]) if io.pad_to is None else (io.pad_to, io.pad_to)
        _check_outputs(spec, backend, raw, (stop - start, 1 if io.class_map else spec.num_classes, *hw))
        outputs.extend(io.per_sample(raw))
        compute_ms.append((time.perf_counter() - began) * 1000)
        start = stop
    return outputs


def _check_outputs(spec: ModelSpec, backend: Backend, outputs: np.ndarray, expected: tuple[int, ...]) -> None:
    """An engine whose outputs are not this model's logits (another model's file), or class maps of its
    input's size, stops before any is written."""
    if tuple(outputs.shape) != expected:
        kind = "class maps" if expected[1] == 1 else f"logits of {spec.name}"
        raise SegdeployError.at(f"{backend.name} engine", f"returned outputs of shape {tuple(outputs.shape)}, expected "
                                f"{expected} {kind}; is it running another model's file?")


def _output_name(stem: str, fmt: str) -> str:
    return output_name(stem, 0, fmt)


def _check_unique_stems(items: list[InputItem]) -> None:
    """Two inputs with one output name would overwrite each other's prediction: refuse, naming both.

    Outputs keep ais_bench's names (the input's name cut at its first dot, `<stem>_0.<fmt>`) because
    `evaluate` matches those stems to the dataset's images; so `x.a.bin` and `x.b.bin` cannot both be run.
    """
    first: dict[str, InputItem] = {}
    for item in items:
        if item.stem in first:
            other = first[item.stem]
            raise SegdeployError.at(item.source or item.stem, f"has the same output name "
                                    f"{_output_name(item.stem, '*')} as {other.source or other.stem}: outputs are "
                                    "named after the input cut at its first dot (as ais_bench does); rename one")
        first[item.stem] = item


def _run_folder(config: InferConfig, fingerprint: InferFingerprint | None) -> Path:
    if config.resume is not None:
        if fingerprint is None:
            raise ValueError("resuming needs the fingerprint of the run to continue")
        _check_resumable(config.resume, fingerprint)
        return config.resume
    config.output.mkdir(parents=True, exist_ok=True)
    run_dir = _new_run_dir(config.output, config.run_name)
    if fingerprint is not None:
        try:
            run_record.save(run_dir, fingerprint)
        except OSError:
            run_dir.rmdir()  # still empty: leave no unrecorded run folder behind (a full disk, say)
            raise
    return run_dir


def _check_resumable(run_dir: Path, fingerprint: InferFingerprint) -> None:
    if not run_dir.is_dir():
        raise SegdeployError.at(run_dir, "--resume: no such run folder")
    if not run_record.has_record(run_dir):
        runs = sorted(p.name for p in run_dir.iterdir() if p.is_dir() and run_record.has_record(p))
        if runs:
            raise SegdeployError.at(run_dir, f"--resume takes one run folder, and this is the parent of "
                                             f"{len(runs)}: pass one of them, e.g. {run_dir / runs[-1]}")
    run_record.require_same(run_dir, fingerprint, advice="resume it with the same ones, or start a new run "
                                                        "without --resume")
    if not fingerprint.reproducible:
        raise SegdeployError.at("--resume", "a run on random weights (no --checkpoint) cannot be resumed: a new "
                                            "random network would predict the remaining images; start a new run")


def _new_run_dir(parent: Path, name: str | None) -> Path:
    """A fresh run folder, created by a mkdir that fails if it exists: two runs never share one.

    The default name is the timestamp ais_bench uses plus a random suffix, so runs started in the
    same second (in parallel, or one after the other) get folders of their own.
    """
    if name is not None:
        try:
            (parent / name).mkdir()
        except FileExistsError:
            raise SegdeployError.at(parent / name, "already exists: pass it to --resume, or choose another "
                                                   "name") from None
        return parent / name
    stamp = time.strftime("%Y_%m_%d-%H_%M_%S")
    while True:
        run_dir = parent / f"{stamp}-{secrets.token_hex(3)}"
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:  # 1 in 16 million, and only within one second: draw again
            continue


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
        "ranks": [dataclasses.asdict(r) | {"images_per_second": r.images_per_second} for r in result.ranks],
        "skipped": result.skipped,
    }
    write_json_atomic(result.run_dir.parent / f"{result.run_dir.name}_summary.json", summary)
