"""The chosen candidate as a deployment: its file copied into the deploy folder, `deployment.json`
describing exactly what was measured, and a `segdeploy infer` line that runs it."""

from __future__ import annotations

import shlex
import shutil
import time
from pathlib import Path
from typing import Any

from segdeploy.benchmark.catalog import ENGINES, INFER_ENGINES, TORCH_OPTIONS
from segdeploy.deploy.candidates import CandidateResult
from segdeploy.reporting.atomic import write_atomic
from segdeploy.reporting.fingerprint import file_sha256

ARTIFACT_STEM = "model"  # DIR/model.onnx or DIR/model.pth


def artifact_source(chosen: CandidateResult, files: dict[str, Path], checkpoint: Path) -> Path:
    """The file the chosen engine runs: its ONNX file, or the checkpoint for the PyTorch engines."""
    return files[chosen.candidate.engine] if ENGINES[chosen.candidate.engine].file is not None else checkpoint


def copy_artifact(source: Path, folder: Path) -> Path:
    """`source` copied atomically to `folder/model<suffix>` (an OpenVINO IR with its .bin); a stale
    artifact of another kind is removed."""
    target = folder / f"{ARTIFACT_STEM}{source.suffix}"
    pairs = [(source, target)]
    if source.suffix == ".xml":  # the IR's weights live beside it under the same stem
        pairs.append((source.with_suffix(".bin"), target.with_suffix(".bin")))
    for old in folder.glob(f"{ARTIFACT_STEM}.*"):
        if old not in {t for _, t in pairs} and old.is_file():
            old.unlink()
    for src_path, dst_path in pairs:
        with src_path.open("rb") as src:
            write_atomic(dst_path, lambda dst, src=src: shutil.copyfileobj(src, dst, 1 << 20))
    return target


def infer_engine(engine: str) -> str:
    """The `infer --engine` closest to a searched engine: itself, or for a THROUGHPUT-hint engine (many
    requests in flight, which infer does not keep) the same file and precision at the latency hint."""
    if engine in INFER_ENGINES:
        return engine
    return next(name for name in INFER_ENGINES if ENGINES[name].runtime == ENGINES[engine].runtime
                and ENGINES[name].file == ENGINES[engine].file and ENGINES[name].precision == ENGINES[engine].precision)


def infer_command(model: str, chosen: CandidateResult, artifact: Path, data_root: Path, split: str,
                  output: Path, variant: str | None, torch_options: dict[str, Any] | None = None) -> str:
    """The `segdeploy infer` line running `artifact` as the chosen engine does, on the same data.

    `infer` runs one request at a time: the engine at its precision, on the cores the candidate used
    (`--threads`: its threads times its streams; several streams are not reproduced) and, for the
    tuned torch engines, with the options their tuning picked (`torch_options`, a `TorchOptions` dict).
    """
    engine = infer_engine(chosen.candidate.engine)
    if ENGINES[engine].file is None:
        picked = [name for name in TORCH_OPTIONS if (torch_options or {}).get(name)]
        runs = ["--engine", engine, "--checkpoint", str(artifact)] + (["--torch-options", ",".join(picked)] * bool(picked))
    else:
        runs = ["--engine", engine, "--onnx", str(artifact)]
    cores = chosen.candidate.threads * chosen.candidate.streams
    words = ["segdeploy", "infer", "--model", model, *runs, "--data-root", str(data_root), "--split", split,
             "--output", str(output), "--batch", str(chosen.candidate.batch), "--threads", str(cores)]
    return shlex.join(words + (["--variant", variant] if variant else []))


def deployment_record(chosen: CandidateResult, artifact: Path, source: Path, checkpoint: Path,
                      accuracy: dict[str, Any], environment: dict[str, Any], command_line: list[str],
                      infer_line: str, tradeoff: str, extra: dict[str, Any]) -> dict[str, Any]:
    """deployment.json: the candidate's settings, file hashes, accuracy, speed, environment, provenance."""
    c, t = chosen.candidate, chosen.timing
    return {
        **extra,
        "engine": c.engine, "precision": c.precision, "batch": c.batch, "threads": c.threads, "streams": c.streams,
        "detail": chosen.detail,
        "artifact": {"file": artifact.name, "sha256": file_sha256(artifact), "bytes": artifact.stat().st_size,
                     "made_from": str(source)},
        "checkpoint": {"file": str(checkpoint), "sha256": file_sha256(checkpoint)},
        "accuracy": accuracy,
        "speed": {"images_per_s": t.samples_per_s, "mean_ms": t.mean_ms, "p50_ms": t.p50_ms, "p90_ms": t.p90_ms,
                  "p99_ms": t.p99_ms, "calls": t.loops,
                  "definition": "pure inference on preprocessed scored images held in memory; images/s over all "
                                "streams, latency of one call of `batch` images"},
        "tradeoff": tradeoff,
        "infer_command": infer_line,
        "infer_note": "infer runs one request at a time with the threads measured here; a setting of "
                      "several streams (or a THROUGHPUT-hint engine) is recorded above but not reproduced by infer",
        "environment": environment,
        "command_line": command_line,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
