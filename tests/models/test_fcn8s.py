"""FCN-8s facts the shared model suite cannot see: the 100-px padding, ceil pooling and fixed crops."""

from __future__ import annotations

import pytest
import torch

from segdeploy.models.fcn8s import FCN8S_VGG16_VOC, FINAL_CROP, POOL3_CROP, POOL4_CROP


def _tiny():
    torch.manual_seed(0)
    return FCN8S_VGG16_VOC.build(**FCN8S_VGG16_VOC.tiny).eval()


def _shapes(model, x):
    shapes = {}
    names = ["conv1_1", "fc7", "score_pool3", "score_pool4", "upscore2", "upscore_pool4", "upscore8"]
    def record(name):
        return lambda module, inputs, out: shapes.__setitem__(name, tuple(out.shape[2:]))

    hooks = [getattr(model, n).register_forward_hook(record(n)) for n in names]
    with torch.no_grad():
        out = model(x)
    for h in hooks:
        h.remove()
    return out, shapes


def test_crop_offsets_are_the_caffe_constants():
    assert (POOL4_CROP, POOL3_CROP, FINAL_CROP) == (5, 9, 31)


def test_intermediate_sizes_at_500_match_the_spec_table():
    out, s = _shapes(_tiny(), torch.randn(1, 3, 500, 500))
    # spec fcn.md B.2, 500x500 column: padding 100 and ceil-mode pooling give these exact sizes
    assert s["conv1_1"] == (698, 698)
    assert s["score_pool3"] == (88, 88) and s["score_pool4"] == (44, 44)
    assert s["fc7"] == (16, 16) and s["upscore2"] == (34, 34)
    assert s["upscore_pool4"] == (70, 70) and s["upscore8"] == (568, 568)
    assert out.shape == (1, 21, 500, 500)


@pytest.mark.parametrize("size", [(97, 131), (1, 1), (33, 64)])
def test_output_matches_input_size_for_odd_sizes(size):
    out, s = _shapes(_tiny(), torch.randn(2, 3, *size))
    assert out.shape == (2, 21, *size)
    # each crop must fit inside the map it is cut from
    assert s["score_pool4"][0] >= POOL4_CROP + s["upscore2"][0]
    assert s["score_pool3"][0] >= POOL3_CROP + s["upscore_pool4"][0]
    assert s["upscore8"][0] >= FINAL_CROP + size[0]


def test_final_crop_takes_rows_from_offset_31():
    model = _tiny()
    x = torch.randn(1, 3, 40, 56)
    captured = {}
    model.upscore8.register_forward_hook(lambda m, i, o: captured.setdefault("up", o))
    with torch.no_grad():
        out = model(x)
    torch.testing.assert_close(out, captured["up"][:, :, 31 : 31 + 40, 31 : 31 + 56], rtol=0, atol=0)


def test_transposed_convs_have_no_bias_and_in_out_layout():
    model = _tiny()
    for name, k in [("upscore2", 4), ("upscore_pool4", 4), ("upscore8", 16)]:
        layer = getattr(model, name)
        assert layer.bias is None and layer.padding == (0, 0)
        assert layer.weight.shape == (21, 21, k, k)


def test_training_mode_returns_logits_and_no_aux():
    logits, aux = _tiny().train()(torch.randn(2, 3, 32, 48))
    assert logits.shape == (2, 21, 32, 48) and aux == []


def test_full_size_parameter_count():
    with torch.device("meta"):
        model = FCN8S_VGG16_VOC.build()
    assert sum(p.numel() for p in model.parameters()) == 134_489_759
    assert model.fc6.weight.numel() + model.fc6.bias.numel() == 102_764_544
