"""The deploy's first steps: the checkpoint matches the model, the export is valid and equals PyTorch.

NOTE: `segdeploy verify` (parallel work) brings the export preflight and a verification entry point
returning a result dataclass; `prove_export` is the one place deploy calls for this, so it becomes a
call to that entry point.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from segdeploy.checkpoints import (
    KeyReport,
    compare_keys,
    drop_ignored,
    manifest_shapes,
    print_key_report,
    read_state_dict,
)
from segdeploy.errors import GateFailed, SegdeployError
from segdeploy.export.onnx_export import MIN_ARGMAX_AGREEMENT, ParityReport, export_model
from segdeploy.models import build_model
from segdeploy.models.spec import ModelSpec
from segdeploy.runtime.onnxruntime_backend import OnnxRuntimeBackend


@dataclass(frozen=True)
class ExportProof:
    onnx: Path
    random_input: ParityReport  # export_model's check on a random batch
    real_images: ParityReport  # the same comparison on preprocessed scored images

    def to_json(self) -> dict:
        return {"onnx": str(self.onnx), "random_input": asdict(self.random_input),
                "real_images": asdict(self.real_images), "min_argmax_agreement": MIN_ARGMAX_AGREEMENT}

    @classmethod
    def from_json(cls, obj: dict) -> ExportProof:
        def parity(d: dict) -> ParityReport:
            return ParityReport(d["max_abs_diff"], d["argmax_agreement"], tuple(d["input_shape"]))

        return cls(Path(obj["onnx"]), parity(obj["random_input"]), parity(obj["real_images"]))


def inspect_checkpoint(spec: ModelSpec, checkpoint: Path, trust: bool, tiny: bool = False) -> str:
    """One line saying the checkpoint matches `spec`'s official keys and shapes (the test-size
    network's with `tiny`); on a mismatch the key table is printed and the error names the file."""
    state = read_state_dict(checkpoint, trust=trust)
    expected = ({k: tuple(v.shape) for k, v in build_model(spec, tiny=True).state_dict().items()} if tiny
                else manifest_shapes(spec))
    report: KeyReport = compare_keys(expected, drop_ignored(state, spec))
    if not report.ok:
        print_key_report(report, title=f"{checkpoint} vs {spec.name}")
        raise SegdeployError.at(checkpoint, f"does not match model {spec.name}: {report.summary()} (table above)")
    values = sum(t.numel() for t in state.values())
    return f"{checkpoint}: matches {spec.name} ({len(state)} tensors, {values:,} values)"


def prove_export(spec: ModelSpec, checkpoint: Path, trust: bool, out: Path, real_inputs: np.ndarray,
                 tiny: bool = False) -> ExportProof:
    """Export with a dynamic batch at the real inputs' size (onnx.checker, parity on a random batch),
    then compare ONNX Runtime with PyTorch on `real_inputs` (N, 3, H, W); a failed check is a gate."""
    path, random_parity = export_model(spec, out, checkpoint, trust, dynamic_batch=True,
                                       input_hw=tuple(real_inputs.shape[2:]), tiny=tiny)
    with torch.inference_mode():
        expected = build_model(spec, checkpoint, trust, tiny=tiny)(torch.from_numpy(real_inputs)).numpy()
    got = OnnxRuntimeBackend(path)(real_inputs)
    real = ParityReport(float(np.abs(got - expected).max()), float(np.mean(got.argmax(1) == expected.argmax(1))),
                        tuple(real_inputs.shape))
    for what, parity in (("a random batch", random_parity), ("the scored images", real)):
        if not parity.passed:
            raise GateFailed.at(path, f"ONNX Runtime agrees with PyTorch on {parity.argmax_agreement:.4%} of the "
                                      f"pixels of {what} (< {MIN_ARGMAX_AGREEMENT:.1%})")
    return ExportProof(path, random_parity, real)
