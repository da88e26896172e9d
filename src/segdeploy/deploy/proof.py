"""The deploy's first steps: the checkpoint matches the model, the export is valid and equals PyTorch
(`export_model`'s preflight and check, then `verify_engine` on the scored images)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from segdeploy.checkpoints import (
    KeyReport,
    compare_keys,
    drop_ignored,
    manifest_shapes,
    print_key_report,
    read_state_dict,
)
from segdeploy.errors import GateFailed, SegdeployError
from segdeploy.export.onnx_export import ExportShape
from segdeploy.export.run import ExportConfig, export_model
from segdeploy.models import build_model
from segdeploy.models.spec import ModelSpec
from segdeploy.runtime.onnxruntime_backend import OnnxRuntimeBackend
from segdeploy.verify.criteria import Criteria
from segdeploy.verify.run import VerifyConfig, VerifyResult, verify_engine


@dataclass(frozen=True)
class Parity:
    """The headline of one `verify_engine` run, as deploy's record and report show it."""

    max_abs_diff: float
    argmax_agreement: float  # fraction of pixels whose class is PyTorch's
    input_shape: tuple[int, ...]  # all the samples it compared, as one (N, 3, H, W)

    @classmethod
    def of(cls, result: VerifyResult) -> Parity:
        first = result.images[0].input_shapes[0]
        samples = sum(shape[0] for image in result.images for shape in image.input_shapes)
        return cls(result.overall.max_abs, result.overall.agreement, (samples, *first[1:]))


@dataclass(frozen=True)
class ExportProof:
    onnx: Path
    random_input: Parity  # export_model's check on random batches
    real_images: Parity  # verify_engine on preprocessed scored images

    def to_json(self) -> dict:
        return {"onnx": str(self.onnx), "random_input": asdict(self.random_input),
                "real_images": asdict(self.real_images), "criteria": asdict(Criteria())}

    @classmethod
    def from_json(cls, obj: dict) -> ExportProof:
        def parity(d: dict) -> Parity:
            return Parity(d["max_abs_diff"], d["argmax_agreement"], tuple(d["input_shape"]))

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
    """Export with a dynamic batch at the real inputs' size (preflight, onnx.checker, `verify_engine`
    on random batches), then `verify_engine` on `real_inputs` (N, 3, H, W), with the default criteria
    (a failure is a gate, bisected to the first diverging node)."""
    model = build_model(spec, checkpoint, trust, tiny=tiny)
    shape = ExportShape(1, *real_inputs.shape[2:], dynamic_batch=True, size_divisor=spec.size_divisor)
    exported = export_model(spec, model, ExportConfig(out, shape, check=VerifyConfig(show_progress=False)),
                            make_engine=lambda name, path: OnnxRuntimeBackend(path, name=name))
    path = exported.path
    real = verify_engine(spec, model, OnnxRuntimeBackend(path), VerifyConfig(onnx=path, show_progress=False),
                         inputs=real_inputs)
    for what, result in (("random batches", exported.verification), ("the scored images", real)):
        if not result.passed:
            first = result.bisect.first_failure if result.bisect is not None else None
            where = f"; first diverging node {first.node} ({first.module})" if first is not None else ""
            raise GateFailed.at(path, f"ONNX Runtime vs PyTorch on {what}: {result.failures[0]}{where}")
    return ExportProof(path, Parity.of(exported.verification), Parity.of(real))
