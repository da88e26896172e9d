"""FCN-R50-D8 facts the shared model suite cannot know (specs/fcn.md §A, "most likely gets wrong")."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from segdeploy.models.fcn_r50_d8 import FCN_R50_D8_VOC, fcn_r50_d8


@pytest.fixture(scope="module")
def full_size():
    with torch.device("meta"):  # structure only: never run at full size in tests
        return fcn_r50_d8()


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return FCN_R50_D8_VOC.build(**FCN_R50_D8_VOC.tiny).eval()


def test_parameter_counts(full_size):
    total = sum(p.numel() for p in full_size.parameters())
    inference = sum(p.numel() for n, p in full_size.named_parameters() if not n.startswith("auxiliary_head."))
    assert (total, inference) == (49_499_274, 47_134_069)


def test_v1c_stem_and_no_torchvision_conv1(full_size):
    keys = full_size.state_dict().keys()
    assert not any(k.startswith(("backbone.conv1.", "backbone.bn1.")) for k in keys)
    stem = full_size.backbone.stem
    assert [stem[i].out_channels for i in (0, 3, 6)] == [32, 32, 64]
    assert [stem[i].stride for i in (0, 3, 6)] == [(2, 2), (1, 1), (1, 1)]


def test_output_stride_8_with_contracted_first_dilations(full_size):
    backbone = full_size.backbone
    assert backbone.layer2[0].conv2.stride == (2, 2)
    assert backbone.layer2[0].downsample[0].stride == (2, 2)
    for name, expected in (("layer3", [1, 2, 2, 2, 2, 2]), ("layer4", [2, 4, 4])):
        stage = getattr(backbone, name)
        assert [b.conv2.dilation[0] for b in stage] == expected
        assert [b.conv2.padding[0] for b in stage] == expected
        assert all(b.conv2.stride == (1, 1) for b in stage)
        assert stage[0].downsample[0].stride == (1, 1)
    assert all(getattr(backbone, f"layer{i}")[0].downsample is not None for i in range(1, 5))


def _capture(module, store, key, *, inputs=False):
    def hook(_mod, args, out):
        store[key] = args[0] if inputs else out

    return module.register_forward_hook(hook)


def test_head_at_one_eighth_resized_without_align_corners(tiny):
    seen = {}
    _capture(tiny.decode_head, seen, "head")
    x = torch.randn(1, 3, 50, 70)  # odd sizes: 50 -> 25 -> 13 -> 7 (floor conv arithmetic)
    with torch.no_grad():
        out = tiny(x)
    assert out.shape == (1, 21, 50, 70)
    assert seen["head"].shape[-2:] == (7, 9)
    expected = F.interpolate(seen["head"], size=(50, 70), mode="bilinear", align_corners=False)
    assert torch.allclose(out, expected)


def test_conv_cat_takes_backbone_feature_first(tiny):
    seen = {}
    _capture(tiny.decode_head, seen, "feature", inputs=True)
    _capture(tiny.decode_head.conv_cat, seen, "cat", inputs=True)
    with torch.no_grad():
        tiny(torch.randn(1, 3, 64, 128))
    c4 = seen["feature"].shape[1]
    assert torch.equal(seen["cat"][:, :c4], seen["feature"])


def test_auxiliary_head_only_in_training(tiny):
    calls = []
    tiny.auxiliary_head.register_forward_hook(lambda *_: calls.append(1))
    x = torch.randn(2, 3, 64, 128)
    with torch.no_grad():
        assert isinstance(tiny(x), torch.Tensor)
        assert not calls
        logits, aux = tiny.train()(x)
    assert logits.shape == (2, 21, 64, 128)
    assert [a.shape for a in aux] == [(2, 21, 64, 128)]
    assert len(aux) == len(FCN_R50_D8_VOC.aux_loss_weights)
