"""`segdeploy deploy`: checkpoint -> proven export -> candidate search -> the fastest passing
deployment, copied into a folder with `deployment.json` and a report.

Steps: check the checkpoint's keys; export it (onnx.checker, ONNX Runtime vs PyTorch on a random
batch and on the scored images); score every engine on the same labelled images and time every
candidate (engine and precision x batch x threads/streams) on them within the time budget; pick the
fastest candidate within `max_drop` mIoU points of PyTorch fp32; copy its file, write
`deployment.json`, `report.{json,md,html}`. Resumable: see `segdeploy.deploy.search`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segdeploy.benchmark.catalog import CUDA_ENGINES, ENGINES
from segdeploy.benchmark.compare import model_factory
from segdeploy.data.variants import get_variant
from segdeploy.deploy.accuracy import ScoredSet, scored_set
from segdeploy.deploy.artifact import artifact_source, copy_artifact, deployment_record, infer_command
from segdeploy.deploy.candidates import AUTO_BATCHES, CandidateResult, candidate_list, pick, tradeoff
from segdeploy.deploy.fingerprint import DeployFingerprint, check_same, files_sha256
from segdeploy.deploy.proof import ExportProof, inspect_checkpoint, prove_export
from segdeploy.deploy.report import ReportFiles, write_report
from segdeploy.deploy.search import SearchContext, SearchResult, run_search
from segdeploy.errors import SegdeployError
from segdeploy.models import get_spec
from segdeploy.models.spec import ModelSpec, Variant
from segdeploy.reporting.atomic import write_json_atomic
from segdeploy.reporting.environment import cpu_model, environment, library_versions
from segdeploy.reporting.fingerprint import file_sha256
from segdeploy.reporting.report import metrics_json
from segdeploy.runtime.machine import physical_cores

# The libraries whose versions change what the candidates compute or how fast (in the fingerprint).
ENGINE_LIBRARIES = ("segdeploy", "torch", "onnxruntime", "onnx", "onnxslim", "openvino")
PARITY_IMAGES = 2  # scored images in the export's real-image parity check (one batch: memory)


@dataclass(frozen=True)
class DeployConfig:
    model: str
    checkpoint: Path
    data_root: Path
    out: Path
    split: str = "val"
    images: int = 20  # labelled images every engine is scored on
    max_drop: float = 0.5  # mIoU points a candidate may lose against PyTorch fp32
    engines: tuple[str, ...] | None = None  # None: every engine of the catalogue
    batches: tuple[int, ...] = AUTO_BATCHES
    time_budget_min: float = 10.0  # for the search: accuracy passes and timed loops
    variant: str | None = None  # the model's preprocessing variant (default: its first)
    trust: bool = False
    resume: bool = False  # continue the deploy already in `out` (same settings)
    calib_images: int = 8
    seconds_per_candidate: float = 3.0  # longest timed loop of one candidate
    samples_to_show: int = 3  # images side by side in the report
    tiny: bool = False  # the test-size network (tests)
    show_progress: bool = True
    command_line: tuple[str, ...] = ()  # recorded in deployment.json and the report


@dataclass(frozen=True)
class DeployResult:
    folder: Path
    search: SearchResult
    chosen: CandidateResult | None
    tradeoff: str
    infer_command: str | None
    deployment: Path | None
    report: ReportFiles


def run_deploy(config: DeployConfig, log: Callable[[str], None] = print) -> DeployResult:
    _check(config)
    spec = get_spec(config.model)
    variant = get_variant(spec, config.variant)
    scored = scored_set(spec, config.data_root, config.split, variant.name, config.images)
    if len(scored.scored) < config.images:
        log(f"{config.data_root} has {len(scored.scored)} labelled {config.split} images: scoring all of them "
            f"(--images {config.images})")
    keys = inspect_checkpoint(spec, config.checkpoint, config.trust, config.tiny)
    log(keys)
    fingerprint = _fingerprint(config, spec, variant, scored)
    _claim_folder(config.out, fingerprint, config.resume)  # after the checks of what the user passed
    timing_inputs = _timing_inputs(scored, max(config.batches))
    hw = tuple(timing_inputs.shape[2:])
    tag = f"{spec.name}{'_tiny' * config.tiny}_{hw[0]}x{hw[1]}_{fingerprint.checkpoint_sha256[:10]}"
    proof = _proven_export(config, spec, fingerprint, timing_inputs, config.out / "work" / f"{tag}_fp32.onnx", log)
    ctx = SearchContext(spec, variant, model_factory(spec, config.checkpoint, config.trust, config.tiny), scored,
                        proof.onnx, timing_inputs, config.out, tag, fingerprint, config.max_drop, config.calib_images,
                        config.time_budget_min * 60, config.seconds_per_candidate, show_progress=config.show_progress)
    # The search runs on the CPU and shares the cores out into streams itself (ONNX Runtime's streams
    # engines would repeat the plain ones).
    engines = config.engines or tuple(e for e in ENGINES if e not in CUDA_ENGINES
                                      and not (ENGINES[e].runtime == "onnxruntime" and ENGINES[e].hint == "THROUGHPUT"))
    search = run_search(ctx, candidate_list(engines, config.batches, physical_cores()), log)
    chosen = pick(search.results)
    said = tradeoff(chosen, search.results) if chosen else ""
    deployment = line = None
    if chosen is not None:
        deployment, line = _deploy(config, spec, variant, search, chosen, said, hw)
    summary = _summary(config, spec, variant, scored, fingerprint, proof, keys, search, hw, said, deployment, line)
    report = write_report(config.out, spec, summary, search, chosen, scored, config.max_drop, config.samples_to_show)
    return DeployResult(config.out, search, chosen, said, line, deployment, report)


def _check(config: DeployConfig) -> None:
    for flag, value, ok in (("--images", config.images, config.images >= 1),
                            ("--time-budget", config.time_budget_min, config.time_budget_min > 0),
                            ("--max-drop", config.max_drop, config.max_drop >= 0),
                            ("--batch", config.batches, bool(config.batches) and min(config.batches) >= 1)):
        if not ok:
            raise SegdeployError.at(flag, f"out of range: {value}")
    unknown = [e for e in config.engines or () if e not in ENGINES]
    if unknown:
        raise SegdeployError.at("--engines", f"unknown engine(s) {', '.join(unknown)}; choose from {', '.join(ENGINES)}")
    on_gpu = [e for e in config.engines or () if e in CUDA_ENGINES]
    if on_gpu:
        raise SegdeployError.at("--engines", f"{', '.join(on_gpu)} run on CUDA; deploy searches this machine's CPU "
                                             "engines (time GPU engines with `segdeploy bench --device cuda`)")


def _fingerprint(config: DeployConfig, spec: ModelSpec, variant: Variant, scored: ScoredSet) -> DeployFingerprint:
    scored_files = [p for s in scored.scored for p in (s.image_path, s.label_path)]
    return DeployFingerprint(
        model=spec.name, tiny=config.tiny, variant=variant.name, checkpoint_sha256=file_sha256(config.checkpoint),
        data_sha256=files_sha256(scored_files), split=config.split, images=len(scored.scored),
        max_drop=config.max_drop, calib_images=config.calib_images,
        segdeploy=library_versions(("segdeploy",))["segdeploy"] or "unknown",
        libraries=tuple(library_versions(ENGINE_LIBRARIES[1:]).items()), cpu=cpu_model(), cores=physical_cores())


def _claim_folder(folder: Path, fingerprint: DeployFingerprint, resume: bool) -> None:
    """Make `folder` this deploy's: new or empty, or (with `resume`) an earlier deploy with the same settings."""
    record = folder / "search" / "fingerprint.json"
    if record.is_file():
        try:
            saved = json.loads(record.read_text())
        except ValueError:
            raise SegdeployError.at(record, "is not a deploy fingerprint (corrupt JSON); use a new --out folder") from None
        if not resume:
            raise SegdeployError.at(folder, "holds an earlier deploy: add --resume to continue it with the same "
                                            "settings, or choose another --out")
        check_same(saved, fingerprint, folder)
    elif folder.is_dir() and any(folder.iterdir()):
        raise SegdeployError.at(folder, "is not empty and holds no segdeploy deploy: choose an empty or new --out")
    write_json_atomic(record, fingerprint.to_json())


def _timing_inputs(scored: ScoredSet, count: int) -> np.ndarray:
    """(k, 3, h, w), k <= `count`: the first scored images' network inputs of the first input's size."""
    inputs: list[np.ndarray] = []
    for item in scored.items:
        inputs += [x for x in item.load().inputs if not inputs or x.shape == inputs[0].shape]
        if len(inputs) >= count:
            break
    return np.stack(inputs[:count])


def _proven_export(config: DeployConfig, spec: ModelSpec, fingerprint: DeployFingerprint, inputs: np.ndarray,
                   onnx: Path, log: Callable[[str], None]) -> ExportProof:
    """The export and its parity checks, reused from an earlier run of this deploy when its file is there."""
    record = config.out / "search" / "export.json"
    if record.is_file() and onnx.is_file():
        saved = json.loads(record.read_text())
        if saved.get("fingerprint") == fingerprint.to_json():
            log(f"export reused: {onnx}")
            return ExportProof.from_json(saved["result"])
    log(f"exporting {spec.name} to {onnx} (dynamic batch, {inputs.shape[2]}x{inputs.shape[3]})")
    proof = prove_export(spec, config.checkpoint, config.trust, onnx, inputs[:PARITY_IMAGES], config.tiny)
    write_json_atomic(record, {"fingerprint": fingerprint.to_json(), "result": proof.to_json()})
    real = proof.real_images
    log(f"{onnx.name}: onnx.checker ok; ONNX Runtime vs PyTorch on {real.input_shape[0]} scored images: "
        f"max |Δlogit| {real.max_abs_diff:.2e}, argmax agreement {real.argmax_agreement:.4%}")
    return proof


def _deploy(config: DeployConfig, spec: ModelSpec, variant: Variant, search: SearchResult, chosen: CandidateResult,
            said: str, hw: tuple[int, ...]) -> tuple[Path, str]:
    """Copy the chosen file into the folder and write deployment.json; return it and the infer line."""
    source = artifact_source(chosen, search.files, config.checkpoint)
    artifact = copy_artifact(source, config.out)
    score = search.scores[chosen.candidate.engine]
    line = infer_command(spec.name, chosen, artifact, config.data_root, config.split, config.out / "predictions",
                         None if variant == spec.variants[0] else variant.name, score.torch_options)
    accuracy = metrics_json(score.metrics, spec.classes, images=score.images, d_mIoU_vs_torch=chosen.d_miou,
                            max_drop=config.max_drop, pixel_agreement_with_torch=score.pixel_agreement)
    record = deployment_record(chosen, artifact, source, config.checkpoint, accuracy, environment(),
                               list(config.command_line), line, said,
                               {"model": spec.name, "variant": variant.name, "tiny": config.tiny,
                                "input_hw": list(hw)})
    return write_json_atomic(config.out / "deployment.json", record), line


def _summary(config: DeployConfig, spec: ModelSpec, variant: Variant, scored: ScoredSet,
             fingerprint: DeployFingerprint, proof: ExportProof, keys: str, search: SearchResult,
             hw: tuple[int, ...], said: str, deployment: Path | None, line: str | None) -> dict:
    counts = {verdict: sum(r.verdict == verdict for r in search.results)
              for verdict in ("pass", "failed accuracy", "skipped: time budget")}
    others = len(search.results) - sum(counts.values())
    calibrated = (f"{min(config.calib_images, len(scored.others))} {config.split} images that are not scored"
                  if scored.others else "the scored images (the split has no others)")
    return {
        "title": f"segdeploy deploy: {spec.name}",
        "model": spec.name, "variant": variant.name, "data_root": str(config.data_root), "split": config.split,
        "images": len(scored.scored), "input_hw": list(hw), "max_drop": config.max_drop,
        "checkpoint": {"file": str(config.checkpoint), "sha256": fingerprint.checkpoint_sha256, "keys": keys},
        "export": proof.to_json(), "calibration": f"{calibrated}, when an int8 engine ran",
        "search": (f"{len(search.results)} candidates within {config.time_budget_min:g} min: {counts['pass']} passed, "
                   f"{counts['failed accuracy']} failed the accuracy gate, {counts['skipped: time budget']} skipped by "
                   f"the time budget, {others} could not run; each engine scored once on the same images, every "
                   "candidate timed on them"),
        "tradeoff": said, "deployment": None if deployment is None else str(deployment), "infer_command": line,
        "fingerprint": fingerprint.to_json(), "environment": environment(),
        "command_line": list(config.command_line), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
