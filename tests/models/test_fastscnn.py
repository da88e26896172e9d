"""Fast-SCNN facts the shared model suite cannot see (spec: /work/shared/specs/fastscnn.md §10)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from segdeploy.models.fastscnn import FASTSCNN_CITYSCAPES, fast_scnn


@pytest.fixture(scope="module")
def model() -> nn.Module:
    torch.manual_seed(0)
    return fast_scnn().eval()


def _capture(module: nn.Module, store: dict, key: str, inputs: bool = False):
    def hook(_mod, args, output):
        store[key] = args[0] if inputs else output

    return module.register_forward_hook(hook)


def test_stem_conv_has_no_padding(model):
    # 128x256 -> 63x127 (padding 1 would give 64x128); the separable units still reach 1/8.
    seen: dict = {}
    handles = [
        _capture(model.learning_to_downsample.conv, seen, "stem"),
        _capture(model.learning_to_downsample, seen, "higher"),
    ]
    with torch.no_grad():
        model(torch.randn(1, 3, 128, 256))
    for h in handles:
        h.remove()
    assert seen["stem"].shape[2:] == (63, 127)
    assert seen["higher"].shape[2:] == (16, 32)


def test_training_returns_main_and_two_aux_at_input_size():
    net = fast_scnn().train()
    x = torch.randn(2, 3, 64, 128)  # batch 2: BN in training mode needs >1 value on the 1x1 PPM bin
    logits, aux = net(x)
    assert logits.shape == (2, 19, 64, 128)
    assert [a.shape for a in aux] == [(2, 19, 64, 128)] * 2
    assert len(FASTSCNN_CITYSCAPES.aux_loss_weights) == len(aux)
    assert isinstance(net.eval()(x), torch.Tensor)


@pytest.mark.parametrize(
    ("name", "has_shortcut"),
    [
        ("bottleneck1.0", False),  # stride 2
        ("bottleneck1.1", True),
        ("bottleneck2.0", False),  # stride 2, 64 -> 96
        ("bottleneck2.2", True),
        ("bottleneck3.0", False),  # stride 1 but 96 -> 128
        ("bottleneck3.1", True),
    ],
)
def test_inverted_residual_shortcut_rule(name, has_shortcut):
    block = fast_scnn().global_feature_extractor.get_submodule(name).eval()
    # Zeroing the projection BN silences the residual branch: what remains is the shortcut.
    nn.init.zeros_(block.conv[3].weight)
    nn.init.zeros_(block.conv[3].bias)
    cin = block.conv[0].conv.in_channels
    x = torch.randn(1, cin, 8, 16)
    with torch.no_grad():
        out = block(x)
    if has_shortcut:
        torch.testing.assert_close(out, x)
    else:
        assert not out.any()


def test_parameter_counts(model):
    total = sum(p.numel() for p in model.parameters())
    main = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("auxlayer"))
    assert (total, main) == (1_209_961, 1_153_283)


def test_ppm_concatenates_input_then_bins_1_2_3_6(model):
    gfe = model.global_feature_extractor
    assert gfe.out.conv.in_channels == 128 + 4 * 32
    seen: dict = {}
    handles = [_capture(gfe.ppm, seen, "x", inputs=True), _capture(gfe.out, seen, "cat", inputs=True)]
    handles += [_capture(conv, seen, f"bin{i}") for i, conv in enumerate(gfe.ppm.convs)]
    with torch.no_grad():
        model(torch.randn(1, 3, 256, 512))
    for h in handles:
        h.remove()
    x, cat = seen["x"], seen["cat"]  # (1, 128, 8, 16), (1, 256, 8, 16)
    torch.testing.assert_close(cat[:, :128], x)
    for i, bins in enumerate((1, 2, 3, 6)):
        branch = seen[f"bin{i}"]
        assert branch.shape[2:] == (bins, bins)
        expected = F.interpolate(branch, size=x.shape[2:], mode="bilinear", align_corners=True)
        torch.testing.assert_close(cat[:, 128 + 32 * i : 160 + 32 * i], expected)


def test_separable_units_apply_relu_after_both_batchnorms():
    unit = fast_scnn().classifier.dsconv1.eval()
    # Spread-out BN outputs of both signs make any missing ReLU show up as negative values.
    for bn in (unit.block.bn_depth, unit.block.bn_point):
        nn.init.normal_(bn.bias)
        nn.init.constant_(bn.running_var, 1e-2)
    seen: dict = {}
    handle = _capture(unit.block.pointwise, seen, "pointwise_in", inputs=True)
    with torch.no_grad():
        out = unit(torch.randn(1, 128, 8, 16))
    handle.remove()
    for t in (seen["pointwise_in"], out):
        assert t.min() == 0 and (t > 0).any()


def test_fusion_upsamples_by_fixed_factor_4(model):
    # Any multiple of 32 works; other sizes break the x4 fusion, as in the reference.
    with torch.no_grad():
        assert model(torch.randn(1, 3, 96, 160)).shape == (1, 19, 96, 160)
        with pytest.raises(RuntimeError):
            model(torch.randn(1, 3, 80, 128))
