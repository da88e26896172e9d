"""Folded graphs (`export --fold-preprocess / --fold-argmax`) against the unfolded float path, exactly.

Every model, tiny config, real dynamo exports run in ONNX Runtime: the folded file on uint8 pixels
must give the same logits bit for bit as the plain file on `normalize` / `letterbox` of them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from segdeploy.cli import main
from segdeploy.data.transforms import letterbox, normalize
from segdeploy.data.variants import get_variant
from segdeploy.export.fold import FoldedNetwork, export_folded_network, fold_network, plan_fold
from segdeploy.export.onnx_export import export_onnx
from segdeploy.models import MODELS, build_model
from segdeploy.runtime.onnxruntime_backend import OnnxRuntimeBackend

# (model, variant): every model's default variant (FCN's is the guide's letterbox: the graph pads), and
# mmseg's keep-ratio resize, whose file takes each image's own resized size (height and width dynamic)
CASES = [(name, spec.variants[0].name) for name, spec in MODELS.items()] + [("fcn_r50_d8_voc", "mmseg-resize")]


def _tiny(spec):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return build_model(spec, tiny=True)


def _pixels_and_float_input(spec, variant, plan, rng):
    """A random image as the folded file takes it and as the float path makes it (same geometry)."""
    if plan.pad_to is not None:
        image = rng.integers(0, 256, (plan.pad_to * 3 // 4, plan.pad_to, 3), dtype=np.uint8)  # already fitted
        return image, letterbox(image, spec.preprocess, plan.pad_to)[0]
    image = rng.integers(0, 256, (*spec.tiny_input_size, 3), dtype=np.uint8)
    return image, normalize(image, spec.preprocess)


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_folded_preprocessing_gives_the_float_paths_logits_bit_for_bit(name, variant, tmp_path):
    spec = MODELS[name]
    plan = plan_fold(spec, get_variant(spec, variant), preprocess=True, argmax=False)
    image, chw = _pixels_and_float_input(spec, variant, plan, np.random.default_rng(1))
    model = _tiny(spec)
    # a network with dynamic height and width is compared with its plain export, dynamic alike
    dims = ({2: torch.export.Dim("height", min=2, max=4096), 3: torch.export.Dim("width", min=2, max=4096)}
            if plan.dynamic_hw and plan.pad_to is None else None)
    plain = export_onnx(model, tmp_path / "plain.onnx", (1, *chw.shape), dynamic_dims=dims)
    folded = export_folded_network(fold_network(model, spec, plan), plan, tmp_path / "folded.onnx", image.shape[:2])
    engine = OnnxRuntimeBackend(folded)
    assert engine.io.pixels and not engine.io.class_map and engine.io.pad_to == plan.pad_to
    expected = OnnxRuntimeBackend(plain)(chw[None])
    np.testing.assert_array_equal(engine(image[None]), expected)
    if plan.pad_to is not None:  # any resized size up to the canvas: a portrait image too
        portrait = np.ascontiguousarray(image.transpose(1, 0, 2))
        np.testing.assert_array_equal(engine(portrait[None]),
                                      OnnxRuntimeBackend(plain)(letterbox(portrait, spec.preprocess)[0][None]))


def test_folded_argmax_is_the_argmax_of_the_plain_logits(tmp_path):
    spec = MODELS["fcn8s_vgg16_voc"]  # caffe weights: BGR order and no std, folded as well
    plan = plan_fold(spec, get_variant(spec, None), preprocess=True, argmax=True)
    model = _tiny(spec)
    image = np.random.default_rng(2).integers(0, 256, (2, *spec.tiny_input_size, 3), dtype=np.uint8)
    plain = export_onnx(model, tmp_path / "plain.onnx", (1, 3, *spec.tiny_input_size), dynamic_batch=True)
    folded = export_folded_network(fold_network(model, spec, plan), plan, tmp_path / "folded.onnx",
                                   spec.tiny_input_size, dynamic_batch=True)
    class_map = OnnxRuntimeBackend(folded)(image)
    logits = OnnxRuntimeBackend(plain)(np.stack([normalize(x, spec.preprocess) for x in image]))
    assert class_map.dtype == np.int32 and class_map.shape == (2, 1, *spec.tiny_input_size)
    np.testing.assert_array_equal(class_map[:, 0], logits.argmax(1))


def test_the_wrapper_keeps_the_official_state_dict_and_the_network_untouched():
    spec = MODELS["fastscnn_cityscapes"]
    model = _tiny(spec)
    keys = list(model.state_dict())
    folded = FoldedNetwork(model, spec.preprocess, argmax=True)
    assert [k.removeprefix("network.") for k in folded.state_dict()] == keys
    image = torch.randint(0, 256, (1, *spec.tiny_input_size, 3), dtype=torch.uint8)
    with torch.inference_mode():
        float_path = model(torch.from_numpy(normalize(image[0].numpy(), spec.preprocess))[None])
        assert torch.equal(folded(image)[:, 0], float_path.argmax(1).to(torch.int32))


@pytest.mark.parametrize(("argv", "message"), [
    (["--model", "fcn_r50_d8_voc", "--variant", "mmseg-resize", "--fold-argmax"],
     "mmseg-resize resizes the logits to the image size before the argmax"),
    (["--model", "segmenter_vitl16_mask_cityscapes", "--fold-preprocess", "--fold-argmax"],
     "averages overlapping windows' logits before the argmax"),
    (["--model", "fcn_r50_d8_voc", "--variant", "guide-letterbox", "--fold-preprocess", "--input-size", "500x500"],
     "--input-size: variant guide-letterbox with --fold-preprocess takes each image's own resized size"),
    (["--model", "fastscnn_cityscapes", "--variant", "whole"], "--variant: only shapes a folded file"),
    (["--model", "fastscnn_cityscapes", "--variant", "windows", "--fold-argmax"], "has no variant 'windows'"),
])
def test_what_cannot_be_folded_is_one_line_naming_why(argv, message, tmp_path, capsys):
    assert main(["export", *argv, "--out", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.onnx").exists()


def _voc_tree(root):
    """Three VOC val images (the guide's letterbox pads each differently) with palette labels."""
    rng = np.random.default_rng(5)
    ids = {"2007_000001": (375, 500), "2007_000002": (500, 333), "2007_000003": (120, 90)}
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / folder).mkdir(parents=True)
    for image_id, (h, w) in ids.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / "JPEGImages" / f"{image_id}.jpg")
        label = Image.fromarray(rng.integers(0, 21, (h, w)).astype(np.uint8), mode="P")
        label.putpalette([v for i in range(256) for v in (i, i, i)])
        label.save(root / "SegmentationClass" / f"{image_id}.png")
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text("\n".join(ids) + "\n")


def test_infer_runs_the_guides_letterbox_folded_into_the_file_with_identical_outputs(tmp_path, capsys):
    spec = MODELS["fcn_r50_d8_voc"]
    _voc_tree(tmp_path / "voc")
    model = _tiny(spec)
    plan = plan_fold(spec, get_variant(spec, "guide-letterbox"), preprocess=True, argmax=True)
    files = {"plain": export_onnx(model, tmp_path / "plain.onnx", (1, 3, 500, 500)),
             "folded": export_folded_network(fold_network(model, spec, plan), plan, tmp_path / "folded.onnx", (375, 500))}
    for name, path in files.items():
        assert main(["infer", "--model", spec.name, "--onnx", str(path), "--data-root", str(tmp_path / "voc"),
                     "--output", str(tmp_path / name), "--evaluate", "--workers", "threads:1"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("3 images predicted, 0 already done") == 2
    (plain_run,), (folded_run,) = (list((tmp_path / name).glob("*/")) for name in files)
    outputs = sorted(p.name for p in plain_run.iterdir())  # 3 predictions and metrics.json
    assert len(list(plain_run.glob("*_0.bin"))) == 3 and outputs == sorted(p.name for p in folded_run.iterdir())
    for name in outputs:
        assert (plain_run / name).read_bytes() == (folded_run / name).read_bytes()
    # the folded file is for the letterbox only, and takes pixels, not .bin floats
    assert main(["infer", "--model", spec.name, "--onnx", str(files["folded"]), "--data-root", str(tmp_path / "voc"),
                 "--variant", "mmseg-resize", "--output", str(tmp_path / "bad")]) == 2
    assert "variant mmseg-resize: post-processes logits, but this engine returns class maps" in capsys.readouterr().err
    (tmp_path / "bins").mkdir()
    assert main(["infer", "--model", spec.name, "--onnx", str(files["folded"]), "--input", str(tmp_path / "bins"),
                 "--output", str(tmp_path / "bad")]) == 2
    assert "takes uint8 pixels (exported with --fold-preprocess): pass --data-root" in capsys.readouterr().err
