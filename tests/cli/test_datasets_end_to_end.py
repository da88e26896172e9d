"""convert -> preprocess -> infer -> evaluate from the CLI on small trees in the real VOC/SBD and Cityscapes
layouts, an ais_bench output folder scored end to end, and bad input (one-line errors, --skip-bad)."""

from __future__ import annotations

import json
import shlex
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
import torch.nn.functional as F
from PIL import Image

from segdeploy.cli import main
from segdeploy.data.cityscapes import ID_TO_TRAINID
from segdeploy.data.images import read_label, read_rgb
from segdeploy.data.synthetic import generate_cityscapes_like
from segdeploy.data.transforms import (
    keep_ratio_size,
    letterbox,
    normalize,
    resize_image,
    unletterbox_class_map,
)
from segdeploy.data.voc import list_voc, voc_colormap
from segdeploy.deploy.run import DeployConfig, run_deploy
from segdeploy.evaluation.metrics import evaluate_arrays
from segdeploy.models import MODELS
from segdeploy.training.train import save_state_dict

FCN = "fcn_r50_d8_voc"
FASTSCNN = "fastscnn_cityscapes"
# VOC's usual 500x375, 375x500, 500x334 and 500x500, scaled down by 5
VAL_SIZES = {"2007_000033": (75, 100), "2007_000042": (100, 75), "2007_000061": (67, 100), "2007_000129": (100, 100)}
TRAIN_SIZES = {"2007_000032": (80, 90), "2007_000039": (90, 80)}
SBD_ONLY_SIZES = {"2008_000001": (70, 60), "2008_000002": (60, 70)}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """Exit code, stdout with whitespace runs collapsed (rich wraps table titles), stderr."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, " ".join(out.split()), err


def one_line_error(capsys, *argv: str) -> str:
    code, _, err = run(capsys, *argv)
    lines = [line for line in err.splitlines() if line.startswith("segdeploy: error:")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def only_run_dir(parent: Path) -> Path:
    (run_dir,) = [p for p in parent.iterdir() if p.is_dir()]
    return run_dir


# ---------------------------------------------------------------------------------------------- VOC + SBD


def _palette_png(path: Path, labels: np.ndarray) -> None:
    img = Image.fromarray(labels, mode="P")
    img.putpalette([c for rgb in voc_colormap(256) for c in rgb])
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def _sbd_mat(path: Path, labels: np.ndarray) -> None:
    """A GTcls struct as SBD ships it: Segmentation, Boundaries (20x1 cell), CategoriesPresent."""
    boundaries = np.empty((20, 1), dtype=object)
    for k in range(20):
        boundaries[k, 0] = np.zeros(labels.shape, dtype=bool)
    present = np.unique(labels).astype(np.uint8)[:, None]
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"GTcls": {"Segmentation": labels, "Boundaries": boundaries, "CategoriesPresent": present}})


def _odd_image(image_id: str, rgb: np.ndarray) -> Image.Image:
    """Val images in the modes users' files come in, all named .jpg as VOC's are."""
    kinds = {"2007_000042": lambda: Image.fromarray(rgb).convert("CMYK"),
             "2007_000061": lambda: Image.fromarray(rgb[:, :, 0]),  # grayscale
             "2007_000129": lambda: Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE)}
    return kinds.get(image_id, lambda: Image.fromarray(rgb))()


def build_voc(root: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    voc, sbd = root / "VOCdevkit" / "VOC2012", root / "benchmark_RELEASE" / "dataset"
    for image_id, (h, w) in {**VAL_SIZES, **TRAIN_SIZES, **SBD_ONLY_SIZES}.items():
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        (voc / "JPEGImages").mkdir(parents=True, exist_ok=True)
        img = _odd_image(image_id, rgb)
        img.save(voc / "JPEGImages" / f"{image_id}.jpg", format="PNG" if img.mode == "P" else "JPEG")
        labels = rng.integers(0, 21, (h, w)).astype(np.uint8)
        if image_id not in SBD_ONLY_SIZES:
            border = labels.copy()
            border[:, :2] = 255  # VOC's void band
            _palette_png(voc / "SegmentationClass" / f"{image_id}.png", border)
        if image_id in SBD_ONLY_SIZES or image_id in ("2007_000032", "2007_000033"):
            _sbd_mat(sbd / "cls" / f"{image_id}.mat", labels)
    lists = voc / "ImageSets" / "Segmentation"
    lists.mkdir(parents=True)
    (lists / "train.txt").write_text("".join(f"{i}\n" for i in TRAIN_SIZES))
    (lists / "val.txt").write_text("".join(f"{i}\n" for i in VAL_SIZES))
    (sbd / "train.txt").write_text("2007_000032\n2008_000001\n")
    (sbd / "val.txt").write_text("2007_000033\n2008_000002\n")
    return voc, sbd


def _tiny_fcn() -> torch.nn.Module:
    """The real FCN-R50-D8 architecture at test width, with BatchNorm statistics calibrated on noise
    so that its random-weight predictions vary across the image instead of being one class."""
    spec = MODELS[FCN]
    torch.manual_seed(0)
    model = spec.build(**spec.tiny)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(2, 3, 96, 96) * 1.5)
    return model.eval()


@pytest.fixture(scope="module")
def voc_tree(tmp_path_factory):
    """(voc, sbd, tiny eager model, its ONNX file with dynamic batch, height and width)."""
    root = tmp_path_factory.mktemp("voc")
    voc, sbd = build_voc(root)
    model = _tiny_fcn()
    onnx = root / "fcn_tiny.onnx"
    # The TorchScript exporter: 5x quicker than the dynamo one here, and any input size is fine for FCN.
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(1, 3, 64, 80),), str(onnx), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["output"], dynamic_axes={"input": axes, "output": axes})
    return voc, sbd, model, onnx


def test_voc_aug_converts_sbd_and_writes_the_lists_idempotently(voc_tree, capsys):
    voc, sbd, _, _ = voc_tree
    code, out, _ = run(capsys, "data", "voc-aug", "--voc", voc, "--sbd", sbd, "--workers", "2")
    assert code == 0 and "4 SBD masks converted (0 already there)" in out
    lists = voc / "ImageSets" / "Segmentation"
    # (VOC train ∪ SBD) − VOC val, and SBD − VOC trainval, sorted
    assert (lists / "trainaug.txt").read_text().split() == ["2007_000032", "2007_000039", "2008_000001", "2008_000002"]
    assert (lists / "aug.txt").read_text().split() == ["2008_000001", "2008_000002"]
    png = voc / "SegmentationClassAug" / "2008_000001.png"
    mat = scipy.io.loadmat(sbd / "cls" / "2008_000001.mat")["GTcls"][0]["Segmentation"][0]
    assert Image.open(png).mode == "L"
    np.testing.assert_array_equal(read_label(png), mat)
    mtime = png.stat().st_mtime_ns
    code, out, _ = run(capsys, "data", "voc-aug", "--voc", voc, "--sbd", sbd)
    assert code == 0 and "0 SBD masks converted (4 already there)" in out and png.stat().st_mtime_ns == mtime
    # VOC train ids keep their own masks (with the 255 band), SBD-only ids read the converted ones
    labels = {s.stem: s.label_path.parent.name for s in list_voc(voc, "trainaug")}
    assert labels == {"2007_000032": "SegmentationClass", "2007_000039": "SegmentationClass",
                      "2008_000001": "SegmentationClassAug", "2008_000002": "SegmentationClassAug"}


def test_broken_sbd_mat_is_one_line_naming_it(tmp_path, capsys):
    voc, sbd = build_voc(tmp_path)
    (sbd / "cls" / "2008_000002.mat").write_bytes(b"MATLAB 5.0 MAT-file, but cut short")
    line = one_line_error(capsys, "data", "voc-aug", "--voc", voc, "--sbd", sbd, "--workers", "1")
    assert "2008_000002.mat" in line


def _reference_class_maps(model: torch.nn.Module, voc: Path, variant: str) -> tuple[list, list]:
    """The two pipelines as the spec states them, step by step, on the eager model."""
    preprocess = MODELS[FCN].preprocess
    preds, labels = [], []
    for sample in list_voc(voc, "val"):
        image = read_rgb(sample.image_path)
        if variant == "guide-letterbox":
            chw, box = letterbox(image, preprocess, 500)
            class_map = model(torch.from_numpy(chw)[None]).argmax(1)[0].numpy()
            preds.append(unletterbox_class_map(class_map, box))
        else:
            size = keep_ratio_size(image.shape[:2], (2048, 512))
            logits = model(torch.from_numpy(normalize(resize_image(image, size), preprocess))[None])
            logits = F.interpolate(logits, size=image.shape[:2], mode="bilinear", align_corners=False)
            preds.append(logits.argmax(1)[0].numpy())
        labels.append(read_label(sample.label_path))
    return preds, labels


@pytest.mark.parametrize("variant", ["guide-letterbox", "mmseg-resize"])
def test_voc_variant_end_to_end_two_routes_agree_with_the_spec(voc_tree, tmp_path, capsys, variant):
    voc, _, model, onnx = voc_tree
    bins = tmp_path / "bins"
    assert run(capsys, "preprocess", "--model", FCN, "--data-root", voc, "--out", bins, "--variant", variant)[0] == 0
    info = (tmp_path / "bins.info").read_text().splitlines()
    if variant == "guide-letterbox":
        assert info[0] == f"0 {bins / '2007_000033.bin'} 500 500"
    else:  # 100x75 (a 500x375 photo) -> keep-ratio into (2048, 512): 683x512
        assert info[0] == f"0 {bins / '2007_000033.bin'} 683 512" and info[3].endswith(" 512 512")
    index = json.loads((tmp_path / "bins.index.json").read_text())
    assert index["variant"] == variant and index["samples"]["2007_000033"]["image_hw"] == [75, 100]
    # route 1: the device's way: ais_bench-like outputs of the .bin inputs, post-processed by evaluate
    logits = ["--logits"] if variant == "mmseg-resize" else []  # logits-level post-process
    assert run(capsys, "infer", "--model", FCN, "--onnx", onnx, "--input", bins, "--variant", variant,
               "--output", tmp_path / "device", *logits)[0] == 0
    # route 2: everything in this process from the dataset root
    assert run(capsys, "infer", "--model", FCN, "--onnx", onnx, "--data-root", voc, "--variant", variant,
               "--output", tmp_path / "local", "--batch", "2")[0] == 0
    scores = {}
    for route in ("device", "local"):
        run_dir = only_run_dir(tmp_path / route)
        code, out, _ = run(capsys, "evaluate", "--model", FCN, "--pred", run_dir, "--data-root", voc,
                           "--variant", variant)
        assert code == 0 and f"{FCN}, variant {variant}: scored 4 images" in out and "mean (aAcc" in out
        scores[route] = json.loads((run_dir / "metrics.json").read_text())
    with torch.no_grad():
        expected = evaluate_arrays(*_reference_class_maps(model, voc, variant), num_classes=21)
    for route in ("device", "local"):
        assert scores[route]["mIoU"] == pytest.approx(expected.mIoU, abs=1e-6)
        assert scores[route]["aAcc"] == pytest.approx(expected.aAcc, abs=1e-6)
    assert (expected.area_pred > 0).sum() >= 3  # the calibrated random model predicts several classes


def test_deploy_of_the_tiny_fcn_on_voc_writes_a_complete_folder(voc_tree, tmp_path):
    """deploy on the VOC tree: the guide's letterbox variant, odd image modes, a test-size network."""
    voc, _, model, _ = voc_tree
    checkpoint = save_state_dict(model, tmp_path / "fcn_tiny.pth")
    out = tmp_path / "deploy"
    result = run_deploy(DeployConfig(model=FCN, checkpoint=checkpoint, data_root=voc, out=out, images=4,
                                     engines=("onnxruntime",), batches=(1, 2), tiny=True, calib_images=1,
                                     seconds_per_candidate=0.2, show_progress=False), log=lambda _: None)
    assert {"deployment.json", "model.onnx", "report.json", "report.md", "report.html"} <= {p.name for p in out.iterdir()}
    report = json.loads((out / "report.json").read_text())
    assert report["variant"] == "guide-letterbox" and report["input_hw"] == [500, 500]
    with torch.no_grad():
        expected = evaluate_arrays(*_reference_class_maps(model, voc, "guide-letterbox"), num_classes=21)
    for engine in ("torch", "onnxruntime"):
        assert report["engines"][engine]["mIoU"] == pytest.approx(expected.mIoU, abs=1e-6)
    passing = [c for c in report["candidates"] if c["deployable"]]
    assert report["chosen"] == max(passing, key=lambda c: c["timing"]["samples_per_s"])["id"] == result.chosen.candidate.id
    words = shlex.split(json.loads((out / "deployment.json").read_text())["infer_command"])
    words[words.index("--output") + 1] = str(tmp_path / "preds")
    assert main(words[1:]) == 0 and main(["evaluate", "--model", FCN, "--pred", str(only_run_dir(tmp_path / "preds")),
                                          "--data-root", str(voc), "--json", str(tmp_path / "m.json")]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["mIoU"] == pytest.approx(expected.mIoU, abs=1e-6)


# ---------------------------------------------------------------------------------------------- Cityscapes


@pytest.fixture(scope="module")
def cityscapes_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("cs")
    for split, count in (("train", 1), ("val", 3)):
        generate_cityscapes_like(root, split, count, size=(64, 128), seed=7)
    for path in root.rglob("*_gtFine_labelTrainIds.png"):
        path.unlink()  # as downloaded: labelIds only
    torch.manual_seed(0)
    checkpoint = save_state_dict(MODELS[FASTSCNN].build(), root / "fastscnn.pth")
    return root, checkpoint


def test_cityscapes_trainids_then_chain_and_official_evaluator_agree(cityscapes_tree, tmp_path, capsys):
    root, checkpoint = cityscapes_tree
    code, out, _ = run(capsys, "data", "cityscapes-trainids", root, "--workers", "2")
    assert code == 0 and "4 *_gtFine_labelTrainIds.png written (0 already there)" in out
    for ids in root.rglob("*_gtFine_labelIds.png"):
        train_ids = read_label(Path(str(ids).replace("_labelIds", "_labelTrainIds")))
        np.testing.assert_array_equal(train_ids, ID_TO_TRAINID[read_label(ids)])
    assert "0 *_gtFine_labelTrainIds.png written (4 already there)" in run(capsys, "data", "cityscapes-trainids",
                                                                           root)[1]
    bins = tmp_path / "bins"
    assert run(capsys, "preprocess", "--model", FASTSCNN, "--data-root", root, "--out", bins)[0] == 0
    assert run(capsys, "infer", "--model", FASTSCNN, "--checkpoint", checkpoint, "--input", bins,
               "--output", tmp_path / "pred", "--batch", "2")[0] == 0
    run_dir = only_run_dir(tmp_path / "pred")
    summary = json.loads((tmp_path / "pred" / f"{run_dir.name}_summary.json").read_text())
    assert summary["NPU_compute_time"]["count"] == 2 and summary["throughput"] > 0
    assert summary["filesinfo"]["0"]["infiles"][0].endswith("_leftImg8bit.bin")
    code, out, _ = run(capsys, "evaluate", "--model", FASTSCNN, "--pred", run_dir, "--data-root", root,
                       "--metric", "cityscapes")
    assert code == 0 and "official cityscapesscripts evaluation" in out
    metrics = json.loads((run_dir / "metrics.json").read_text())
    official = metrics["cityscapes_official"]
    assert official["mean_iou"] == pytest.approx(metrics["mIoU"], abs=1e-12)
    for name, iou in metrics["IoU"].items():
        assert (official["class_iou"][name] is None) == (iou is None)
        assert iou is None or official["class_iou"][name] == pytest.approx(iou, abs=1e-12)
    assert official["mean_iiou"] is not None  # the tree has instanceIds: iIoU is computed too


def test_trainids_converter_matches_cityscapesscripts_painter(tmp_path, capsys):
    from cityscapesscripts.preparation.json2labelImg import json2labelImg

    # later objects paint over earlier ones; a license plate (id -1) is not painted, a cargroup is a car
    objects = [("road", [[0, 40], [127, 40], [127, 63], [0, 63]]),
               ("car", [[10, 30], [60, 30], [60, 55], [10, 55]]),
               ("license plate", [[20, 45], [30, 45], [30, 50], [20, 50]]),
               ("cargroup", [[70, 30], [90, 30], [90, 50]]),
               ("caravan", [[95, 20], [120, 20], [120, 45]]),  # an ignored class: trainId 255
               ("sky", [[0, 0], [127, 0], [127, 20]])]
    annotation = {"imgHeight": 64, "imgWidth": 128, "objects": [{"label": n, "polygon": p} for n, p in objects]}
    stem = tmp_path / "gtFine" / "val" / "town" / "town_000000_000001_gtFine"
    stem.parent.mkdir(parents=True)
    Path(f"{stem}_polygons.json").write_text(json.dumps(annotation))
    json2labelImg(f"{stem}_polygons.json", f"{stem}_labelIds.png", "ids")
    json2labelImg(f"{stem}_polygons.json", f"{tmp_path}/official_trainIds.png", "trainIds")
    assert run(capsys, "data", "cityscapes-trainids", tmp_path)[0] == 0
    ours = read_label(f"{stem}_labelTrainIds.png")
    np.testing.assert_array_equal(ours, read_label(tmp_path / "official_trainIds.png"))
    assert {0, 10, 13, 255} <= set(np.unique(ours).tolist())


# ---------------------------------------------------------------------------------------------- ais_bench


def test_ais_bench_folder_of_the_fcn_guide_is_scored_end_to_end(voc_tree, tmp_path, capsys):
    """What the guide's OM model leaves on a device: 1x1x500x500 class maps in several encodings."""
    voc, _, _, _ = voc_tree
    run_dir = tmp_path / "result" / "2026_11_21-10_00_00"
    legacy = tmp_path / "result" / "dumpOutput_device0"
    run_dir.mkdir(parents=True)
    legacy.mkdir()
    rng = np.random.default_rng(1)
    expected_preds, labels = [], []
    for k, sample in enumerate(list_voc(voc, "val")):
        canvas = rng.integers(0, 21, (500, 500))
        if k == 0:
            canvas.astype(np.int32).tofile(run_dir / f"{sample.stem}_0.bin")  # the OM's int32 argmax
        elif k == 1:
            canvas.astype(np.int64).tofile(legacy / f"{sample.stem}_1.bin")  # old `benchmark` tool, ONNX int64
        elif k == 2:
            np.save(run_dir / f"{sample.stem}_0.npy", canvas[None, None].astype(np.int32))  # --outfmt NPY
        else:
            np.savetxt(run_dir / f"{sample.stem}_0.txt", canvas.astype(np.int32), fmt="%d")  # --outfmt TXT
        label = read_label(sample.label_path)
        _, box = letterbox(np.zeros((*label.shape, 3), np.uint8), MODELS[FCN].preprocess, 500)
        expected_preds.append(unletterbox_class_map(canvas, box))
        labels.append(label)
    (tmp_path / "result" / "2026_11_21-10_00_00_summary.json").write_text("{}")
    code, out, _ = run(capsys, "evaluate", "--model", FCN, "--pred", tmp_path / "result", "--data-root", voc,
                       "--variant", "guide-letterbox", "--json", tmp_path / "m.json")
    assert code == 0 and "4 images" in out
    expected = evaluate_arrays(expected_preds, labels, num_classes=21)
    assert json.loads((tmp_path / "m.json").read_text())["mIoU"] == pytest.approx(expected.mIoU, abs=1e-12)
    # fp16 logits with the wrong class count: the size check names the file and what was expected
    (run_dir / "2007_000033_0.bin").unlink()
    np.zeros((19, 500, 500), np.float16).tofile(run_dir / "2007_000033_0.bin")
    line = one_line_error(capsys, "evaluate", "--model", FCN, "--pred", tmp_path / "result", "--data-root", voc,
                          "--variant", "guide-letterbox")
    assert "2007_000033_0.bin: 9,500,000 bytes does not match a 75x100 or 500x500 class map" in line


# ---------------------------------------------------------------------------------------------- bad input


@pytest.fixture()
def bad_voc(voc_tree, tmp_path):
    """A copy of the VOC tree with a truncated image, a missing label and a label of the wrong size."""
    voc = tmp_path / "VOC2012"
    shutil.copytree(voc_tree[0], voc)
    truncated = voc / "JPEGImages" / "2007_000033.jpg"
    truncated.write_bytes(truncated.read_bytes()[:300])
    (voc / "SegmentationClass" / "2007_000042.png").unlink()
    _palette_png(voc / "SegmentationClass" / "2007_000061.png", np.zeros((50, 50), np.uint8))
    return voc


def test_bad_inputs_are_one_line_errors_naming_the_file(bad_voc, voc_tree, tmp_path, capsys):
    onnx = voc_tree[3]
    line = one_line_error(capsys, "preprocess", "--model", FCN, "--data-root", bad_voc, "--out", tmp_path / "b")
    assert "2007_000033.jpg" in line
    line = one_line_error(capsys, "infer", "--model", FCN, "--onnx", onnx, "--data-root", bad_voc,
                          "--output", tmp_path / "p")
    assert "2007_000033.jpg" in line
    # with the image repaired, the label problems surface in evaluate
    shutil.copy(voc_tree[0] / "JPEGImages" / "2007_000033.jpg", bad_voc / "JPEGImages" / "2007_000033.jpg")
    assert run(capsys, "infer", "--model", FCN, "--onnx", onnx, "--data-root", bad_voc, "--output",
               tmp_path / "p2")[0] == 0
    run_dir = only_run_dir(tmp_path / "p2")
    line = one_line_error(capsys, "evaluate", "--model", FCN, "--pred", run_dir, "--data-root", bad_voc)
    assert "SegmentationClass/2007_000042.png" in line and "no label for 2007_000042.jpg" in line
    shutil.copy(bad_voc / "SegmentationClass" / "2007_000129.png", bad_voc / "SegmentationClass" / "2007_000042.png")
    line = one_line_error(capsys, "evaluate", "--model", FCN, "--pred", run_dir, "--data-root", bad_voc)
    assert "2007_000042.png: label is 100x100 but its image 2007_000042.jpg is 100x75" in line


def test_skip_bad_records_every_bad_file_and_reports_coverage(bad_voc, voc_tree, tmp_path, capsys):
    onnx = voc_tree[3]
    code, out, _ = run(capsys, "preprocess", "--model", FCN, "--data-root", bad_voc, "--out", tmp_path / "bins",
                       "--skip-bad")
    assert code == 0 and "3 images preprocessed" in out and "skipped 1 bad file" in out
    skipped = json.loads((tmp_path / "bins.index.json").read_text())["skipped"]
    assert [Path(s["file"]).name for s in skipped] == ["2007_000033.jpg"]
    assert run(capsys, "infer", "--model", FCN, "--onnx", onnx, "--data-root", bad_voc, "--output", tmp_path / "p",
               "--skip-bad")[0] == 0
    run_dir = only_run_dir(tmp_path / "p")
    summary = json.loads((tmp_path / "p" / f"{run_dir.name}_summary.json").read_text())
    assert [Path(s["file"]).name for s in summary["skipped"]] == ["2007_000033.jpg"]
    assert len(summary["filesinfo"]) == 3
    code, out, _ = run(capsys, "evaluate", "--model", FCN, "--pred", run_dir, "--data-root", bad_voc, "--skip-bad")
    assert code == 0 and "1 of 4 images" in out
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert (metrics["images"], metrics["images_total"]) == (1, 4)
    reasons = {Path(s["file"]).name: s["error"] for s in metrics["skipped"]}
    assert sorted(reasons) == ["2007_000033.jpg", "2007_000042.jpg", "2007_000061.jpg"]
    assert "2007_000042.jpg: this image has no label file" in reasons["2007_000042.jpg"]
    assert "2007_000061.png: label is 50x50 but its image 2007_000061.jpg is 67x100" in reasons["2007_000061.jpg"]
