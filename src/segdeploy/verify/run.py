"""`verify_engine`: an engine against the PyTorch reference on real images or random inputs, judged.

The library entry point of `segdeploy verify`, of `segdeploy export`'s own check and of any
command that must prove an engine: a `VerifyConfig` in, a `VerifyResult` (with `to_json`) out.
The engine is any `Backend`, built by whoever calls (`runtime.engine.make_backend`,
`benchmark.engines.build_engine`, ...); the reference is the eager fp32 PyTorch module.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from segdeploy.data.variants import Geometry, get_variant, to_class_map
from segdeploy.errors import SegdeployError, one_line
from segdeploy.evaluation.confusion import ConfusionMatrix
from segdeploy.evaluation.metrics import segmentation_metrics
from segdeploy.export.onnx_export import default_input_hw
from segdeploy.inference.inputs import items_from_dataset
from segdeploy.inference.predict import check_input_size
from segdeploy.models.spec import ModelSpec
from segdeploy.reporting.progress import progress_bar
from segdeploy.runtime.backend import Backend, run_batch
from segdeploy.runtime.engine_io import FLOAT_LOGITS, engine_io
from segdeploy.runtime.torch_backend import TorchBackend
from segdeploy.verify.bisect import BisectResult, bisect_onnx
from segdeploy.verify.criteria import Criteria
from segdeploy.verify.parity import (
    LogitDiff,
    MetricDeltas,
    compare_logits,
    merge,
    metric_failures,
    output_failures,
)

BISECT_MODES = ("on-failure", "always", "never")


@dataclass(frozen=True)
class VerifyConfig:
    """What to run and what to demand.

    Inputs are a dataset's images through the model's preprocessing variant when `data_root` is
    given (the first `images`), else `images` random N(0, 1) inputs of `batch` samples each, their
    sizes cycling through `random_sizes` (default: the engine's fixed size, else the deployed input).
    """

    criteria: Criteria = field(default_factory=Criteria)
    data_root: Path | None = None
    split: str = "val"
    variant: str | None = None
    images: int = 20
    random_sizes: tuple[tuple[int, int], ...] = ()
    batch: int = 1
    seed: int = 0
    onnx: Path | None = None  # the file the engine runs; the bisect needs it
    bisect: str = "on-failure"  # BISECT_MODES
    show_progress: bool = True


@dataclass(frozen=True)
class ImageParity:
    """One image (all of its network inputs, e.g. every window) or one random input."""

    name: str
    input_shapes: tuple[tuple[int, ...], ...]
    diff: LogitDiff
    failures: tuple[str, ...]

    def to_json(self) -> dict:
        return {"name": self.name, "input_shapes": [list(s) for s in self.input_shapes], **self.diff.to_json(),
                "passed": not self.failures, "failures": list(self.failures)}


@dataclass(frozen=True)
class VerifyResult:
    model: str
    engine: str
    source: str  # what the inputs were, in words
    criteria: Criteria
    images: tuple[ImageParity, ...]
    overall: LogitDiff | None  # None when the engine failed before producing any output
    metrics: MetricDeltas | None  # with labels only
    failures: tuple[str, ...]  # every failed criterion, in words; empty: passed
    bisect: BisectResult | None = None
    bisect_note: str = ""  # why no bisect ran when one was due
    classes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_json(self) -> dict:
        return {"model": self.model, "engine": self.engine, "source": self.source, "passed": self.passed,
                "failures": list(self.failures), "criteria": asdict(self.criteria),
                "overall": None if self.overall is None else self.overall.to_json(),
                "metrics": None if self.metrics is None else self.metrics.to_json(self.classes),
                "images": [image.to_json() for image in self.images],
                "bisect": None if self.bisect is None else self.bisect.to_json(), "bisect_note": self.bisect_note}


@dataclass(frozen=True)
class _Sample:
    """One image's network inputs, each an (n, 3, h, w) engine call; geometry/label when from a dataset."""

    name: str
    batches: list[np.ndarray]
    geometry: Geometry | None = None
    label: np.ndarray | None = None


@dataclass(frozen=True)
class _Compared:
    """One sample on both sides: each input's diff and (C, h, w) outputs, and what failed."""

    diffs: tuple[LogitDiff, ...]
    expected: tuple[np.ndarray, ...]
    actual: tuple[np.ndarray, ...]
    failing_input: np.ndarray | None  # the first input that fails the per-output criteria, or raised
    error: str = ""  # what the engine raised, in words


def verify_engine(spec: ModelSpec, reference: nn.Module, engine: Backend, config: VerifyConfig,
                  program: torch.onnx.ONNXProgram | None = None, inputs: np.ndarray | None = None) -> VerifyResult:
    """Run `reference` (eager fp32 PyTorch) and `engine` on the same inputs and judge the engine.

    `program`: the in-memory export `config.onnx` was written from, if the caller has it; the
    bisect then reuses it instead of exporting `reference` again. `inputs`: (N, 3, H, W) network
    inputs the caller already has (deploy's preprocessed images), one engine call each, instead of
    the config's dataset or random inputs (no labels, so no metrics).
    """
    if config.bisect not in BISECT_MODES:
        raise ValueError(f"bisect must be one of {BISECT_MODES}, got {config.bisect!r}")
    if engine_io(engine) != FLOAT_LOGITS:
        raise SegdeployError.at(config.onnx or engine.name, f"takes {engine_io(engine).describe()}: verify compares "
                                "logits of normalised float inputs (a folded file is proven by its export's check)")
    torch_reference = TorchBackend(reference)
    if inputs is not None:
        samples, total = (_Sample(f"input {k}", [x[None]]) for k, x in enumerate(inputs)), len(inputs)
        source = f"{len(inputs)} given {'x'.join(map(str, inputs.shape[1:]))} inputs"
    else:
        samples, total, source = _samples(spec, engine, config)
    criteria = config.criteria
    images, first_input, failing_input, error = [], None, None, ""
    confusions = (ConfusionMatrix(spec.num_classes), ConfusionMatrix(spec.num_classes))
    scored = config.data_root is not None and inputs is None
    with progress_bar(f"verify {engine.name}", total, enabled=config.show_progress) as advance:
        for sample in samples:
            first_input = sample.batches[0] if first_input is None else first_input
            compared = _compare(spec, torch_reference, engine, sample, criteria)
            failing_input = compared.failing_input if failing_input is None else failing_input
            if compared.error:
                error = compared.error
                break
            merged = merge(compared.diffs)
            images.append(ImageParity(sample.name, tuple(b.shape for b in sample.batches), merged,
                                      tuple(output_failures(merged, criteria))))
            # Class maps of non-finite logits mean nothing: such a run reports no metrics at all.
            scored = scored and sample.label is not None and not (merged.nonfinite or merged.reference_nonfinite)
            if scored:
                for cm, outputs in zip(confusions, (compared.expected, compared.actual)):
                    cm.update(to_class_map(spec, sample.geometry, list(outputs), sample.name), sample.label)
            advance(1)
    overall = merge([image.diff for image in images]) if images else None
    metrics = MetricDeltas(*(segmentation_metrics(cm) for cm in confusions)) if scored and images else None
    failures = ([error] if error else []) + (output_failures(overall, criteria) if overall else [])
    failures += metric_failures(metrics, criteria) if metrics is not None else []
    due = config.bisect == "always" or (config.bisect == "on-failure" and bool(failures))
    bisect, note = _bisect(reference, config, (failing_input if failing_input is not None else first_input) if due
                           else None, program)
    return VerifyResult(spec.name, engine.name, source, criteria, tuple(images), overall, metrics, tuple(failures),
                        bisect, note, spec.classes)


def _compare(spec: ModelSpec, reference: Backend, engine: Backend, sample: _Sample, criteria: Criteria) -> _Compared:
    diffs, expected, actual, failing = [], [], [], None
    for x in sample.batches:
        check_input_size(spec, engine, x.shape[2:])
        want = reference(x)
        try:
            got = run_batch(engine, x)
        except Exception as err:  # whatever the engine raises is the finding, not a crash
            return _Compared(tuple(diffs), tuple(expected), tuple(actual), x,
                             f"{engine.name} failed on {sample.name}: {one_line(str(err))[:200]}")
        diff = compare_logits(want, got, criteria)
        if failing is None and output_failures(diff, criteria):
            failing = x
        diffs.append(diff)
        expected.append(want[0])
        actual.append(got[0])
    return _Compared(tuple(diffs), tuple(expected), tuple(actual), failing)


def _samples(spec: ModelSpec, engine: Backend, config: VerifyConfig) -> tuple[Iterator[_Sample], int, str]:
    if config.data_root is not None:
        variant = get_variant(spec, config.variant)
        items = items_from_dataset(spec, config.data_root, config.split, variant.name)[:config.images]
        if not items:
            raise SegdeployError.at(config.data_root, f"no {config.split} images")
        source = f"{len(items)} {config.split} images of {config.data_root}, variant {variant.name}"
        return (_dataset_sample(item) for item in items), len(items), source
    sizes = config.random_sizes or (engine.fixed_hw or default_input_hw(spec),)
    shown = ", ".join(f"{config.batch}x3x{h}x{w}" for h, w in sizes)
    source = f"{config.images} random N(0, 1) inputs ({shown}), seed {config.seed}"
    return _random_samples(sizes, config), config.images, source


def _dataset_sample(item) -> _Sample:
    prepared = item.load()
    label = item.label(prepared.geometry.image_hw) if item.label is not None else None
    return _Sample(item.stem, [x[None] for x in prepared.inputs], prepared.geometry, label)


def _random_samples(sizes: tuple[tuple[int, int], ...], config: VerifyConfig) -> Iterator[_Sample]:
    rng = np.random.default_rng(config.seed)
    for k in range(config.images):
        h, w = sizes[k % len(sizes)]
        yield _Sample(f"random {k}", [rng.standard_normal((config.batch, 3, h, w), dtype=np.float32)])


def _bisect(reference: nn.Module, config: VerifyConfig, x: np.ndarray | None,
            program: torch.onnx.ONNXProgram | None) -> tuple[BisectResult | None, str]:
    """The bisect, when it is due (always, or on failure), on input `x`."""
    if x is None:
        return None, ""
    if config.onnx is None:
        return None, "no bisect: the engine runs no ONNX file"
    atol, rtol = config.criteria.tolerance()
    return bisect_onnx(reference, config.onnx, x[:1], atol, rtol, show_progress=config.show_progress,
                       program=program), ""
