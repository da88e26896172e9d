"""MODELS: the one list of every model segdeploy can deploy."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from segdeploy.checkpoints import load_checkpoint
from segdeploy.errors import SegdeployError
from segdeploy.models.fastscnn import FASTSCNN_CITYSCAPES
from segdeploy.models.fcn8s import FCN8S_VGG16_VOC
from segdeploy.models.fcn_r50_d8 import FCN_R50_D8_VOC
from segdeploy.models.icnet import ICNET_R50_CITYSCAPES
from segdeploy.models.segmenter import SEGMENTER_VITL16_MASK_CITYSCAPES
from segdeploy.models.spec import ModelSpec

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        FASTSCNN_CITYSCAPES,
        FCN_R50_D8_VOC,
        FCN8S_VGG16_VOC,
        ICNET_R50_CITYSCAPES,
        SEGMENTER_VITL16_MASK_CITYSCAPES,
    )
}


def get_spec(name: str) -> ModelSpec:
    """The spec called `name`; an unknown name is a user error that lists the valid ones."""
    try:
        return MODELS[name]
    except KeyError:
        raise SegdeployError.at("--model", f"unknown model {name!r}; choose one of: {', '.join(MODELS)}") from None


def build_model(spec: ModelSpec, checkpoint: str | Path | None = None, trust: bool = False,
                tiny: bool = False) -> nn.Module:
    """The network in eval mode, with an official checkpoint loaded strictly when one is given."""
    model = spec.build(**spec.tiny) if tiny else spec.build()
    if checkpoint is not None:
        load_checkpoint(model, spec, checkpoint, trust)
    return model.eval()
