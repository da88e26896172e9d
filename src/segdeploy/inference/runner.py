"""`segdeploy infer`: batch inputs through an engine and write ais_bench-layout predictions, resumably."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segdeploy.errors import SegdeployError
from segdeploy.inference.inputs import InputItem
from segdeploy.inference.predict import predict_logits
from segdeploy.models.spec import ModelSpec
from segdeploy.reporting.atomic import write_json_atomic
from segdeploy.reporting.progress import progress_bar
from segdeploy.runtime.backend import Backend

OUTFMTS = ("bin", "npy", "png")


@dataclass(frozen=True)
class InferConfig:
    output: Path  # the parent of run folders, as ais_bench's --output
    batch: int = 1
    outfmt: str = "bin"
    keep_logits: bool = False  # also write `<stem>_1.npy` float32 logits (C, H, W)
    resume: Path | None = None  # an earlier run folder: finished images are skipped
    run_name: str | None = None  # ais_bench's --output_dirname; default a timestamp


@dataclass
class InferResult:
    run_dir: Path
    written: int = 0
    skipped_done: int = 0
    seconds: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)  # stem -> class-map file

    @property
    def images_per_second(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0


def run_inference(spec: ModelSpec, backend: Backend, items: list[InputItem], config: InferConfig,
                  show_progress: bool = True) -> InferResult:
    """Predict every item and write `<run>/<stem>_0.<fmt>` (int32 class map) atomically.

    Batches are always the same consecutive chunks of `items`, and a chunk is skipped on resume
    only when every one of its images is finished, so a resumed run computes every output with the
    same batch composition as an uninterrupted one: the files are byte-identical.
    """
    if config.outfmt not in OUTFMTS:
        raise SegdeployError.at("--outfmt", f"must be one of {', '.join(OUTFMTS)}, got {config.outfmt!r}")
    if config.batch < 1:
        raise SegdeployError.at("--batch", f"must be at least 1, got {config.batch}")
    run_dir = _run_folder(config)
    result = InferResult(run_dir)
    chunks = [items[i:i + config.batch] for i in range(0, len(items), config.batch)]
    start = time.perf_counter()
    with progress_bar("infer", len(items), enabled=show_progress) as advance:
        for chunk in chunks:
            paths = [run_dir / _output_name(item.stem, 0, config.outfmt) for item in chunk]
            if all(p.exists() for p in paths):
                result.skipped_done += len(chunk)
            else:
                _predict_and_write(spec, backend, chunk, paths, config)
                result.written += len(chunk)
            result.outputs.update({item.stem: p.name for item, p in zip(chunk, paths)})
            advance(len(chunk))
    result.seconds = time.perf_counter() - start
    _write_summary(result, items, config)
    return result


def _predict_and_write(spec: ModelSpec, backend: Backend, chunk: list[InputItem], paths: list[Path],
                       config: InferConfig) -> None:
    from segdeploy.data.binio import write_prediction

    batch = np.stack([item.load() for item in chunk])  # (N, 3, H, W)
    logits = predict_logits(spec, backend, batch)  # (N, C, H, W)
    for item, path, sample_logits in zip(chunk, paths, logits):
        if config.keep_logits:
            write_prediction(path.parent / _output_name(item.stem, 1, "npy"), sample_logits, "npy")
        class_map = sample_logits.argmax(0).astype(np.int32)  # (H, W)
        write_prediction(path, class_map, config.outfmt)


def _output_name(stem: str, k: int, fmt: str) -> str:
    from segdeploy.data.binio import output_name

    return output_name(stem, k, fmt)


def _run_folder(config: InferConfig) -> Path:
    if config.resume is not None:
        if not config.resume.is_dir():
            raise SegdeployError.at(config.resume, "--resume: no such run folder")
        return config.resume
    name = config.run_name or time.strftime("%Y_%m_%d-%H_%M_%S")
    run_dir = config.output / name
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def _write_summary(result: InferResult, items: list[InputItem], config: InferConfig) -> None:
    """`<run>_summary.json` beside the run folder, shaped like ais_bench's."""
    summary = {
        "filesinfo": {i: {"infiles": [str(item.source)], "outfiles": [str(result.run_dir / result.outputs[item.stem])]}
                      for i, item in enumerate(items)},
        "args": sys.argv,
        "throughput": result.images_per_second,
        "written": result.written,
        "skipped_already_done": result.skipped_done,
        "seconds": result.seconds,
        "batchsize": config.batch,
    }
    write_json_atomic(result.run_dir.parent / f"{result.run_dir.name}_summary.json", summary)
