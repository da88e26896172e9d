"""One handler per CLI command: argparse namespace -> one library call -> printed tables."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from segdeploy.errors import SegdeployError
from segdeploy.models import MODELS, get_spec

# Piped output (logs, CI) gets wide tables instead of rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 160)


def demo(args: argparse.Namespace) -> int:
    from segdeploy.demo import DemoConfig, run_demo

    run_demo(DemoConfig(out=args.out, images=args.images), console)
    return 0


def models(args: argparse.Namespace) -> int:
    from segdeploy.reporting.zoo import models_table, zoo_rows

    console.print(models_table(zoo_rows(MODELS.values(), with_flops=not args.no_flops)))
    return 0


def inspect_checkpoint(args: argparse.Namespace) -> int:
    from segdeploy.checkpoints import (compare_keys, drop_ignored, manifest_shapes, print_key_report,
                                       read_state_dict)

    spec = get_spec(args.model)
    state = read_state_dict(args.file, trust=args.trust_checkpoint)
    ignored = sorted(set(state) & set(spec.ignored_checkpoint_keys))
    report = compare_keys(manifest_shapes(spec), drop_ignored(state, spec))
    params = sum(t.numel() for t in state.values())
    if report.ok:
        console.print(f"{args.file}: matches {spec.name} ({len(state)} tensors, {params:,} values"
                      + (f"; ignores unused {', '.join(ignored)}" if ignored else "") + ")")
        return 0
    print_key_report(report, title=f"{args.file} vs {spec.name}")
    raise SegdeployError.at(args.file, f"does not match model {spec.name}: {report.summary()} (table above)")


def preprocess(args: argparse.Namespace) -> int:
    from segdeploy.data.preprocess import preprocess_dataset

    result = preprocess_dataset(get_spec(args.model), args.data_root, args.split, args.out, args.info)
    console.print(f"wrote {result.written} .bin files ({result.already_done} already there) to {result.out_dir}; "
                  f"info file {result.info_path}")
    return 0


def export(args: argparse.Namespace) -> int:
    from segdeploy.export.onnx_export import MIN_ARGMAX_AGREEMENT, export_model

    path, parity = export_model(get_spec(args.model), args.out, args.checkpoint, args.trust_checkpoint,
                                batch=args.batch, dynamic_batch=args.dynamic_batch, input_hw=args.input_size,
                                simplify=args.simplify)
    console.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); onnx.checker: ok")
    console.print(f"ONNX Runtime vs PyTorch on {'x'.join(map(str, parity.input_shape))} random input: "
                  f"max |Δlogit| {parity.max_abs_diff:.3g}, argmax agreement {parity.argmax_agreement:.4%}")
    if not parity.passed:
        raise SegdeployError.at(path, f"argmax agreement {parity.argmax_agreement:.4%} is below "
                                      f"{MIN_ARGMAX_AGREEMENT:.1%}")
    return 0


def infer(args: argparse.Namespace) -> int:
    from segdeploy.inference.inputs import items_from_bins, items_from_dataset
    from segdeploy.inference.runner import InferConfig, run_inference
    from segdeploy.runtime.backend import make_backend

    spec = get_spec(args.model)
    items = (items_from_dataset(spec, args.data_root, args.split) if args.data_root is not None
             else items_from_bins(args.input, args.input_size or spec.input_size))
    backend = make_backend(spec, args.engine, args.onnx, args.checkpoint, args.trust_checkpoint, args.device)
    config = InferConfig(output=args.output, batch=args.batch, outfmt=args.outfmt, keep_logits=args.logits,
                         resume=args.resume)
    result = run_inference(spec, backend, items, config)
    console.print(f"{backend.name}: {result.written} images predicted, {result.skipped_done} already done, "
                  f"{result.images_per_second:.2f} img/s -> {result.run_dir}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from segdeploy.evaluation.evaluate import evaluate_folder
    from segdeploy.reporting.atomic import write_json_atomic
    from segdeploy.reporting.report import metrics_json
    from segdeploy.reporting.tables import metrics_table

    spec = get_spec(args.model)
    result = evaluate_folder(spec, args.pred, args.data_root, args.split)
    console.print(metrics_table(result.metrics, spec.classes, title=f"{spec.name}: {result.images} images"))
    out = args.json or args.pred / "metrics.json"
    write_json_atomic(out, metrics_json(result.metrics, spec.classes, images=result.images))
    console.print(f"metrics written to {out}")
    return 0


def bench(args: argparse.Namespace) -> int:
    from segdeploy.benchmark.timing import THROUGHPUT_DEFINITION, time_batches
    from segdeploy.export.onnx_export import default_input_hw
    from segdeploy.reporting.atomic import write_json_atomic
    from segdeploy.reporting.tables import bench_table
    from segdeploy.runtime.backend import make_backend

    spec = get_spec(args.model)
    backend = make_backend(spec, args.engine, args.onnx, args.checkpoint, args.trust_checkpoint, args.device)
    hw = args.input_size or backend.fixed_hw or default_input_hw(spec)
    timings = time_batches(backend, hw, args.batch, args.warmup, args.loop)
    unit = "windows" if spec.slide is not None else "images"
    console.print(bench_table(timings, title=f"{spec.name} @ {hw[0]}x{hw[1]}", unit=unit))
    console.print(THROUGHPUT_DEFINITION)
    if args.json:
        write_json_atomic(args.json, {"model": spec.name, "input_hw": hw, "unit": unit,
                                      "definition": THROUGHPUT_DEFINITION, "results": [t.to_json() for t in timings]})
    return 0


def train(args: argparse.Namespace) -> int:
    from segdeploy.training.train import TrainConfig, train as train_model

    config = TrainConfig(data_root=args.data_root, work_dir=args.work_dir, split=args.split, iters=args.iters,
                         batch=args.batch, crop=args.crop, lr=args.lr, optimizer=args.optimizer, seed=args.seed)
    path = train_model(get_spec(args.model), config)
    console.print(f"checkpoint written to {path}")
    return 0


def synthetic(args: argparse.Namespace) -> int:
    from segdeploy.data.synthetic import generate_cityscapes_like

    paths = generate_cityscapes_like(args.out, args.split, args.count, size=args.size, seed=args.seed)
    console.print(f"{len(paths)} images in {Path(args.out) / 'leftImg8bit' / args.split}")
    return 0
