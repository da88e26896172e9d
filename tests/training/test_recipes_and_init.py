"""Recipes from the command line, backbone initialisation, and the augmentation's mmseg semantics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segdeploy import commands
from segdeploy.cli import main
from segdeploy.errors import SegdeployError
from segdeploy.models import MODELS
from segdeploy.training import augment
from segdeploy.training.checkpoint import init_backbone


@pytest.fixture
def captured(monkeypatch):
    """Run `segdeploy train ...` up to the library call and keep the config it would train with."""
    seen = {}
    monkeypatch.setattr(commands, "train_model", lambda spec, config: seen.update(spec=spec, config=config)
                        or config.work_dir / "latest.pth")
    return seen


def test_demo_command_keeps_its_meaning(captured, tmp_path):
    """The shipped demo checkpoint's command: AdamW, poly LR, random scale 0.75-1.5 + crop + flip."""
    assert main(["train", "--model", "fastscnn_cityscapes", "--data-root", str(tmp_path),
                 "--work-dir", str(tmp_path / "w"), "--iters", "1200", "--batch", "8", "--crop", "256x256",
                 "--lr", "3e-3"]) == 0
    recipe = captured["config"].recipe
    assert (recipe.optimizer, recipe.lr, recipe.weight_decay, recipe.iters, recipe.batch_per_device) == (
        "adamw", 3e-3, 1e-4, 1200, 8)
    assert (recipe.crop, recipe.scale, recipe.ratio_range, recipe.flip, recipe.photometric) == (
        (256, 256), None, (0.75, 1.5), 0.5, False)


def test_fcn_defaults_to_mmseg_voc12aug_recipe(captured, tmp_path):
    assert main(["train", "--model", "fcn_r50_d8_voc", "--data-root", str(tmp_path), "--work-dir",
                 str(tmp_path / "w"), "--batch-per-device", "2", "--amp"]) == 0
    recipe, config = captured["config"].recipe, captured["config"]
    assert (recipe.optimizer, recipe.lr, recipe.momentum, recipe.weight_decay) == ("sgd", 0.01, 0.9, 5e-4)
    assert (recipe.poly_power, recipe.min_lr, recipe.iters, recipe.batch_per_device) == (0.9, 1e-4, 20000, 2)
    assert (recipe.scale, recipe.ratio_range, recipe.crop, recipe.cat_max_ratio) == ((2048, 512), (0.5, 2.0),
                                                                                     (512, 512), 0.75)
    assert recipe.train_split == "train+aug" and recipe.photometric and config.amp
    assert MODELS["fcn_r50_d8_voc"].aux_loss_weights == (0.4,)


def _v1c_file(tmp_path, model, extra=None, drop=None):
    """An ImageNet backbone file in mmseg's layout: no `backbone.` prefix, plus a classifier."""
    state = {k: torch.randn_like(v.float()).to(v.dtype) for k, v in model.backbone.state_dict().items()}
    state |= {"fc.weight": torch.randn(1000, 8), "fc.bias": torch.randn(1000)} | (extra or {})
    state.pop(drop, None)
    path = tmp_path / "resnet50_v1c.pth"
    torch.save({"state_dict": state, "meta": {}}, path)
    return path, state


def test_init_backbone_from_mmseg_layout(tmp_path):
    spec = MODELS["fcn_r50_d8_voc"]
    model = spec.build(**spec.tiny)
    path, state = _v1c_file(tmp_path, model)
    head_before = model.decode_head.conv_seg.weight.clone()
    assert init_backbone(model, path, spec.name) == len(state) - 2  # everything but fc.*
    assert torch.equal(model.backbone.layer4[0].conv2.weight, state["layer4.0.conv2.weight"])
    assert torch.equal(model.decode_head.conv_seg.weight, head_before)


def test_init_backbone_reports_mismatched_keys(tmp_path, capsys):
    spec = MODELS["fcn_r50_d8_voc"]
    model = spec.build(**spec.tiny)
    torchvision_stem = {"conv1.weight": torch.zeros(64, 3, 7, 7)}  # V1b, not V1c
    path, _ = _v1c_file(tmp_path, model, extra=torchvision_stem, drop="stem.0.weight")
    with pytest.raises(SegdeployError, match="1 missing, 1 unexpected"):
        init_backbone(model, path, spec.name)
    err = capsys.readouterr().err
    assert "stem.0.weight" in err and "conv1.weight" in err


def test_crop_redraws_while_one_class_dominates():
    label = np.zeros((40, 40), np.uint8)
    label[:, 30:] = 1  # a crop of 10x10 is single-class unless it straddles column 30
    image = np.zeros((40, 40, 3), np.uint8)
    rng = np.random.default_rng(0)

    def mixed_crops(cat_max_ratio: float) -> int:
        crops = [augment.random_crop(image, label, (10, 10), cat_max_ratio, rng)[1] for _ in range(50)]
        return sum(len(np.unique(crop)) > 1 for crop in crops)

    assert mixed_crops(0.75) > 2 * mixed_crops(1.0)


def test_resize_fits_mmseg_scale_and_pads_labels_with_ignore():
    image, label = np.zeros((375, 500, 3), np.uint8), np.ones((375, 500), np.uint8)
    resized, resized_label = augment.random_resize(image, label, (2048, 512), 0.5)
    assert resized.shape[:2] == resized_label.shape == (256, 341)  # fits (1024, 256): 375 -> 256
    tensor, padded = augment.pad_to(np.zeros((3, 256, 341), np.float32), resized_label.astype(np.int64),
                                    (512, 512))
    assert tensor.shape == (3, 512, 512) and (padded[256:] == 255).all() and (padded[:256, :341] == 1).all()
