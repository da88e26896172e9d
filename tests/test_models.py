"""One suite for every model in MODELS: official keys, tiny forward, ONNX parity, checkpoint round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segdeploy.checkpoints import load_checkpoint, manifest_shapes
from segdeploy.export.onnx_export import check_parity, export_onnx
from segdeploy.models import MODELS, build_model
from segdeploy.runtime.onnxruntime_backend import OnnxRuntimeBackend
from segdeploy.training.train import save_state_dict

SPECS = list(MODELS.values())
IDS = [spec.name for spec in SPECS]


def tiny_model(spec, seed: int = 0) -> torch.nn.Module:
    """The test-size variant with non-trivial BatchNorm statistics, so parity checks mean something."""
    torch.manual_seed(seed)
    model = spec.build(**spec.tiny)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_state_dict_equals_official_manifest(spec):
    with torch.device("meta"):  # full size without allocating (Segmenter-L has 322M parameters)
        model = spec.build()
    found = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    expected = list(manifest_shapes(spec).items())
    assert found == expected


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_tiny_forward_shapes_and_training_outputs(spec):
    model = tiny_model(spec)
    h, w = spec.tiny_input_size
    x = torch.randn(2, 3, h, w)
    with torch.inference_mode():
        logits = model(x)
    assert logits.shape == (2, spec.num_classes, h, w)
    assert torch.isfinite(logits).all()
    model.train()
    main, aux = model(x)
    assert main.shape == logits.shape
    assert len(aux) == len(spec.aux_loss_weights)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
@pytest.mark.parametrize("dynamic", [False, True], ids=["fixed-batch", "dynamic-batch"])
def test_onnx_export_matches_eager(spec, dynamic, tmp_path):
    model = tiny_model(spec)
    h, w = spec.tiny_input_size
    # traced at batch 1 when dynamic, as `segdeploy export --dynamic-batch` does (size-1 axes specialise easily)
    path = export_onnx(model, tmp_path / "model.onnx", (1 if dynamic else 2, 3, h, w), dynamic_batch=dynamic)
    backend = OnnxRuntimeBackend(path)
    assert backend.fixed_batch == (None if dynamic else 2)
    parity = check_parity(model, path, (3 if dynamic else 2, 3, h, w))
    assert parity.argmax_agreement >= 0.999
    assert parity.max_abs_diff < 1e-3


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_checkpoint_round_trip_through_official_layouts(spec, tmp_path):
    model = tiny_model(spec, seed=1)
    path = save_state_dict(model, tmp_path / "bare.pth")
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in torch.load(path).items()}, "meta": {"epoch": 3}},
               wrapped)
    x = torch.randn(1, 3, *spec.tiny_input_size)
    for file in (path, wrapped):
        fresh = build_model(spec, tiny=True)
        load_checkpoint(fresh, spec, file)
        with torch.inference_mode():
            np.testing.assert_array_equal(fresh(x).numpy(), model(x).numpy())
