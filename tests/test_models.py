"""One suite for every model in MODELS: official keys, tiny forward, ONNX parity, checkpoint round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segdeploy.checkpoints import load_checkpoint, manifest_shapes
from segdeploy.export.onnx_export import ExportShape, export_onnx
from segdeploy.export.run import check_sizes
from segdeploy.models import MODELS, build_model
from segdeploy.runtime.onnxruntime_backend import OnnxRuntimeBackend
from segdeploy.runtime.openvino_backend import OpenVinoBackend, openvino_available
from segdeploy.training.train import save_state_dict
from segdeploy.verify.criteria import Criteria
from segdeploy.verify.run import VerifyConfig, verify_engine

SPECS = list(MODELS.values())
IDS = [spec.name for spec in SPECS]


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_state_dict_equals_official_manifest(spec):
    with torch.device("meta"):  # full size without allocating (Segmenter-L has 322M parameters)
        model = spec.build()
    found = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    expected = list(manifest_shapes(spec).items())
    assert found == expected


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_tiny_forward_shapes_and_training_outputs(spec, tiny_model):
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
@pytest.mark.parametrize("dynamic", [False, True], ids=["fixed", "dynamic-batch-hw"])
def test_onnx_export_matches_eager(spec, dynamic, tmp_path, tiny_model):
    """One export per case. The dynamic file (batch, height and width free) must equal PyTorch at the
    traced size and at two other sizes, three samples per call, in ONNX Runtime and (when installed)
    OpenVINO: adaptive pooling and Segmenter's position table have to follow the input."""
    model = tiny_model(spec)
    h, w = spec.tiny_input_size
    # batch 1 when dynamic, `export --dynamic-batch`'s default (ExportShape traces a dynamic axis at 2)
    shape = ExportShape(1 if dynamic else 2, h, w, dynamic_batch=dynamic, dynamic_hw=dynamic,
                        size_divisor=spec.size_divisor)
    path = export_onnx(model, tmp_path / "model.onnx", shape.dims, dynamic_batch=dynamic, dynamic_hw=dynamic,
                       size_divisor=spec.size_divisor)
    backend = OnnxRuntimeBackend(path)
    assert (backend.fixed_batch, backend.fixed_hw) == ((None, None) if dynamic else (2, (h, w)))
    sizes = check_sizes(shape)
    assert len(sizes) == (3 if dynamic else 1)
    config = VerifyConfig(criteria=Criteria(atol=1e-5, rtol=1e-5), random_sizes=sizes, images=len(sizes),
                          batch=3 if dynamic else 2, onnx=path, bisect="never", show_progress=False)
    engines = [backend] + ([OpenVinoBackend(path)] if dynamic and openvino_available() else [])
    for engine in engines:
        result = verify_engine(spec, model, engine, config)
        assert result.passed, (engine.name, result.failures)
        assert [image.input_shapes[0] for image in result.images] == [(config.batch, 3, *hw) for hw in sizes]


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_checkpoint_round_trip_through_official_layouts(spec, tmp_path, tiny_model):
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
