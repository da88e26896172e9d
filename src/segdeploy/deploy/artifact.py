"""The chosen candidate as a deployment: its file copied into the deploy folder, `deployment.json`
describing exactly what was measured, and a `segdeploy infer` line that runs it."""

from __future__ import annotations

import shlex
import shutil
import time
from pathlib import Path
from typing import Any

from segdeploy.benchmark.catalog import ENGINES
from segdeploy.deploy.candidates import CandidateResult
from segdeploy.reporting.atomic import write_atomic
from segdeploy.reporting.fingerprint import file_sha256

ARTIFACT_STEM = "model"  # DIR/model.onnx or DIR/model.pth


def artifact_source(chosen: CandidateResult, files: dict[str, Path], checkpoint: Path) -> Path:
    """The file the chosen engine runs: its ONNX file, or the checkpoint for the PyTorch engines."""
    return files[chosen.candidate.engine] if ENGINES[chosen.candidate.engine][0] is not None else checkpoint


def copy_artifact(source: Path, folder: Path) -> Path:
    """`source` copied atomically to `folder/model<suffix>`; a stale artifact of another kind is removed."""
    target = folder / f"{ARTIFACT_STEM}{source.suffix}"
    for old in folder.glob(f"{ARTIFACT_STEM}.*"):
        if old != target and old.is_file():
            old.unlink()
    with source.open("rb") as src:
        write_atomic(target, lambda dst: shutil.copyfileobj(src, dst, 1 << 20))
    return target


def infer_command(model: str, chosen: CandidateResult, artifact: Path, data_root: Path, split: str,
                  output: Path, variant: str | None) -> str:
    """The `segdeploy infer` line running `artifact` as the chosen engine does, on the same data.

    `infer` runs one stream with every core; the torch engines get the candidate's threads
    (`--threads`); ONNX Runtime and OpenVINO sessions take every core.
    """
    engine = chosen.candidate.engine
    if ENGINES[engine][0] is None:
        runs = ["--engine", "torch", "--checkpoint", str(artifact), "--threads", str(chosen.candidate.threads)]
    else:
        runs = ["--engine", "openvino" if engine.startswith("openvino") else "onnxruntime", "--onnx", str(artifact)]
    words = ["segdeploy", "infer", "--model", model, *runs, "--data-root", str(data_root), "--split", split,
             "--output", str(output), "--batch", str(chosen.candidate.batch)]
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
        "infer_note": "infer runs one stream on every core; the streams/threads setting measured here is "
                      "recorded above",
        "environment": environment,
        "command_line": command_line,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
