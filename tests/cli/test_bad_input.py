"""The hostile-input table: every category of bad input or fault ends in one line naming the culprit.

Each case is one command line (placeholders from `World.placeholders`), the exit code it must end
with and a text the single `segdeploy: error:` line must contain. Every case also checks that no
traceback is printed and that no file that existed before the command changed or disappeared
(the shared world, and whatever the case's `setup` wrote). Add a row for every new flag or file.

    pytest tests/cli/test_bad_input.py -q     # one test per row
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from segdeploy.errors import EXIT_USER_ERROR

CUDA = torch.cuda.is_available()
World = Any  # tests/cli/conftest.py's World: a fixture's type, which test modules cannot import


@dataclass(frozen=True)
class Case:
    id: str
    argv: str  # one command line, `{name}` placeholders filled from World.placeholders
    culprit: str  # the error line must contain this (placeholders too)
    exit_code: int = EXIT_USER_ERROR
    setup: Callable[[World, Path], None] | None = None  # writes the hostile input under the case's folder
    disk: str | None = None  # "full": {tmp}/fs is a full tmpfs; "read-only": a read-only one (both after setup)
    skip: str | None = None  # why the case cannot run here


# ------------------------------------------------------------------------------------------ setups


def a_file(name: str) -> Callable[[World, Path], None]:
    def setup(world: World, tmp: Path) -> None:
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text("I am a file\n")
    return setup


def a_folder(name: str) -> Callable[[World, Path], None]:
    return lambda world, tmp: (tmp / name).mkdir(parents=True)


def binary_info(world: World, tmp: Path) -> None:
    shutil.copytree(world.bins, tmp / "bins")
    (tmp / "bins.info").write_bytes(bytes(range(256)) * 4)  # a .bin renamed to .info, say


def colliding_stems(world: World, tmp: Path) -> None:
    (tmp / "bins").mkdir()
    first = sorted(world.bins.glob("*.bin"))[0]
    shutil.copy(first, tmp / "bins" / "x.a.bin")
    shutil.copy(first, tmp / "bins" / "x.b.bin")


def wrong_size_bin(world: World, tmp: Path) -> None:
    (tmp / "bins").mkdir()
    np.zeros((3, 64, 100), dtype=np.float32).tofile(tmp / "bins" / "a.bin")


def onnx_file(**kwargs) -> Callable[[World, Path], None]:
    return lambda world, tmp: world.conv_onnx(tmp / "m.onnx", **kwargs) and None


def data_copy(world: World, tmp: Path) -> Path:
    shutil.copytree(world.data, tmp / "data")
    return tmp / "data"


def missized_label(world: World, tmp: Path) -> None:
    label = sorted(data_copy(world, tmp).rglob("*_gtFine_labelTrainIds.png"))[1]
    Image.fromarray(np.zeros((32, 64), np.uint8)).save(label)


def corrupt_image(world: World, tmp: Path) -> None:
    image = sorted(data_copy(world, tmp).rglob("*_leftImg8bit.png"))[1]
    image.write_bytes(image.read_bytes()[:200])


def foreign_bins(world: World, tmp: Path) -> None:
    (tmp / "out").mkdir()
    np.zeros(16, np.float32).tofile(tmp / "out" / "someone_else.bin")


def damaged_record(world: World, tmp: Path) -> None:
    (tmp / "run").mkdir()
    (tmp / "run.segdeploy.json").write_bytes(b"\x00garbage")


def earlier_metrics(world: World, tmp: Path) -> None:
    """An earlier result on the small file system, which a failed rewrite must leave intact."""
    (tmp / "fs" / "metrics.json").write_text('{"mIoU": 0.5}\n')
    (tmp / "fs" / "bench.json").write_text('{"results": []}\n')


def run_copy(world: World, tmp: Path) -> None:
    """The world's run (and its record) on the soon read-only file system."""
    shutil.copytree(world.run, tmp / "fs" / "run")
    shutil.copy(world.run.with_name(world.run.name + ".segdeploy.json"), tmp / "fs" / "run.segdeploy.json")


INFER = "infer --model {model} --onnx {onnx} --data-root {data} --output {tmp}/p"
TORCH_INFER = "infer --model {model} --checkpoint {ckpt} --data-root {data} --output {tmp}/p"
BENCH = "bench --model {model} --onnx {onnx} --batch 1 --warmup 0 --loop 1 --input-size 64x128 --work-dir {tmp}/b"
NO_CUDA = "CUDA is available here" if CUDA else None

CASES = [
    # --- flags: ranges and forms, checked at parse time
    Case("batch-zero", INFER + " --batch 0", "--batch"),
    Case("batch-negative", INFER + " --batch -3", "--batch"),
    Case("threads-zero-before", "--threads 0 models --no-flops", "--threads"),
    Case("threads-negative-after", "models --no-flops --threads -1", "--threads"),
    Case("iters-zero", "train --model {model} --data-root {data} --work-dir {tmp}/w --iters 0", "--iters"),
    Case("lr-zero", "train --model {model} --data-root {data} --work-dir {tmp}/w --lr 0", "--lr"),
    Case("lr-nan", "train --model {model} --data-root {data} --work-dir {tmp}/w --lr nan", "--lr"),
    Case("train-workers-negative", "train --model {model} --data-root {data} --work-dir {tmp}/w --workers -1",
         "--workers"),
    Case("count-zero", "data synthetic --out {tmp}/d --count 0", "--count"),
    Case("demo-images-zero", "demo --out {tmp}/demo --images 0", "--images"),
    Case("bench-loop-zero", BENCH.replace("--loop 1", "--loop 0"), "--loop"),
    Case("bench-warmup-negative", BENCH.replace("--warmup 0", "--warmup -1"), "--warmup"),
    Case("bench-batch-list-zero", BENCH.replace("--batch 1", "--batch 0,2"), "--batch"),
    Case("bench-max-drop-negative", BENCH + " --max-drop -1", "--max-drop"),
    Case("trainids-workers-zero", "data cityscapes-trainids {data} --workers 0", "--workers"),
    Case("input-size-zero", "export --model {model} --out {tmp}/m.onnx --input-size 0x64", "--input-size"),
    Case("device-malformed", INFER + " --device gpu", "--device"),
    Case("device-index-malformed", INFER + " --device cuda:x", "--device"),
    Case("unknown-model", "export --model nope --out {tmp}/m.onnx", "unknown model 'nope'"),
    Case("engine-without-onnx", "infer --model {model} --engine onnxruntime --data-root {data} --output {tmp}/p",
         "--engine onnxruntime"),
    Case("logits-with-data-root", INFER + " --logits", "--logits"),
    Case("torch-options-unknown", TORCH_INFER + " --torch-options channels_last,fast", "--torch-options"),
    Case("torch-options-empty", TORCH_INFER + " --torch-options ,", "--torch-options"),
    Case("torch-options-on-onnxruntime", INFER + " --torch-options compile", "--torch-options: apply to the torch"),
    Case("torch-bf16-with-onnx", INFER + " --engine torch-bf16", "--onnx"),
    Case("openvino-int8-without-file", "infer --model {model} --engine openvino-int8 --data-root {data} --output "
         "{tmp}/p", "--engine openvino-int8: needs --onnx"),
    Case("evaluate-without-data-root", "infer --model {model} --onnx {onnx} --input {bins} --output {tmp}/p "
         "--evaluate", "--evaluate"),
    Case("bench-accuracy-without-data", BENCH + " --accuracy", "--accuracy"),
    # --- a device this machine does not have
    Case("torch-cuda", TORCH_INFER + " --device cuda", "--device cuda: CUDA is not available", skip=NO_CUDA),
    Case("onnxruntime-cuda", INFER + " --device cuda", "--device cuda: CUDA is not available to ONNX Runtime",
         skip=NO_CUDA),
    Case("bench-torch-cuda-1", BENCH.replace("--onnx {onnx}", "--engine torch") + " --device cuda:1",
         "--device cuda:1", skip=NO_CUDA),
    Case("bench-onnxruntime-cuda", BENCH + " --device cuda", "CUDA is not available to ONNX Runtime", skip=NO_CUDA),
    # --- output paths that cannot be written, input paths of the wrong kind
    Case("infer-output-is-a-file", INFER.replace("{tmp}/p", "{tmp}/f"), "{tmp}/f: is a file", setup=a_file("f")),
    Case("preprocess-out-is-a-file", "preprocess --model {model} --data-root {data} --out {tmp}/f",
         "{tmp}/f: is a file", setup=a_file("f")),
    Case("preprocess-out-under-a-file", "preprocess --model {model} --data-root {data} --out {tmp}/f/bins",
         "{tmp}/f is a file", setup=a_file("f")),
    Case("preprocess-info-is-a-folder", "preprocess --model {model} --data-root {data} --out {tmp}/b "
         "--info {tmp}/d", "{tmp}/d: is a folder", setup=a_folder("d")),
    Case("fuse-attention-on-a-folded-file", "export --model {model} --out {tmp}/m.onnx --fold-argmax --fuse-attention",
         "--fuse-attention: does not apply to a folded file"),
    Case("export-out-is-a-folder", "export --model {model} --out {tmp}/d", "{tmp}/d: is a folder",
         setup=a_folder("d")),
    Case("evaluate-json-is-a-folder", "evaluate --model {model} --pred {run} --data-root {data} --json {tmp}/d",
         "{tmp}/d: is a folder", setup=a_folder("d")),
    Case("bench-json-is-a-folder", BENCH + " --json {tmp}/d", "{tmp}/d: is a folder", setup=a_folder("d")),
    Case("train-work-dir-is-a-file", "train --model {model} --data-root {data} --work-dir {tmp}/f",
         "{tmp}/f: is a file", setup=a_file("f")),
    Case("synthetic-out-is-a-file", "data synthetic --out {tmp}/f --count 1", "{tmp}/f: is a file",
         setup=a_file("f")),
    Case("checkpoint-missing", TORCH_INFER.replace("{ckpt}", "{tmp}/none.pth"), "{tmp}/none.pth: no such file"),
    Case("input-is-a-file", "infer --model {model} --onnx {onnx} --input {tmp}/f --output {tmp}/p",
         "{tmp}/f: is a file", setup=a_file("f")),
    Case("onnx-is-a-folder", INFER.replace("{onnx}", "{tmp}/d"), "{tmp}/d: is a folder", setup=a_folder("d")),
    # --- a full disk: the path and what to do, and the earlier results on it intact
    Case("infer-full-disk", INFER.replace("{tmp}/p", "{tmp}/fs/p"), "no space left", disk="full"),
    Case("preprocess-full-disk", "preprocess --model {model} --data-root {data} --out {tmp}/fs/bins",
         "{tmp}/fs/bins", disk="full"),
    Case("export-full-disk", "export --model {model} --out {tmp}/fs/m.onnx --input-size 64x128",
         "{tmp}/fs/m.onnx", disk="full"),
    Case("evaluate-json-full-disk", "evaluate --model {model} --pred {run} --data-root {data} "
         "--json {tmp}/fs/metrics.json", "{tmp}/fs/metrics.json: no space left", setup=earlier_metrics, disk="full"),
    Case("bench-json-full-disk", BENCH + " --json {tmp}/fs/bench.json", "{tmp}/fs/bench.json: no space left",
         setup=earlier_metrics, disk="full"),
    Case("train-full-disk", "train --model {model} --data-root {data} --split val --work-dir {tmp}/fs/w --iters 1 --batch 2 "
         "--crop 32x32 --workers 0 --checkpoint-every 1", "{tmp}/fs/w", disk="full"),
    Case("synthetic-full-disk", "data synthetic --out {tmp}/fs/d --count 1 --size 32x64", "{tmp}/fs/d",
         disk="full"),
    # --- a read-only file system
    Case("infer-read-only", INFER.replace("{tmp}/p", "{tmp}/fs/p"), "{tmp}/fs is not writable", disk="read-only"),
    Case("preprocess-read-only", "preprocess --model {model} --data-root {data} --out {tmp}/fs/bins",
         "{tmp}/fs is not writable", disk="read-only"),
    Case("evaluate-into-read-only-run", "evaluate --model {model} --pred {tmp}/fs/run --data-root {data}",
         "{tmp}/fs/run/metrics.json: the file system is read-only", setup=run_copy, disk="read-only"),
    Case("resume-read-only-run", INFER + " --resume {tmp}/fs/run", "{tmp}/fs/run_summary.json: the file system "
         "is read-only", setup=run_copy, disk="read-only"),
    # --- input files that are not what they claim
    Case("info-binary-garbage", "infer --model {model} --onnx {onnx} --input {tmp}/bins --output {tmp}/p",
         "{tmp}/bins.info: not a text file", setup=binary_info),
    Case("info-flag-binary-garbage", "infer --model {model} --onnx {onnx} --input {bins} --info {tmp}/bins.info "
         "--output {tmp}/p", "{tmp}/bins.info: not a text file", setup=binary_info),
    Case("bin-of-another-size", "infer --model {model} --onnx {onnx} --input {tmp}/bins --input-size 64x128 "
         "--output {tmp}/p", "a.bin: 76,800 bytes", setup=wrong_size_bin),
    Case("corrupt-image", INFER.replace("{data}", "{tmp}/data"), "_000001_leftImg8bit.png", setup=corrupt_image),
    Case("label-of-another-size", INFER.replace("{data}", "{tmp}/data") + " --evaluate",
         "_000001_gtFine_labelTrainIds.png: label is 32x64 but its image", setup=missized_label),
    Case("evaluate-no-predictions", "evaluate --model {model} --pred {tmp}/d --data-root {data}", "{tmp}/d",
         setup=a_folder("d")),
    Case("checkpoint-of-another-model", "inspect-checkpoint {ckpt} --model icnet_r50_cityscapes",
         "does not match model icnet_r50_cityscapes"),
    # --- ONNX files that are not this model's deployed network
    Case("onnx-two-inputs", INFER.replace("{onnx}", "{tmp}/m.onnx"), "{tmp}/m.onnx: has 2 inputs",
         setup=onnx_file(inputs=("input", "extra"))),
    Case("onnx-rank-3-input", INFER.replace("{onnx}", "{tmp}/m.onnx"), "{tmp}/m.onnx: input input is",
         setup=onnx_file(rank=3)),
    Case("onnx-4-channel-input", INFER.replace("{onnx}", "{tmp}/m.onnx"), "{tmp}/m.onnx: input input is",
         setup=onnx_file(in_channels=4)),
    Case("onnx-of-another-class-count", INFER.replace("{onnx}", "{tmp}/m.onnx"), "{tmp}/m.onnx: outputs (N, 21, H, W)",
         setup=onnx_file(classes=21)),
    Case("onnx-with-argmax-inside", INFER.replace("{onnx}", "{tmp}/m.onnx"), "{tmp}/m.onnx: outputs (N, H, W)",
         setup=onnx_file(argmax=True)),
    # --- outputs that would be mixed or overwritten
    Case("colliding-stems", "infer --model {model} --onnx {onnx} --input {tmp}/bins --input-size 64x128 "
         "--output {tmp}/p", "x.b.bin: has the same output name x_0.* as {tmp}/bins/x.a.bin", setup=colliding_stems),
    Case("resume-the-output-parent", INFER + " --resume {preds}", "{preds}: --resume takes one run folder"),
    Case("resume-a-folder-that-is-no-run", INFER + " --resume {data}", "{data}: not a folder written by "
         "`segdeploy infer`"),
    Case("resume-with-a-damaged-record", INFER + " --resume {tmp}/run", "{tmp}/run.segdeploy.json: damaged",
         setup=damaged_record),
    Case("resume-with-another-batch", INFER + " --batch 2 --resume {run}", "{run}: was made with other settings "
         "(batch: 1 -> 2)"),
    Case("preprocess-over-another-models-out", "preprocess --model icnet_r50_cityscapes --data-root {data} "
         "--out {bins}", "{bins}: was made with other settings (model: fastscnn_cityscapes -> icnet_r50_cityscapes"),
    Case("preprocess-over-foreign-bins", "preprocess --model {model} --data-root {data} --out {tmp}/out",
         "{tmp}/out: holds .bin files that segdeploy preprocess did not record", setup=foreign_bins),
    Case("train-resume-without-checkpoints", "train --model {model} --data-root {data} --split val "
         "--work-dir {tmp}/w --resume --iters 1 --batch 2 --workers 0", "no iter_*.pth checkpoint", setup=a_folder("w")),
    Case("train-one-image-per-batch-norm", "train --model {model} --data-root {data} --split val --work-dir {tmp}/w "
         "--iters 1 --batch 1 --crop 32x32 --workers 0", "--batch-per-device: fastscnn_cityscapes needs at least 2"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_one_line_naming_the_culprit(case: Case, world: World, tmp_path: Path, request, cli, snapshot):
    if case.skip:
        pytest.skip(case.skip)
    values = world.placeholders(tmp_path)
    make_disk = request.getfixturevalue("small_fs") if case.disk else None
    if case.setup is not None:
        case.setup(world, tmp_path)
    if make_disk is not None:
        make_disk(case.disk)
    before = snapshot(world.root, tmp_path)
    code, _, err = cli(*shlex.split(case.argv.format(**values)))
    after = snapshot(world.root, tmp_path)
    lines = [line for line in err.splitlines() if line.startswith("segdeploy: error:")]
    problems = {  # all of them at once, so a failing row says everything that is wrong with it
        "traceback": "Traceback" in err,
        f"exit {code}, not {case.exit_code}": code != case.exit_code,
        f"{len(lines)} error lines": len(lines) != 1,
        "culprit not named": not any(case.culprit.format(**values) in line for line in lines),
        "an earlier output changed (mixed or lost)": {k: v for k, v in after.items() if k in before} != before,
    }
    assert not [name for name, bad in problems.items() if bad], err


def test_case_ids_are_unique():
    assert len({case.id for case in CASES}) == len(CASES)


def test_another_input_name_is_read_from_the_file(world: World, tmp_path: Path, cli, snapshot):
    """Not a fault: the input's name comes from the file, so a renamed input predicts the same."""
    renamed = world.conv_onnx(tmp_path / "renamed.onnx", inputs=("images",))
    for name, onnx in (("a", world.onnx), ("b", renamed)):
        assert cli("infer", "--model", world.model, "--onnx", onnx, "--data-root", world.data,
                   "--output", tmp_path / name)[0] == 0
    a, b = (snapshot(next(p for p in (tmp_path / name).iterdir() if p.is_dir())) for name in ("a", "b"))
    assert len(a) == 2 and list(a.values()) == list(b.values())
