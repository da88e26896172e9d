"""Command line: parse arguments, build a config, call one library function, print the result."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from segdeploy.errors import SegdeployError, run_and_report

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (one-line help, example)
    "demo": ("the whole chain on the embedded synthetic dataset: data, export, infer x2, evaluate x2, bench, report",
             "segdeploy demo --out demo_out"),
    "models": ("list every model: params, GFLOPs, input size, dataset, reference metrics",
               "segdeploy models --no-flops"),
    "inspect-checkpoint": ("compare a checkpoint file with a model's official keys and shapes",
                           "segdeploy inspect-checkpoint best_model.pth --model fastscnn_cityscapes"),
    "preprocess": ("dataset images -> float32 NCHW .bin files + an .info file (the guides' preprocess step)",
                   "segdeploy preprocess --model fastscnn_cityscapes --data-root data/cityscapes --out bins/val"),
    "export": ("export a model to ONNX, check it and prove it in ONNX Runtime against PyTorch",
               "segdeploy export --model fastscnn_cityscapes --checkpoint best_model.pth --out fastscnn.onnx "
               "--dynamic-batch"),
    "infer": ("batch inference writing ais_bench-layout predictions (resumable)",
              "segdeploy infer --model fastscnn_cityscapes --onnx fastscnn.onnx --data-root data/cityscapes "
              "--output preds --batch 4"),
    "evaluate": ("score a prediction folder: aAcc, mAcc, mIoU and per-class IoU/Acc (mmseg definitions)",
                 "segdeploy evaluate --model fastscnn_cityscapes --pred preds/2026_11_21-10_00_00 "
                 "--data-root data/cityscapes"),
    "bench": ("pure-inference throughput and latency per batch size (the guides' --loop mode)",
              "segdeploy bench --onnx fastscnn.onnx --model fastscnn_cityscapes --batch 1,4 --warmup 5 --loop 100"),
    "train": ("train a model single-process (cross-entropy, aux heads, poly LR)",
              "segdeploy train --model fastscnn_cityscapes --data-root data/synth --work-dir runs/fastscnn "
              "--iters 2000 --batch 8 --crop 256x256"),
    "synthetic": ("write a deterministic synthetic street-scene dataset in the Cityscapes layout",
                  "segdeploy synthetic --out data/synth --split val --count 50 --size 256x512 --seed 1"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from segdeploy import commands

    handler = getattr(commands, args.command.replace("-", "_"))
    return run_and_report(lambda: handler(args), debug=args.debug)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="segdeploy", description="segdeploy: segmentation models "
                                     "from official checkpoints to a proven deployment.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default: torch's)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, example) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, epilog=f"example:\n  {example}",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        globals()[f"_args_{name.replace('-', '_')}"](p)
    return parser


def size_arg(text: str) -> tuple[int, int]:
    """`HxW` -> (H, W)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
        if h > 0 and w > 0:
            return h, w
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH like 512x1024, got {text!r}")


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
        if values and all(v > 0 for v in values):
            return values
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected positive integers like 1,4,8, got {text!r}")


def _model(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--model", required=required, help="model name (see `segdeploy models`)")


def _weights(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, help="official .pth file (default: random weights)")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="allow a checkpoint that needs full unpickling (runs code from the file)")


def _args_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("demo_out"), help="folder for data, models, predictions, report")
    p.add_argument("--images", type=int, default=20, help="synthetic val images")


def _args_models(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-flops", action="store_true", help="skip counting GFLOPs (builds every model: slow)")


def _args_inspect_checkpoint(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path)
    _model(p)
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="allow a checkpoint that needs full unpickling (runs code from the file)")


def _args_preprocess(p: argparse.ArgumentParser) -> None:
    _model(p)
    p.add_argument("--data-root", type=Path, required=True)
    p.add_argument("--split", default="val")
    p.add_argument("--out", type=Path, required=True, help="folder for the .bin files")
    p.add_argument("--info", type=Path, help="the .info file (default: OUT.info)")


def _args_export(p: argparse.ArgumentParser) -> None:
    _model(p)
    _weights(p)
    p.add_argument("--out", type=Path, required=True)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--batch", type=int, default=1, help="fixed batch size of the file")
    group.add_argument("--dynamic-batch", action="store_true", help="batch axis dynamic")
    p.add_argument("--input-size", type=size_arg, help="HxW (default: the model's, one window for sliding models)")
    p.add_argument("--simplify", action="store_true", help="run onnxslim on the exported graph")


def _engine_args(p: argparse.ArgumentParser) -> None:
    _weights(p)
    p.add_argument("--onnx", type=Path, help="ONNX file (engine onnxruntime)")
    p.add_argument("--engine", choices=("torch", "onnxruntime"), help="default: onnxruntime with --onnx, else torch")
    p.add_argument("--device", default="cpu", help="torch device, or cuda for ONNX Runtime's CUDA provider")


def _args_infer(p: argparse.ArgumentParser) -> None:
    _model(p)
    _engine_args(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", type=Path, help="folder of preprocessed .bin files")
    src.add_argument("--data-root", type=Path, help="dataset root in its real layout")
    p.add_argument("--split", default="val")
    p.add_argument("--input-size", type=size_arg, help="HxW of the .bin inputs (default: the model's)")
    p.add_argument("--output", type=Path, required=True, help="parent folder of run folders")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--outfmt", choices=("bin", "npy", "png"), default="bin")
    p.add_argument("--logits", action="store_true", help="also keep float32 logits as <stem>_1.npy")
    p.add_argument("--resume", type=Path, help="an earlier run folder: finished images are skipped")


def _args_evaluate(p: argparse.ArgumentParser) -> None:
    _model(p)
    p.add_argument("--pred", type=Path, required=True, help="prediction folder (ours or ais_bench's)")
    p.add_argument("--data-root", type=Path, required=True)
    p.add_argument("--split", default="val")
    p.add_argument("--json", type=Path, help="where to write the metrics JSON (default: PRED/metrics.json)")


def _args_bench(p: argparse.ArgumentParser) -> None:
    _model(p)
    _engine_args(p)
    p.add_argument("--batch", type=int_list, default=[1], help="comma-separated batch sizes")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--loop", type=int, default=100)
    p.add_argument("--input-size", type=size_arg, help="HxW (default: the model's)")
    p.add_argument("--json", type=Path, help="write the results as JSON here")


def _args_train(p: argparse.ArgumentParser) -> None:
    _model(p)
    p.add_argument("--data-root", type=Path, required=True)
    p.add_argument("--work-dir", type=Path, required=True)
    p.add_argument("--split", default="train")
    p.add_argument("--iters", type=int, default=2000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=size_arg, help="random crop HxW (default: whole images)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw")
    p.add_argument("--seed", type=int, default=0)


def _args_synthetic(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="dataset root (Cityscapes layout)")
    p.add_argument("--split", default="val")
    p.add_argument("--count", type=int, default=50)
    p.add_argument("--size", type=size_arg, default=(256, 512), help="HxW")
    p.add_argument("--seed", type=int, default=1)


if __name__ == "__main__":
    raise SystemExit(main())
