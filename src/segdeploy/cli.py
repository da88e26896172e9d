"""Command line: parse arguments, build a config, call one library function, print the result."""

from __future__ import annotations

import argparse
import os
import sys
from importlib import metadata
from pathlib import Path
from typing import Callable

from segdeploy.argtypes import (
    auto_or,
    device_arg,
    existing_dir,
    existing_file,
    fraction,
    int_list,
    names_list,
    nonnegative_float,
    nonnegative_int,
    output_dir,
    output_file,
    positive_float,
    positive_int,
    size_arg,
    workers_arg,
)
from segdeploy.benchmark.catalog import ENGINES, INFER_ENGINES, TORCH_OPTIONS
from segdeploy.errors import EXIT_USER_ERROR, run_and_report
from segdeploy.export.quantize import CALIBRATION_METHODS
from segdeploy.verify.criteria import DEFAULT_ATOL, DEFAULT_MAX_DROP, DEFAULT_MIN_AGREEMENT, DEFAULT_RTOL

# Engines `verify` and `export` can prove a file on (others plug in through `verify.run.verify_engine`).
VERIFY_ENGINES = ("onnxruntime", "openvino")

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (one-line help, example)
    "demo": ("`segdeploy deploy` on the embedded synthetic dataset and the shipped checkpoint: export, engines "
             "scored and timed, the fastest passing one deployed, report.html",
             "segdeploy demo --out demo_out"),
    "deploy": ("checkpoint -> the fastest engine, precision and batch within an accuracy budget on this machine: "
               "export + parity, every candidate scored and timed, artifact + deployment.json + report.html",
               "segdeploy deploy --model fastscnn_cityscapes --checkpoint best_model.pth --data-root data/cityscapes "
               "--images 20 --max-drop 0.5 --engines auto --batch 1,4 --time-budget 10 --out deploy_out"),
    "models": ("list every model: params, GFLOPs, input size, dataset, reference metrics",
               "segdeploy models --no-flops"),
    "inspect-checkpoint": ("compare a checkpoint file with a model's official keys and shapes",
                           "segdeploy inspect-checkpoint best_model.pth --model fastscnn_cityscapes"),
    "preprocess": ("dataset images -> float32 NCHW .bin files + an .info file (the guides' preprocess step)",
                   "segdeploy preprocess --model fastscnn_cityscapes --data-root data/cityscapes --out bins/val"),
    "export": ("export a model to ONNX (fixed or dynamic batch / height / width) after a preflight, check it "
               "and prove it on an engine against PyTorch (`verify`'s check)",
               "segdeploy export --model fastscnn_cityscapes --checkpoint best_model.pth --out fastscnn.onnx "
               "--dynamic-batch --dynamic-hw"),
    "verify": ("an engine against PyTorch fp32 on real images or random inputs: |Δlogit|, argmax agreement, "
               "Δ mIoU; on failure, a bisect names the first ONNX node beyond tolerance",
               "segdeploy verify --model fastscnn_cityscapes --checkpoint best_model.pth --onnx fastscnn.onnx "
               "--data-root data/cityscapes --images 20"),
    "infer": ("batch inference writing ais_bench-layout predictions (resumable; 1..N processes and nodes "
              "under torchrun)",
              "segdeploy infer --model fastscnn_cityscapes --onnx fastscnn.onnx --data-root data/cityscapes "
              "--output preds --batch 4"),
    "evaluate": ("score a prediction folder: aAcc, mIoU, mAcc, mDice, mFscore, per-class IoU/Acc/Dice/Fscore/"
                 "Precision/Recall (mmseg definitions); the confusion matrix saved, --plot draws it",
                 "segdeploy evaluate --model fastscnn_cityscapes --pred preds/2026_11_21-10_00_00 "
                 "--data-root data/cityscapes"),
    "bench": ("engines side by side: pure-inference throughput, latency, × torch, share of the matmul peak; "
              "--accuracy gates each against PyTorch fp32",
              "segdeploy bench --model fastscnn_cityscapes --checkpoint best_model.pth "
              "--engine torch,torch-bf16,onnxruntime,onnxruntime-int8,onnxruntime-int8-aware,openvino-int8 "
              "--batch 1,4 --warmup 2 --loop 20 --accuracy --data-root data/synth --input-size 256x512"),
    "quantize": ("static int8 QDQ of an fp32 ONNX file; with --max-drop, keep the most sensitive nodes in float "
                 "until its mIoU loss on labelled images is within the budget",
                 "segdeploy quantize --model fastscnn_cityscapes --onnx fastscnn.onnx --out fastscnn_int8.onnx "
                 "--calib-root data/cityscapes --calibration entropy --max-drop 0.5 --data-root data/cityscapes"),
    "train": ("train a model with its spec's recipe, on 1..N processes and nodes under torchrun",
              "torchrun --nproc-per-node 2 -m segdeploy train --model fcn_r50_d8_voc --data-root data/VOC2012 "
              "--work-dir runs/fcn --init-backbone resnet50_v1c.pth --amp"),
    "data": ("prepare data sets: SBD -> VOC aug masks and lists, Cityscapes trainIds, a synthetic set",
             "segdeploy data cityscapes-trainids data/cityscapes"),
}

# `segdeploy data SUBCOMMAND`: same shape as COMMANDS; handlers are `commands.data_<subcommand>`.
DATA_COMMANDS: dict[str, tuple[str, str]] = {
    "voc-aug": ("SBD cls/*.mat -> SegmentationClassAug PNGs, plus the trainaug and aug split lists",
                "segdeploy data voc-aug --voc VOCdevkit/VOC2012 --sbd benchmark_RELEASE/dataset"),
    "cityscapes-trainids": ("write *_gtFine_labelTrainIds.png beside every *_gtFine_labelIds.png",
                            "segdeploy data cityscapes-trainids data/cityscapes --workers 8"),
    "synthetic": ("write a deterministic synthetic street-scene dataset in the Cityscapes layout",
                  "segdeploy data synthetic --out data/synth --split val --count 50 --size 256x512 --seed 1"),
}


EXIT_CODES = ("exit codes: 0 success, 2 bad usage or bad input, 3 a gate failed (export parity, accuracy "
              "--max-drop, a verification), 130 interrupted, 1 a bug in segdeploy")


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (which command, which argument, what is wrong)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"segdeploy: error: {self.prog}: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(EXIT_USER_ERROR)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = _parser().parse_args(argv)
    except SystemExit as done:  # --help, --version (0) or a usage error (2): a code, not an exception
        return done.code if isinstance(done.code, int) else EXIT_USER_ERROR
    args.command_line = ["segdeploy", *map(str, argv)]  # recorded by the commands that write provenance
    return run_and_report(lambda: _dispatch(args), debug=args.debug)


def _dispatch(args: argparse.Namespace) -> int:
    if args.threads:
        import torch  # deferred: `segdeploy --help` and argument errors start without torch

        torch.set_num_threads(args.threads)
    from segdeploy import commands  # deferred likewise: the commands import torch and the engines

    name = args.command if args.command != "data" else f"data_{args.data_command}"
    return getattr(commands, name.replace("-", "_"))(args)


def _global_flags(p: argparse.ArgumentParser) -> None:
    """--debug and --threads, accepted before or after the subcommand.

    SUPPRESS defaults: a subcommand parser only sets them when given, so a value given before the
    subcommand is not reset by the subcommand's parser; the top-level parser sets the defaults.
    """
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show tracebacks instead of one-line errors")
    p.add_argument("--threads", type=positive_int, default=argparse.SUPPRESS,
                   help="intra-op threads of torch and of infer's ONNX Runtime session (default: torch's, and "
                        "one per core for ONNX Runtime); under torchrun give each process its share of the cores")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="segdeploy", description="segdeploy: segmentation models "
                                     "from official checkpoints to a proven deployment.", epilog=EXIT_CODES)
    parser.add_argument("--version", action="version", version=f"segdeploy {_version()}")
    _global_flags(parser)
    parser.set_defaults(debug=False, threads=0)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, example) in COMMANDS.items():
        _add_command(sub, name, help_text, example, globals()[f"_args_{name.replace('-', '_')}"])
    return parser


def _add_command(sub: argparse._SubParsersAction, name: str, help_text: str, example: str,
                 add_args: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(name, help=help_text, description=help_text,
                       epilog=f"example:\n  {example}\n\n{EXIT_CODES}",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _global_flags(p)
    add_args(p)


def _version() -> str:
    try:
        return metadata.version("segdeploy")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def _model(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--model", required=required, help="model name (see `segdeploy models`)")


def _weights(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=existing_file, help="official .pth file (default: random weights)")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="allow a checkpoint that needs full unpickling (runs code from the file)")


def _args_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=output_dir, default=Path("demo_out"),
                   help="folder for the data (OUT/data) and the deployment with its report (OUT/deploy)")
    p.add_argument("--images", type=positive_int, default=20, help="synthetic val images scored")


def _args_deploy(p: argparse.ArgumentParser) -> None:
    _model(p)
    p.add_argument("--checkpoint", type=existing_file, required=True, help="the official .pth file to deploy")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="allow a checkpoint that needs full unpickling (runs code from the file)")
    p.add_argument("--data-root", type=existing_dir, required=True,
                   help="labelled dataset: accuracy of every engine, timing inputs, int8 calibration")
    p.add_argument("--split", default="val")
    p.add_argument("--images", type=positive_int, default=20, help="labelled images every engine is scored on")
    p.add_argument("--max-drop", type=nonnegative_float, default=0.5,
                   help="mIoU points a candidate may lose against PyTorch fp32 and still be deployed")
    p.add_argument("--engines", type=auto_or(engine_list), default=None,
                   help="auto (every engine: " + ", ".join(ENGINES) + ") or a comma-separated list; "
                        "PyTorch fp32 always runs as the reference")
    p.add_argument("--batch", type=auto_or(int_list), default=None, help="auto (1,2,4,8) or comma-separated sizes")
    p.add_argument("--time-budget", type=positive_float, default=10.0,
                   help="minutes for the search (accuracy passes and timed loops); later steps are skipped, "
                        "listed in the report, and run by --resume")
    p.add_argument("--out", type=output_dir, required=True,
                   help="new or empty folder: the artifact, deployment.json, report.{html,md,json}, search/, work/")
    p.add_argument("--calib-images", type=positive_int, default=8,
                   help="images of the split that are not scored, calibrating the int8 engines")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted deploy in OUT (refused if any setting changed)")
    _variant(p)


def _args_models(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-flops", action="store_true", help="skip counting GFLOPs (builds every model: slow)")


def _args_inspect_checkpoint(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=existing_file, help="the checkpoint (.pth)")
    _model(p)
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="allow a checkpoint that needs full unpickling (runs code from the file)")


def _args_preprocess(p: argparse.ArgumentParser) -> None:
    _model(p)
    p.add_argument("--data-root", type=existing_dir, required=True)
    p.add_argument("--split", default="val")
    p.add_argument("--out", type=output_dir, required=True, help="folder for the .bin files")
    p.add_argument("--info", type=output_file, help="the .info file (default: OUT.info; geometry in OUT.index.json)")
    _variant(p)
    _skip_bad(p)


def _variant(p: argparse.ArgumentParser) -> None:
    p.add_argument("--variant", help="the model's preprocessing variant (default: its first): fcn_r50_d8_voc "
                                     "guide-letterbox | mmseg-resize; segmenter windows; others whole")


def _skip_bad(p: argparse.ArgumentParser) -> None:
    p.add_argument("--skip-bad", action="store_true",
                   help="record unreadable images (and missing or mis-sized labels) in the summary and go on")


def _args_export(p: argparse.ArgumentParser) -> None:
    _model(p)
    _weights(p)
    p.add_argument("--out", type=output_file, help="the ONNX file to write (required unless --preflight)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--batch", type=positive_int, default=1, help="fixed batch size of the file")
    group.add_argument("--dynamic-batch", action="store_true", help="batch axis dynamic")
    p.add_argument("--dynamic-hw", action="store_true",
                   help="height and width dynamic: one file for every input size the model accepts (multiples "
                        "of its size divisor); proven against PyTorch at three sizes")
    p.add_argument("--input-size", type=size_arg, help="HxW (default: the model's, one window for sliding models)")
    p.add_argument("--simplify", action="store_true", help="run onnxslim on the exported graph")
    p.add_argument("--fuse-attention", action="store_true",
                   help="export at ONNX opset 23, where each attention is one Attention op (Segmenter: one "
                        "kernel per attention, and int8 calibration never holds the T x T scores)")
    p.add_argument("--preflight", action="store_true",
                   help="only report (printed before every export anyway): ops that freeze a shape and which "
                        "axis, ops the engine cannot run, estimated peak memory per batch size, file size; "
                        "writes nothing")
    p.add_argument("--engine", choices=VERIFY_ENGINES, default="onnxruntime",
                   help="the engine the preflight checks and the file is proven on (default: onnxruntime)")
    p.add_argument("--data-root", type=existing_dir,
                   help="prove the file on this dataset's images (default: random inputs)")
    p.add_argument("--split", default="val")
    p.add_argument("--images", type=positive_int, default=20, help="with --data-root: images to prove it on")
    _criteria(p)
    _fold_args(p)
    _variant(p)


def _fold_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fold-preprocess", action="store_true",
                   help="the file takes uint8 NHWC RGB pixels and normalises them itself (letterbox: pads too)")
    p.add_argument("--fold-argmax", action="store_true",
                   help="the file returns the int32 class map (whole and letterbox variants: the others need logits)")


def _criteria(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("verification criteria (all apply; a failure exits with code 3)")
    g.add_argument("--atol", type=nonnegative_float, default=DEFAULT_ATOL,
                   help=f"logits pass when |Δ| <= ATOL + RTOL·|PyTorch| at every value (default {DEFAULT_ATOL:g})")
    g.add_argument("--rtol", type=nonnegative_float, default=DEFAULT_RTOL, help=f"see --atol (default {DEFAULT_RTOL:g})")
    g.add_argument("--min-agreement", type=fraction, default=DEFAULT_MIN_AGREEMENT,
                   help=f"least share of pixels whose argmax class is PyTorch's (default {DEFAULT_MIN_AGREEMENT:g})")
    g.add_argument("--max-drop", type=nonnegative_float, default=DEFAULT_MAX_DROP,
                   help=f"with labels: most mIoU points the engine may lose vs PyTorch (default {DEFAULT_MAX_DROP:g})")


def _args_verify(p: argparse.ArgumentParser) -> None:
    _model(p)
    _weights(p)
    p.add_argument("--onnx", type=existing_file, required=True, help="the ONNX file the engine runs")
    p.add_argument("--engine", choices=VERIFY_ENGINES, default="onnxruntime", help="default: onnxruntime")
    p.add_argument("--data-root", type=existing_dir,
                   help="verify on this dataset's images through the model's preprocessing variant, with Δ "
                        "aAcc/mAcc/mIoU when it has labels (default: random N(0,1) inputs)")
    p.add_argument("--split", default="val")
    _variant(p)
    p.add_argument("--images", type=positive_int, default=20, help="images (or random inputs) to verify on (default 20)")
    p.add_argument("--input-size", type=size_arg,
                   help="random inputs: HxW (default: the file's fixed size, else the model's input)")
    p.add_argument("--batch", type=positive_int, default=1, help="random inputs: samples per engine call")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="random inputs: the generator's seed")
    _criteria(p)
    bisect = p.add_mutually_exclusive_group()
    bisect.add_argument("--bisect", action="store_true",
                        help="compare every intermediate ONNX value with PyTorch's and name the first beyond "
                             "--atol/--rtol, even when the check passes (it runs on every failure anyway)")
    bisect.add_argument("--no-bisect", action="store_true", help="do not bisect a failure")
    p.add_argument("--json", type=output_file, help="the result as JSON (default: ONNX file with .verify.json)")


def _engine_args(p: argparse.ArgumentParser) -> None:
    _weights(p)
    p.add_argument("--onnx", type=existing_file,
                   help="model file: ONNX (engines onnxruntime*, openvino*) or an OpenVINO IR .xml (openvino*)")
    p.add_argument("--engine", choices=INFER_ENGINES,
                   help="a precision of `segdeploy bench`'s catalogue run one request at a time (default: "
                        "onnxruntime with --onnx, else torch); torch-fp16 and onnxruntime-trt-* need CUDA")
    _device(p)
    p.add_argument("--trt-calibration", type=existing_file,
                   help="onnxruntime-trt-int8: the calibration table (calibration.flatbuffers from `segdeploy bench "
                        "--engine onnxruntime-trt-int8 --work-dir DIR`, under DIR)")


def _device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", type=device_arg, default="cpu",
                   help="cpu, cuda or cuda:N (cuda: ONNX Runtime's CUDA provider; under torchrun, cuda is each "
                        "process's cuda:LOCAL_RANK and the processes talk over nccl)")


def _dist_timeout(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dist-timeout", type=positive_float, default=30.0, metavar="MINUTES",
                   help="under torchrun: how long a process waits for the others where they meet (start, end) "
                        "before it gives up; at least the time the slowest process may lag")


def _args_infer(p: argparse.ArgumentParser) -> None:
    _model(p)
    _engine_args(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", type=existing_dir, help="folder of preprocessed .bin files")
    src.add_argument("--data-root", type=existing_dir, help="dataset root in its real layout")
    p.add_argument("--split", default="val")
    p.add_argument("--input-size", type=size_arg,
                   help="HxW of every .bin input (default: from INPUT.info, else the variant's input size)")
    p.add_argument("--info", type=existing_file, help="the guides' .info file giving each .bin's size (default: INPUT.info)")
    _variant(p)
    p.add_argument("--output", type=output_dir, required=True, help="parent folder of run folders")
    p.add_argument("--batch", type=positive_int, default=1, help="network inputs per engine call")
    p.add_argument("--torch-options", type=names_list(TORCH_OPTIONS), default=(), metavar="LIST",
                   help=f"torch engines: any of {','.join(TORCH_OPTIONS)} (what bench's torch-opt / torch-bf16 "
                        "tuning picked; deploy's infer line passes them)")
    p.add_argument("--outfmt", choices=("bin", "npy", "png"), default="bin")
    p.add_argument("--logits", action="store_true",
                   help="with --input: write float32 logits instead of int32 class maps (for variants that "
                        "post-process logits, e.g. mmseg-resize, windows)")
    p.add_argument("--resume", type=existing_dir, help="an earlier run folder (OUTPUT/<run>): finished images are "
                                                       "skipped (and scored from their files with --evaluate); "
                                                       "refused unless it was made with the same settings")
    p.add_argument("--evaluate", action="store_true",
                   help="with --data-root: score each prediction as it is written (end-to-end pipeline); "
                        "metrics also go to RUN/metrics.json")
    p.add_argument("--show-dir", type=output_dir,
                   help="with --data-root: write each prediction's palette blended over its image here "
                        "(<stem>.png, as mmseg's test tool)")
    p.add_argument("--opacity", type=fraction, help="--show-dir: weight of the palette colours, 0..1 (default 0.5)")
    _pipeline_workers(p)
    _skip_bad(p)
    _dist_timeout(p)


def _args_evaluate(p: argparse.ArgumentParser) -> None:
    _model(p)
    p.add_argument("--pred", type=existing_dir, required=True, help="prediction folder (ours or ais_bench's)")
    p.add_argument("--data-root", type=existing_dir, required=True)
    p.add_argument("--split", default="val")
    p.add_argument("--json", type=output_file, help="where to write the metrics JSON (default: PRED/metrics.json)")
    p.add_argument("--metric", choices=("mmseg", "cityscapes"), default="mmseg",
                   help="cityscapes: also run the official cityscapesscripts evaluator on the same predictions")
    p.add_argument("--reduce-zero-label", action="store_true",
                   help="as mmseg: label 0 is ignored and every other label moves down by one before scoring")
    p.add_argument("--plot", action="store_true",
                   help="also draw the confusion matrix: JSON_STEM_confusion.png beside the metrics JSON")
    _variant(p)
    _skip_bad(p)


def _args_bench(p: argparse.ArgumentParser) -> None:
    _model(p)
    _weights(p)
    p.add_argument("--onnx", type=existing_file, help="fp32 ONNX file for the ONNX engines (default: export the checkpoint)")
    p.add_argument("--engine", type=engine_list, help="comma-separated, side by side in one table: "
                   + ", ".join(ENGINES) + " (default: onnxruntime with --onnx, else torch)")
    _device(p)
    p.add_argument("--batch", type=int_list, default=[1], help="comma-separated batch sizes")
    p.add_argument("--warmup", type=nonnegative_int, default=5, help="untimed runs per engine and batch")
    p.add_argument("--loop", type=positive_int, default=100, help="timed runs per engine and batch")
    p.add_argument("--input-size", type=size_arg,
                   help="HxW (default: the model's; with --accuracy, the data's image size)")
    p.add_argument("--json", type=output_file, help="write the results as JSON here")
    p.add_argument("--work-dir", type=output_dir, default=Path("bench_out"),
                   help="exported, simplified and int8 files and ONNX Runtime's optimised graphs, reused")
    _calibration(p)
    p.add_argument("--accuracy", action="store_true",
                   help="also score every engine vs PyTorch fp32 on --data-root: the ladder fp32 ONNX, "
                        "simplified, int8")
    p.add_argument("--data-root", type=existing_dir, help="labelled dataset for --accuracy")
    p.add_argument("--split", default="val")
    p.add_argument("--images", type=positive_int, default=20, help="images scored by --accuracy")
    p.add_argument("--max-drop", type=nonnegative_float, default=0.5,
                   help="mIoU points an engine may lose vs PyTorch fp32 before it is marked failed; also the "
                        "budget of onnxruntime-int8-aware")
    p.add_argument("--fallback-split", help="split of --data-root onnxruntime-int8-aware keeps its budget on "
                                            "(default: --split, the scored images themselves)")
    p.add_argument("--e2e", action="store_true",
                   help="end to end on --data-root: read, decode, infer, post-process and score overlapped, "
                        "per-stage throughput, next to the same engine's pure inference")
    _dist_timeout(p)
    _pipeline_workers(p)
    _fold_args(p)
    _variant(p)


def _pipeline_workers(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=workers_arg, default=None, metavar="auto|threads:N|processes:N",
                   help="who reads and decodes ahead of the engine (default auto: sized from the first batch's "
                        "measured costs, processes where decoding holds the GIL; the run says why)")


def _calibration(p: argparse.ArgumentParser) -> None:
    p.add_argument("--calib-root", type=existing_dir, help="dataset for int8 calibration (default: synthetic scenes)")
    p.add_argument("--calib-split", default="train", help="its split (not the scored one: that would flatter int8)")
    p.add_argument("--calib-images", type=positive_int, default=8, help="int8 calibration images")
    p.add_argument("--calibration", choices=CALIBRATION_METHODS, default="minmax",
                   help="how activation ranges are chosen: min/max seen, entropy (KL), or the 99.999th percentile")


def _args_quantize(p: argparse.ArgumentParser) -> None:
    _model(p)
    p.add_argument("--onnx", type=existing_file, required=True, help="the fp32 ONNX file (from `segdeploy export`)")
    p.add_argument("--out", type=output_file, required=True, help="the int8 ONNX file to write")
    p.add_argument("--input-size", type=size_arg, help="HxW of calibration and validation images (default: the "
                                                       "file's static size)")
    _calibration(p)
    p.add_argument("--max-drop", type=nonnegative_float,
                   help="accuracy-aware: mIoU points the int8 file may lose vs the fp32 file on --data-root")
    p.add_argument("--data-root", type=existing_dir, help="labelled images for --max-drop")
    p.add_argument("--split", default="val")
    p.add_argument("--images", type=positive_int, default=20, help="validation images for --max-drop")
    p.add_argument("--group-size", type=nonnegative_int, default=0,
                   help="nodes put back in float per step (0: a tenth of the quantisable ones)")
    p.add_argument("--max-steps", type=positive_int, default=10, help="fallback steps at most")
    p.add_argument("--json", type=output_file, help="the fallback report (default: OUT with .fallback.json)")


def engine_list(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [n for n in names if n not in ENGINES]
    if names and not unknown:
        return list(dict.fromkeys(names))
    raise argparse.ArgumentTypeError(f"unknown engine(s) {', '.join(unknown) or text!r}; choose from "
                                     + ", ".join(ENGINES))


def _args_train(p: argparse.ArgumentParser) -> None:
    _model(p)
    p.add_argument("--data-root", type=existing_dir, required=True)
    p.add_argument("--work-dir", type=output_dir, required=True, help="checkpoints/, log.jsonl, latest.pth")
    recipe = p.add_argument_group("recipe overrides (default: the model's recipe in its spec)")
    recipe.add_argument("--split", help="training split; 'a+b' joins splits (VOC: train+aug)")
    recipe.add_argument("--val-split")
    recipe.add_argument("--iters", type=positive_int)
    recipe.add_argument("--batch-per-device", "--batch", dest="batch_per_device", type=positive_int,
                        help="images per process; the global batch is this x world size")
    recipe.add_argument("--crop", type=size_arg, help="random crop HxW")
    recipe.add_argument("--lr", type=positive_float)
    recipe.add_argument("--optimizer", choices=("adamw", "sgd"))
    recipe.add_argument("--eval-every", type=nonnegative_int, help="iterations between evaluations (0: none)")
    recipe.add_argument("--checkpoint-every", type=positive_int, help="iterations between resumable checkpoints")
    p.add_argument("--amp", action="store_true", help="bf16 autocast on CPU, fp16 + GradScaler on CUDA")
    p.add_argument("--resume", action="store_true", help="continue from the newest WORK_DIR/checkpoints file")
    p.add_argument("--sync-bn", action="store_true", help="BatchNorm over the global batch (CUDA)")
    p.add_argument("--perf", action="store_true", help="report images/s per device and in total")
    p.add_argument("--init-backbone", type=existing_file,
                   help="ImageNet-pretrained backbone in mmseg's layout (open-mmlab://resnet50_v1c)")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="allow an --init-backbone file that needs full unpickling (runs code from the file)")
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--log-every", type=positive_int, default=50)
    p.add_argument("--keep-checkpoints", type=positive_int, default=3)
    p.add_argument("--workers", type=nonnegative_int, default=2,
                   help="data loader processes per training process (0: load in the training process)")


def _args_data(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")
    for name, (help_text, example) in DATA_COMMANDS.items():
        _add_command(sub, name, help_text, example, globals()[f"_args_data_{name.replace('-', '_')}"])


def _workers(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=positive_int, default=min(8, os.cpu_count() or 1), help="worker processes")


def _args_data_voc_aug(p: argparse.ArgumentParser) -> None:
    p.add_argument("--voc", type=existing_dir, required=True, help="VOCdevkit/VOC2012")
    p.add_argument("--sbd", type=existing_dir, required=True, help="benchmark_RELEASE/dataset (cls/, train.txt, val.txt)")
    p.add_argument("--out", type=output_dir, help="mask folder (default: VOC/SegmentationClassAug, where readers look)")
    _workers(p)


def _args_data_cityscapes_trainids(p: argparse.ArgumentParser) -> None:
    p.add_argument("root", type=existing_dir, help="Cityscapes root (holding gtFine/)")
    _workers(p)


def _args_data_synthetic(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=output_dir, required=True, help="dataset root (Cityscapes layout)")
    p.add_argument("--split", default="val")
    p.add_argument("--count", type=positive_int, default=50)
    p.add_argument("--size", type=size_arg, default=(256, 512), help="HxW")
    p.add_argument("--seed", type=nonnegative_int, default=1)


if __name__ == "__main__":
    raise SystemExit(main())
