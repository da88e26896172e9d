"""One small exported Fast-SCNN (and a copy with one corrupted weight) shared by the verify tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnx
import pytest
import torch

from segdeploy.data.synthetic import generate_cityscapes_like
from segdeploy.export.onnx_export import ExportShape, export_program, save_program
from segdeploy.models import MODELS
from segdeploy.training.train import save_state_dict

SPEC = MODELS["fastscnn_cityscapes"]
HW = (64, 128)


@dataclass(frozen=True)
class Exported:
    model: torch.nn.Module
    checkpoint: Path
    onnx: Path
    program: torch.onnx.ONNXProgram  # the in-memory export the file was written from


@dataclass(frozen=True)
class Corrupted:
    onnx: Path
    node: str  # the Conv that reads the corrupted weight
    weight: str


@pytest.fixture(scope="session")
def exported(tmp_path_factory, tiny_model) -> Exported:
    """Fast-SCNN (its tiny variant is the full network) with non-trivial BatchNorm statistics and logits
    of a trained network's size (a few units, not random init's 0.3, so the default tolerances mean
    here what they mean on a real checkpoint); its checkpoint, and its static 1x3x64x128 file."""
    model = tiny_model(SPEC)
    classifier = model.classifier.conv[1]
    classifier.weight.data *= 30
    classifier.bias.data *= 30
    folder = tmp_path_factory.mktemp("exported")
    program = export_program(model, ExportShape(1, *HW))
    return Exported(model, save_state_dict(model, folder / "fastscnn.pth"),
                    save_program(program, folder / "fastscnn.onnx"), program)


@pytest.fixture(scope="session")
def corrupted(exported, tmp_path_factory) -> Corrupted:
    """The same file with one Conv weight (a Conv in the middle of the graph) off by 1 in one output channel:
    a single value may multiply a channel a ReLU zeroed, but a whole filter cannot go unnoticed."""
    proto = onnx.load(str(exported.onnx))
    convs = [node for node in proto.graph.node if node.op_type == "Conv"]
    target = convs[len(convs) // 2]
    weight = next(i for i in proto.graph.initializer if i.name == target.input[1])
    values = onnx.numpy_helper.to_array(weight).copy()
    values[0] += 1.0
    weight.CopyFrom(onnx.numpy_helper.from_array(values, weight.name))
    path = tmp_path_factory.mktemp("corrupted") / "fastscnn.onnx"
    onnx.save(proto, str(path))
    return Corrupted(path, target.name, weight.name)


@pytest.fixture(scope="session")
def cityscapes(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cityscapes")
    generate_cityscapes_like(root, "val", 3, size=HW, seed=3)
    return root
