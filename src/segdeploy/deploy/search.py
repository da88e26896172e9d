"""Run the deployment candidates: each engine's accuracy pass, then each candidate's timed loop.

Every finished step is written atomically into the deploy folder (`search/`), together with the
run's fingerprint, and read back on `--resume` only when the fingerprint matches: an interrupted
search continues at the first unfinished step. Steps past `--time-budget` are not run; they stay in
the report as skipped and a resumed run (with a fresh budget) does them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from segdeploy.benchmark.artifacts import EngineFiles, FileRecipe, prepare_files
from segdeploy.benchmark.catalog import ENGINES
from segdeploy.benchmark.engines import EngineUnavailable, build_engine, files_needed, torch_options_of
from segdeploy.benchmark.streams import time_streams
from segdeploy.data.datasets import read_label_of_size
from segdeploy.data.images import read_rgb
from segdeploy.data.variants import input_labels, make_inputs
from segdeploy.deploy.accuracy import EngineScore, ScoredSet, score_engine
from segdeploy.deploy.candidates import Candidate, CandidateResult, engine_order
from segdeploy.deploy.fingerprint import DeployFingerprint
from segdeploy.errors import SegdeployError
from segdeploy.models.spec import ModelSpec, Variant
from segdeploy.reporting.atomic import write_json_atomic
from segdeploy.reporting.progress import progress_bar
from segdeploy.runtime.torch_backend import TorchOptions

Log = Callable[[str], None]
# The accuracy pass runs one input per call: the batch does not change what an engine computes (beyond
# float rounding), and one full-size input at a time keeps its memory low.
ACCURACY_BATCH = 1


@dataclass(frozen=True)
class SearchContext:
    spec: ModelSpec
    variant: Variant
    build: Callable[[], nn.Module]  # a fresh network with the checkpoint's weights
    scored: ScoredSet
    fp32: Path  # the exported, proven ONNX file
    timing_inputs: np.ndarray  # (k, 3, h, w) preprocessed scored images: every timed batch is cut from them
    folder: Path  # the deploy folder
    tag: str  # file-name stem of the engine files made from these weights at this size
    fingerprint: DeployFingerprint
    max_drop: float
    calib_images: int
    time_budget_s: float
    seconds_per_candidate: float
    warmup: int = 1  # untimed calls per stream: the first pays session and kernel set-up
    show_progress: bool = True

    @property
    def store(self) -> Path:
        return self.folder / "search"

    @property
    def predictions(self) -> Path:
        return self.store / "predictions"


@dataclass(frozen=True)
class SearchResult:
    reference: EngineScore  # PyTorch fp32
    scores: dict[str, EngineScore]  # every engine whose accuracy pass ran, torch included
    results: list[CandidateResult]  # every candidate, in search order, accuracy joined
    files: dict[str, Path]  # engine -> the file it runs (engines that run a file)


def run_search(ctx: SearchContext, candidates: list[Candidate], log: Log) -> SearchResult:
    """The accuracy pass of torch fp32 (the reference) and of every candidate engine, each followed by
    its candidates' timed loops, within the time budget."""
    started = time.perf_counter()
    engines = engine_order(["torch", *{c.engine for c in candidates}])
    scores: dict[str, EngineScore] = {}
    files: dict[str, Path] = {}
    timed: list[CandidateResult] = []
    with progress_bar("deploy search", len(engines) + len(candidates), unit="step",
                      enabled=ctx.show_progress) as advance:
        for engine in engines:
            mine = [c for c in candidates if c.engine == engine]
            left = ctx.time_budget_s - (time.perf_counter() - started)
            outcome, engine_files = (_int8_aware_not_needed(ctx, scores) if ENGINES[engine].file == "int8_aware"
                                     else None), None
            if outcome is None:
                outcome, engine_files = _engine_pass(ctx, engine, left, log)
            advance(1)
            if isinstance(outcome, CandidateResult):  # the engine cannot run: each candidate says why
                log(f"{engine}: {outcome.verdict}")
                timed += [dataclasses.replace(outcome, candidate=c) for c in mine]
                advance(len(mine))
                continue
            scores[engine] = outcome
            if ENGINES[engine].file is not None:
                files[engine] = getattr(engine_files, ENGINES[engine].file)
            for candidate in mine:
                left = ctx.time_budget_s - (time.perf_counter() - started)
                share = left / (len(candidates) - len(timed))  # what is left, shared among what is left
                timed.append(_candidate(ctx, candidate, engine_files, outcome, share, log))
                advance(1)
    if "torch" not in scores:
        raise SegdeployError.at("torch", "the PyTorch fp32 reference could not run: nothing to compare with")
    reference = scores["torch"]
    return SearchResult(reference, scores, [_with_accuracy(r, scores, reference, ctx.max_drop) for r in timed],
                        files)


def _int8_aware_not_needed(ctx: SearchContext, scores: dict[str, EngineScore]) -> CandidateResult | None:
    """The accuracy-aware int8 file is made only when plain int8 loses more than the budget: its
    fallback steps cost minutes, and within the budget it would equal the plain file."""
    plain, reference = scores.get("onnxruntime-int8"), scores.get("torch")
    if plain is None or reference is None:
        return None
    drop = (plain.metrics.mIoU - reference.metrics.mIoU) * 100
    if math.isnan(drop) or drop < -ctx.max_drop:
        return None
    return CandidateResult(Candidate("onnxruntime-int8-aware", 0, 0), "not needed",
                           f"onnxruntime-int8 is within the budget (Δ mIoU {drop:+.2f})")


def _engine_pass(ctx: SearchContext, engine: str, budget_left: float, log: Log
                 ) -> tuple[EngineScore | CandidateResult, EngineFiles | None]:
    """The engine's files and its score on the scored images (reused when stored), or why it has none."""
    record = ctx.store / "accuracy" / f"{engine}.json"
    stored = _load(record, ctx.fingerprint)
    why_not = Candidate(engine, 0, 0)  # each of the engine's candidates takes this result's place
    if stored is None and budget_left <= 0 and engine != "torch":
        return CandidateResult(why_not, "over budget"), None
    try:
        engine_files = _engine_files(ctx, engine, log)
        if stored is not None:
            log(f"{engine}: accuracy pass reused from {record}")
            return EngineScore.from_json(stored), engine_files
        reference = None if engine == "torch" else ctx.predictions / "torch"
        built = build_engine(engine, ctx.build, engine_files, ctx.timing_inputs[:1])
        score, _ = score_engine(ctx.spec, built.backend, ctx.scored, ctx.predictions, ACCURACY_BATCH, reference)
    except EngineUnavailable as why:
        return CandidateResult(why_not, "unavailable", str(why)), None
    except SegdeployError as err:
        return CandidateResult(why_not, "error", str(err)), None
    options = torch_options_of(built) if engine in ("torch-opt", "torch-bf16") else None  # the tuned ones
    score = dataclasses.replace(score, detail=built.detail,
                                torch_options=None if options is None else dataclasses.asdict(options))
    del built
    gc.collect()
    _save(record, ctx.fingerprint, score.to_json())
    log(f"{engine}: mIoU {score.metrics.mIoU * 100:.2f} on {score.images} images, pixel agreement with torch "
        f"{score.pixel_agreement:.4%} ({score.seconds:.1f} s)")
    return score, engine_files


def _engine_files(ctx: SearchContext, engine: str, log: Log) -> EngineFiles:
    """The files `engine` runs, made once in the deploy folder's `work/` (ONNX Runtime's optimised
    graphs are cached there too).

    The int8 files are calibrated on the split's unscored images; the accuracy-aware one keeps nodes
    in float until its Δ mIoU on labelled unscored images is within `ctx.max_drop` (both sets are
    fixed by the fingerprint's data and counts), so the scored images stay out of its choices.
    """
    recipe = FileRecipe(lambda: calibration_inputs(ctx), f"deploy:{ctx.tag}:unscored:{ctx.calib_images}",
                        validation=lambda: validation_inputs(ctx, log),
                        validation_key=f"deploy:{ctx.tag}:labelled-unscored:{ctx.calib_images}",
                        max_drop=ctx.max_drop, spec=ctx.spec)
    return prepare_files(ctx.build, tuple(ctx.timing_inputs.shape[2:]), ctx.folder / "work", ctx.tag,
                         files_needed([engine]), recipe, onnx=ctx.fp32, log=log)


def calibration_inputs(ctx: SearchContext) -> list[np.ndarray]:
    """int8 calibration batches (1, 3, h, w): images of the split that are not scored (else the
    scored ones), preprocessed by the variant as deployed; inputs of another size are left out."""
    hw = tuple(ctx.timing_inputs.shape[2:])
    batches = []
    for sample in (ctx.scored.others or ctx.scored.scored)[: ctx.calib_images]:
        inputs, _ = make_inputs(ctx.spec, ctx.variant, read_rgb(sample.image_path))
        batches += [x[None] for x in inputs if x.shape[1:] == hw]
    return batches[: ctx.calib_images] or [x[None] for x in ctx.timing_inputs[: ctx.calib_images]]


def validation_inputs(ctx: SearchContext, log: Log) -> tuple[np.ndarray, list[np.ndarray]]:
    """The accuracy-aware int8 file's validation set: network inputs (k, 3, h, w) of labelled images of
    the split that are not scored (else the scored ones, said in the log), each with its label as the
    input sees it (`input_labels`); inputs of another size are left out."""
    hw = tuple(ctx.timing_inputs.shape[2:])
    labelled = [s for s in ctx.scored.others if s.label_path is not None]
    if not labelled:
        log("accuracy-aware int8: the split has no labelled images beyond the scored ones; its fallback "
            "is tuned on the scored images")
        labelled = ctx.scored.scored
    images, labels = [], []
    for sample in labelled[: ctx.calib_images]:
        inputs, geometry = make_inputs(ctx.spec, ctx.variant, read_rgb(sample.image_path))
        label = read_label_of_size(ctx.spec.dataset, sample, geometry.image_hw)
        pairs = [(x, y) for x, y in zip(inputs, input_labels(geometry, label)) if x.shape[1:] == hw]
        images += [x for x, _ in pairs]
        labels += [y for _, y in pairs]
    if not images:
        raise SegdeployError.at(ctx.scored.scored[0].image_path.parent, f"no labelled input of {hw[0]}x{hw[1]} "
                                                                        "for the accuracy-aware int8 file")
    return np.stack(images), labels


def _candidate(ctx: SearchContext, candidate: Candidate, files: EngineFiles, score: EngineScore,
               seconds: float, log: Log) -> CandidateResult:
    """A stored timing of `candidate`, or a fresh one of at most `seconds` (none when the budget is spent)."""
    record = ctx.store / "candidates" / f"{candidate.id}.json"
    stored = _load(record, ctx.fingerprint)
    if stored is not None:
        return CandidateResult.from_timing_json(stored)
    if seconds <= 0:
        return CandidateResult(candidate, "over budget")
    result = time_candidate(ctx, candidate, files, score, min(ctx.seconds_per_candidate, max(seconds, 0.2)))
    if result.timed:
        _save(record, ctx.fingerprint, result.timing_json())
        t = result.timing
        log(f"{candidate.id}: {t.samples_per_s:.2f} images/s, p50 {t.p50_ms:.1f} ms ({t.loops} calls)")
    else:
        log(f"{candidate.id}: {result.verdict}")
    return result


def time_candidate(ctx: SearchContext, candidate: Candidate, files: EngineFiles, score: EngineScore,
                   seconds: float) -> CandidateResult:
    """`candidate.streams` fresh instances of its engine, `candidate.threads` threads each, timed together
    on real preprocessed images."""
    x = ctx.timing_inputs[np.arange(candidate.batch) % len(ctx.timing_inputs)]  # (batch, 3, h, w)
    options = None if score.torch_options is None else TorchOptions(**score.torch_options)
    try:
        with torch_threads(candidate.threads):
            built = [build_engine(candidate.engine, ctx.build, files, x, torch_options=options,
                                  threads=candidate.threads) for _ in range(candidate.streams)]
            measured = time_streams([b.backend for b in built], x, warmup=ctx.warmup, seconds=seconds)
    except EngineUnavailable as why:
        return CandidateResult(candidate, "unavailable", str(why))
    except Exception as err:  # out of memory is a MemoryError, RuntimeError or an engine's own type
        return CandidateResult(candidate, "error", (str(err).strip().splitlines() or [type(err).__name__])[0][:200])
    return CandidateResult(candidate, "timed", timing=measured.timing, latencies_ms=measured.latencies_ms,
                           detail=built[0].detail)


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """torch's intra-op pool is process-wide: set it for one candidate, then put it back."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _with_accuracy(result: CandidateResult, scores: dict[str, EngineScore], reference: EngineScore,
                   max_drop: float) -> CandidateResult:
    score = scores.get(result.candidate.engine)
    if score is None:
        return result
    miou, base = score.metrics.mIoU * 100, reference.metrics.mIoU * 100
    drop = miou - base
    return dataclasses.replace(result, miou=miou, d_miou=drop, passed=not math.isnan(drop) and not drop < -max_drop)


def _load(path: Path, fingerprint: DeployFingerprint) -> dict[str, Any] | None:
    """A stored step's payload, when it exists and was made with this fingerprint."""
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # not written yet (writes are atomic: a file is whole or absent), or edited by hand
    if not isinstance(obj, dict) or obj.get("fingerprint") != fingerprint.to_json():
        return None
    return obj.get("result")


def _save(path: Path, fingerprint: DeployFingerprint, payload: dict[str, Any]) -> None:
    write_json_atomic(path, {"fingerprint": fingerprint.to_json(), "result": payload})
