"""ICNet-R50 facts the shared model suite cannot know (specs/icnet.md §11)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import segdeploy.models
from segdeploy.models.icnet import ICNET_R50_CITYSCAPES, icnet_r50, pyramid_pool_sum

MANIFESTS = Path(segdeploy.models.__path__[0]) / "manifests"


@pytest.fixture(scope="module")
def full_size():
    with torch.device("meta"):  # structure only: never run at full size in tests
        return icnet_r50()


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return ICNET_R50_CITYSCAPES.build(**ICNET_R50_CITYSCAPES.tiny).eval()


def test_parameter_count(full_size):
    assert sum(p.numel() for p in full_size.parameters()) == 26_249_376


def test_liminn_layout_is_ours_plus_exactly_the_unused_fc_keys(full_size):
    liminn = json.loads((MANIFESTS / "icnet_r50_cityscapes_liminn_fc.json").read_text())["state_dict"]
    ignored = ICNET_R50_CITYSCAPES.ignored_checkpoint_keys
    ours = [[k, list(v.shape)] for k, v in full_size.state_dict().items()]
    assert [e for e in liminn if e[0] not in ignored] == ours
    assert sorted(k for k, _ in liminn if k not in dict(ours)) == sorted(ignored)


def test_deep_stem_has_128_channels_and_separate_bn1(full_size):
    backbone = full_size.pretrained
    assert [backbone.conv1[i].out_channels for i in (0, 3, 6)] == [64, 64, 128]
    assert backbone.bn1.num_features == 128
    assert backbone.layer1[0].conv1.in_channels == 128


def test_dilation_schedule_and_stride_on_3x3(full_size):
    backbone = full_size.pretrained
    assert backbone.layer2[0].conv2.stride == (2, 2) and backbone.layer2[0].conv1.stride == (1, 1)
    assert [b.conv2.dilation[0] for b in backbone.layer3] == [1, 2, 2, 2, 2, 2]
    assert [b.conv2.dilation[0] for b in backbone.layer4] == [2, 4, 4]
    assert all(b.conv2.padding == b.conv2.dilation for s in (backbone.layer3, backbone.layer4) for b in s)
    for cff in (full_size.head.cff_12, full_size.head.cff_24):
        assert (cff.conv_low[0].dilation, cff.conv_low[0].padding) == ((2, 2), (2, 2))


def test_cascade_shapes_in_training(tiny):
    seen = {}
    tiny.head.register_forward_hook(lambda _m, _a, out: seen.update(quarter=out[0]))
    tiny.conv_sub1.register_forward_hook(lambda _m, _a, out: seen.update(sub1=out))
    with torch.no_grad():
        logits, aux = tiny.train()(torch.randn(2, 3, 64, 128))
    assert logits.shape == (2, 19, 64, 128)
    assert seen["sub1"].shape[-2:] == (8, 16)
    assert seen["quarter"].shape == (2, 19, 16, 32)
    assert [a.shape for a in aux] == [(2, 19, 8, 16), (2, 19, 4, 8)]  # cff_12 (1/8), cff_24 (1/16)
    assert len(aux) == len(ICNET_R50_CITYSCAPES.aux_loss_weights)


def test_eval_returns_full_resolution_logits_only(tiny):
    with torch.no_grad():
        out = tiny(torch.randn(1, 3, 64, 128))
    assert isinstance(out, torch.Tensor) and out.shape == (1, 19, 64, 128)


@pytest.mark.parametrize("training, layer3_inputs", [(False, [(2, 4)]), (True, [(4, 8), (2, 4)])])
def test_backbone_runs_on_half_and_quarter_image(tiny, training, layer3_inputs):
    """sub2 = layer2 of the 1/2 image; layer3/4 of it only run in training (for BN statistics)."""
    shapes = {"layer2": [], "layer3": []}
    for name, store in shapes.items():
        getattr(tiny.pretrained, name).register_forward_hook(
            lambda _m, args, _o, store=store: store.append(tuple(args[0].shape[-2:]))
        )
    with torch.no_grad():
        tiny.train(training)(torch.randn(2, 3, 64, 128))
    assert shapes["layer2"] == [(8, 16), (4, 8)]  # 1/4 of the 1/2 image, then of the 1/4 image
    assert shapes["layer3"] == layer3_inputs


def test_pyramid_pooling_is_a_parameter_free_sum():
    feature = torch.full((1, 2, 5, 7), 3.0)  # 5x7: not divisible by bins 2, 3, 6
    assert torch.allclose(pyramid_pool_sum(feature, (1, 2, 3, 6)), torch.full_like(feature, 15.0))
    ramp = torch.arange(6.0).reshape(1, 1, 1, 6).expand(1, 1, 4, 6)
    # Bin 1 adds the mean (2.5); bin 2 adds the two half means (1 and 4) joined align-corners style.
    expected = ramp + 2.5 + torch.linspace(1.0, 4.0, 6).expand(1, 1, 4, 6)
    assert torch.allclose(pyramid_pool_sum(ramp, (1, 2)), expected)
