"""One handler per CLI command: argparse namespace -> one library call -> printed tables."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shlex
import sys
import tempfile
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

from rich.console import Console

from segdeploy.benchmark.accuracy import labelled_images
from segdeploy.benchmark.artifacts import calibration_batches
from segdeploy.benchmark.compare import (
    THROUGHPUT_NOTE,
    BenchConfig,
    bench_input_hw,
    onnx_static_hw,
    run_accuracy,
    run_bench,
)
from segdeploy.benchmark.e2e import run_e2e
from segdeploy.checkpoints import (
    compare_keys,
    drop_ignored,
    manifest_shapes,
    print_key_report,
    read_state_dict,
)
from segdeploy.data.cityscapes_trainids import write_train_ids
from segdeploy.data.preprocess import preprocess_dataset
from segdeploy.data.synthetic import generate_cityscapes_like
from segdeploy.data.variants import default_input_hw, get_variant
from segdeploy.data.voc_aug import convert_voc_aug
from segdeploy.demo import DemoConfig, run_demo
from segdeploy.deploy.candidates import AUTO_BATCHES
from segdeploy.deploy.run import DeployConfig, run_deploy
from segdeploy.deploy.summary import print_summary
from segdeploy.distributed import process_group
from segdeploy.errors import GateFailed, SegdeployError
from segdeploy.evaluation.confusion import ConfusionMatrix
from segdeploy.evaluation.evaluate import evaluate_folder, save_confusion
from segdeploy.evaluation.metrics import segmentation_metrics
from segdeploy.export.accuracy_aware import AccuracyAwareConfig, quantize_accuracy_aware
from segdeploy.export.fold import export_folded
from segdeploy.export.onnx_export import ATTENTION_OPSET, OPSET, ExportShape
from segdeploy.export.onnx_export import default_input_hw as default_export_hw
from segdeploy.export.quantize import Int8Settings, quantize_int8
from segdeploy.export.run import ExportConfig, check_export_shape, export_model
from segdeploy.inference.identity import bin_inputs, dataset_inputs, infer_fingerprint
from segdeploy.inference.inputs import items_from_bins, items_from_dataset
from segdeploy.inference.runner import InferConfig, run_inference
from segdeploy.inference.show import DEFAULT_OPACITY, write_overlays
from segdeploy.inference.workers import WorkerPlan
from segdeploy.models import MODELS, build_model, get_spec
from segdeploy.reporting.atomic import write_json_atomic
from segdeploy.reporting.report import metrics_json, nan_to_null
from segdeploy.reporting.tables import (
    accuracy_ladder_table,
    class_delta_table,
    e2e_ranks_table,
    e2e_stage_table,
    e2e_table,
    engines_table,
    fallback_table,
    metrics_table,
    official_table,
    ranks_table,
)
from segdeploy.reporting.verify_tables import (
    bisect_table,
    preflight_table,
    verify_metrics_table,
    verify_table,
)
from segdeploy.reporting.zoo import models_table, zoo_rows
from segdeploy.runtime.device import require_device
from segdeploy.runtime.engine import make_backend
from segdeploy.runtime.engine_io import engine_io
from segdeploy.training.run import TrainConfig
from segdeploy.training.train import train as train_model
from segdeploy.verify.criteria import DEFAULT_MIN_AGREEMENT, Criteria
from segdeploy.verify.run import VerifyConfig, VerifyResult, verify_engine

# Piped output (logs, CI) gets wide tables instead of rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 160)


def demo(args: argparse.Namespace) -> int:
    run_demo(DemoConfig(out=args.out, images=args.images), console)
    return 0


def deploy(args: argparse.Namespace) -> int:
    config = DeployConfig(model=args.model, checkpoint=args.checkpoint, data_root=args.data_root, out=args.out,
                          split=args.split, images=args.images, max_drop=args.max_drop,
                          engines=tuple(args.engines) if args.engines else None,
                          batches=tuple(args.batch) if args.batch else AUTO_BATCHES, time_budget_min=args.time_budget,
                          variant=args.variant, trust=args.trust_checkpoint, resume=args.resume,
                          calib_images=args.calib_images,
                          command_line=tuple(args.command_line))
    result = run_deploy(config, log=console.print)
    print_summary(console, result)
    if result.chosen is None:
        raise GateFailed.at("--max-drop", f"no candidate stayed within {args.max_drop:g} mIoU points of PyTorch fp32 "
                                          f"(table above; report {result.report.html})")
    return 0


def models(args: argparse.Namespace) -> int:
    console.print(models_table(zoo_rows(MODELS.values(), with_flops=not args.no_flops)))
    return 0


def inspect_checkpoint(args: argparse.Namespace) -> int:
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
    result = preprocess_dataset(get_spec(args.model), args.data_root, args.split, args.out, args.info,
                                variant=args.variant, skip_bad=args.skip_bad)
    removed = f", {result.removed} stale input files removed" if result.removed else ""
    console.print(f"{result.written} images preprocessed ({result.already_done} unchanged and already there"
                  f"{removed}) into {result.out_dir}; info file {result.info_path}, geometry {result.index_path}")
    _print_skipped(result.skipped, f"listed in {result.index_path}")
    return 0


def _print_skipped(skipped: list[dict[str, str]], where: str) -> None:
    """Name every skipped file on one line each, so a --skip-bad run never hides what it left out."""
    if skipped:
        console.print(f"[yellow]skipped {len(skipped)} bad file(s), {where}:")
        for entry in skipped:
            console.print(f"  {entry['error']}", markup=False, highlight=False)


def export(args: argparse.Namespace) -> int:
    spec = get_spec(args.model)
    folding = args.fold_preprocess or args.fold_argmax
    if args.variant is not None and not (folding or args.data_root is not None):
        raise SegdeployError.at("--variant", "only shapes a folded file or the --data-root check: add "
                                             "--fold-preprocess / --fold-argmax, or --data-root")
    if args.out is None and not args.preflight:
        raise SegdeployError.at("--out", "is required (only --preflight writes nothing)")
    if folding:
        return _export_folded(args, spec)
    shape = ExportShape(args.batch, *(args.input_size or default_export_hw(spec)), dynamic_batch=args.dynamic_batch,
                        dynamic_hw=args.dynamic_hw, size_divisor=spec.size_divisor)
    check_export_shape(spec, shape)  # a usage error before the warning and the minutes of exporting
    _warn_random_weights(spec, args.checkpoint)
    model = build_model(spec, args.checkpoint, args.trust_checkpoint)
    check = VerifyConfig(criteria=_criteria(args), data_root=args.data_root, split=args.split, variant=args.variant,
                         images=args.images)
    config = ExportConfig(out=args.out, shape=shape, simplify=args.simplify, engine=args.engine,
                          opset=ATTENTION_OPSET if args.fuse_attention else OPSET, preflight_only=args.preflight,
                          check=check)
    result = export_model(spec, model, config, make_engine=lambda name, path: make_backend(spec, name, path, None),
                          on_preflight=lambda preflight: console.print(preflight_table(preflight)))
    if result.path is None:
        return 0
    console.print(f"wrote {result.path} ({result.path.stat().st_size / 1e6:.1f} MB); onnx.checker: ok")
    return _report_verification(result.verification, result.path)


def verify(args: argparse.Namespace) -> int:
    spec = get_spec(args.model)
    for flag, given in (("--input-size", args.input_size is not None), ("--batch", args.batch != 1)):
        if given and args.data_root is not None:
            raise SegdeployError.at(flag, "is for random inputs; with --data-root the variant sizes the inputs")
    out = args.json or args.onnx.with_suffix(".verify.json")
    if not os.access(out.parent, os.W_OK):
        raise SegdeployError.at(out, "cannot write the result here; pass --json PATH")
    _warn_random_weights(spec, args.checkpoint)
    model = build_model(spec, args.checkpoint, args.trust_checkpoint)
    engine = make_backend(spec, args.engine, args.onnx, None)
    config = VerifyConfig(criteria=_criteria(args), data_root=args.data_root, split=args.split, variant=args.variant,
                          images=args.images, random_sizes=(args.input_size,) if args.input_size else (),
                          batch=args.batch, seed=args.seed, onnx=args.onnx,
                          bisect="always" if args.bisect else "never" if args.no_bisect else "on-failure")
    result = verify_engine(spec, model, engine, config)
    write_json_atomic(out, result.to_json())
    return _report_verification(result, args.onnx, written=out)


def _criteria(args: argparse.Namespace) -> Criteria:
    return Criteria(atol=args.atol, rtol=args.rtol, min_agreement=args.min_agreement, max_drop=args.max_drop)


def _report_verification(result: VerifyResult, onnx: Path, written: Path | None = None) -> int:
    """Print the verification's tables (and its bisect); exit code 3 (GateFailed) when it failed."""
    console.print(verify_table(result))
    for failure in result.failures:
        console.print(f"[red]failed:[/red] {failure}", highlight=False)
    if result.metrics is not None:
        console.print(verify_metrics_table(result))
    if result.bisect is not None:
        console.print(bisect_table(result.bisect))
    if result.bisect_note:
        console.print(result.bisect_note, highlight=False)
    if written is not None:
        console.print(f"result written to {written}")
    if not result.passed:
        more = f" (and {len(result.failures) - 1} more)" if len(result.failures) > 1 else ""
        raise GateFailed.at(onnx, f"verification failed: {result.failures[0]}{more}; tables above")
    return 0


def _export_folded(args: argparse.Namespace, spec) -> int:
    """A folded file (uint8 pixels in and/or a class map out) has its own ONNX Runtime check."""
    for flag, given in (("--dynamic-hw", args.dynamic_hw), ("--preflight", args.preflight),
                        ("--data-root", args.data_root is not None), ("--engine", args.engine != "onnxruntime"),
                        ("--fuse-attention", args.fuse_attention)):
        if given:
            raise SegdeployError.at(flag, "does not apply to a folded file (--fold-preprocess / --fold-argmax)")
    path, parity, plan = export_folded(spec, args.out, args.variant, args.fold_preprocess, args.fold_argmax,
                                       args.checkpoint, args.trust_checkpoint, batch=args.batch,
                                       dynamic_batch=args.dynamic_batch, input_hw=args.input_size,
                                       simplify=args.simplify)
    _warn_random_weights(spec, args.checkpoint)  # after export_folded's own usage checks
    console.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); onnx.checker: ok; variant {plan.variant}: "
                  f"{plan.io.describe()}")
    delta = "class maps" if math.isnan(parity.max_abs_diff) else f"max |Δlogit| {parity.max_abs_diff:.3g},"
    console.print(f"ONNX Runtime vs PyTorch on {'x'.join(map(str, parity.input_shape))} random input: "
                  f"{delta} argmax agreement {parity.argmax_agreement:.4%}")
    if not parity.passed:
        raise GateFailed.at(path, f"argmax agreement {parity.argmax_agreement:.4%} is below "
                                  f"{DEFAULT_MIN_AGREEMENT:.1%}")
    return 0


def _warn_random_weights(spec, checkpoint: Path | None) -> None:
    """One loud line: numbers from random weights say nothing about the trained model."""
    if checkpoint is None:
        Console(stderr=True, soft_wrap=True).print(
            f"[bold yellow]segdeploy: warning: no --checkpoint: {spec.name} runs with RANDOM weights; its outputs "
            "say nothing about the trained model", highlight=False)


def infer(args: argparse.Namespace) -> int:
    spec = get_spec(args.model)
    if args.evaluate and args.data_root is None:
        raise SegdeployError.at("--evaluate", "needs --data-root (labels are read from the dataset)")
    if args.show_dir is not None and args.data_root is None:
        raise SegdeployError.at("--show-dir", "needs --data-root (the overlays are drawn on the dataset's images)")
    if args.opacity is not None and args.show_dir is None:
        raise SegdeployError.at("--opacity", "only applies to --show-dir DIR")
    variant = get_variant(spec, args.variant)
    if args.data_root is not None and args.logits:
        raise SegdeployError.at("--logits", "needs --input: with --data-root the variant's post-process "
                                            "runs here and writes class maps at label resolution")
    if args.onnx is None:
        _warn_random_weights(spec, args.checkpoint)
    with process_group(args.device, timedelta(minutes=args.dist_timeout)) as info:  # 1 process without torchrun
        backend = make_backend(spec, args.engine, args.onnx, args.checkpoint, args.trust_checkpoint, str(info.device),
                               threads=args.threads or None, trt_calibration=args.trt_calibration,
                               trt_cache=args.output / "tensorrt_engines", torch_options=args.torch_options)
        items, inputs, run_variant = _infer_items(args, spec, variant, engine_io(backend))
        config = InferConfig(output=args.output, batch=args.batch, outfmt=args.outfmt, keep_logits=args.logits,
                             resume=args.resume, skip_bad=args.skip_bad)
        # --device as given, not this rank's cuda:N: a run resumes with any number of processes
        engine = "+".join((backend.name, *args.torch_options))  # the options change torch's rounding
        fingerprint = infer_fingerprint(spec.name, engine, args.device, args.checkpoint, args.onnx, run_variant,
                                        args.outfmt, args.logits, args.batch, inputs, items)
        confusion = ConfusionMatrix(spec.num_classes) if args.evaluate else None
        result = run_inference(spec, backend, items, config, fingerprint, confusion=confusion,
                               workers=_worker_plan(args.workers), info=info)
    if info.is_main:  # under torchrun every process returns here with the totals
        _report_inference(spec, variant.name, backend.name, items, result, confusion)
        if args.show_dir is not None:  # rank 0 draws every image's overlay from the files
            opacity = DEFAULT_OPACITY if args.opacity is None else args.opacity
            written = write_overlays(spec, items, result.run_dir, result.outputs, args.show_dir, opacity)
            console.print(f"{written} overlays (opacity {opacity:g}) written to {args.show_dir}")
    return 0


def _infer_items(args: argparse.Namespace, spec, variant, io) -> tuple[list, str, str | None]:
    """The items to predict, where they come from (for the fingerprint), and the variant run in-process."""
    if args.data_root is not None:
        items = items_from_dataset(spec, args.data_root, args.split, variant.name, io)
        return items, dataset_inputs(args.data_root, args.split), variant.name
    if io.pixels:
        raise SegdeployError.at("--input", f"holds normalised float32 .bin files, but {args.onnx} takes uint8 "
                                           "pixels (exported with --fold-preprocess): pass --data-root")
    default_hw = default_input_hw(spec, variant)
    items = items_from_bins(args.input, args.input_size, args.info, default_hw)
    return items, bin_inputs(args.input, args.input_size, args.info, default_hw), None


def _report_inference(spec, variant: str, engine: str, items, result, confusion: ConfusionMatrix | None) -> None:
    console.print(f"{engine}: {result.written} images predicted, {result.skipped_done} already done, "
                  f"{result.images_per_second:.2f} img/s -> {result.run_dir}")
    if len(result.ranks) > 1:
        console.print(ranks_table(result.ranks, title=f"{len(result.ranks)} processes"))
    if result.pipeline is not None and result.pipeline.items:
        lines = result.pipeline.lines() if len(result.ranks) < 2 else ["rank 0:", *result.pipeline.lines()]
        console.print("\n".join(lines), markup=False, highlight=False)
    if confusion is not None:
        scored = sum(1 for item in items if item.label is not None and item.stem in result.outputs)
        metrics = segmentation_metrics(confusion)
        resumed = f" ({result.skipped_done} read back from the files of the resumed run)" if result.skipped_done else ""
        title = f"{spec.name}: {scored} images scored{resumed}"
        console.print(metrics_table(metrics, spec.classes, title=title))
        out = result.run_dir / "metrics.json"
        write_json_atomic(out, metrics_json(metrics, spec.classes, images=scored, images_total=len(items),
                                            variant=variant, skipped=result.skipped,
                                            confusion_matrix=confusion.to_json()))
        console.print(f"metrics written to {out}")
    _print_skipped(result.skipped, f"listed in {result.run_dir}_summary.json")


def evaluate(args: argparse.Namespace) -> int:
    spec = get_spec(args.model)
    result = evaluate_folder(spec, args.pred, args.data_root, args.split, variant=args.variant,
                             skip_bad=args.skip_bad, official=args.metric == "cityscapes",
                             reduce_zero_label=args.reduce_zero_label)
    covered = f"{result.images} of {result.total} images" if result.skipped else f"{result.images} images"
    console.print(f"{spec.name}, variant {result.variant}: scored {covered} of {args.data_root} {args.split}")
    console.print(metrics_table(result.metrics, spec.classes, title=f"{spec.name}: {covered}"))
    extra = {"images": result.images, "images_total": result.total, "variant": result.variant,
             "reduce_zero_label": args.reduce_zero_label, "skipped": result.skipped,
             "confusion_matrix": result.confusion.to_json()}
    if result.official is not None:

        console.print(official_table(result.metrics, result.official, spec.classes))
        extra["cityscapes_official"] = nan_to_null(asdict(result.official))
    out = args.json or args.pred / "metrics.json"
    write_json_atomic(out, metrics_json(result.metrics, spec.classes, **extra))
    _print_skipped(result.skipped, f"listed in {out}")
    saved = save_confusion(result.confusion, spec.classes, out.with_name(f"{out.stem}_confusion"), plot=args.plot,
                           title=f"{spec.name}: {covered} of {args.split}")
    console.print(f"metrics written to {out}; confusion matrix (rows label, columns prediction, last row/column "
                  f"out of range) in {out.name} and {', '.join(str(p) for p in saved)}")
    return 0


def bench(args: argparse.Namespace) -> int:
    spec = get_spec(args.model)
    for flag, wanted in (("--accuracy", args.accuracy), ("--e2e", args.e2e)):
        if wanted and args.data_root is None:
            raise SegdeployError.at(flag, "needs --data-root ROOT (labelled images to run the engines on)")
    engines = tuple(args.engine or ["onnxruntime" if args.onnx is not None else "torch"])
    require_device(args.device, list(engines))  # before the minutes of exporting and timing
    if args.onnx is None or args.accuracy or any(e.startswith("torch") for e in engines):
        _warn_random_weights(spec, args.checkpoint)
    config = BenchConfig(engines=engines, batches=tuple(args.batch), warmup=args.warmup, loop=args.loop,
                         checkpoint=args.checkpoint, trust=args.trust_checkpoint, onnx=args.onnx, device=args.device,
                         work_dir=args.work_dir, calib_root=args.calib_root, calib_split=args.calib_split,
                         calib_images=args.calib_images, calibration=args.calibration, split=args.split,
                         fallback_root=args.data_root, fallback_split=args.fallback_split or args.split,
                         fallback_images=args.images, max_drop=args.max_drop)
    config = bench_input_hw(spec, config, args.input_size,
                            args.data_root if args.accuracy or args.e2e else None)
    if args.e2e:
        return _bench_e2e(spec, config, args)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise SegdeployError.at("torchrun", "bench times one process; several share a dataset with --e2e")
    for flag, given in (("--fold-preprocess", args.fold_preprocess), ("--fold-argmax", args.fold_argmax),
                        ("--variant", args.variant is not None), ("--workers", args.workers is not None)):
        if given:
            raise SegdeployError.at(flag, "applies to --e2e runs only")
    report = run_bench(spec, config, log=console.print)
    hw = report.input_hw
    console.print(engines_table(report, title=f"{spec.name} @ {hw[0]}x{hw[1]} ({report.gflops_per_sample:.1f} "
                                              f"GFLOPs per {report.unit[:-1]}, fp32 matmul peak "
                                              f"{report.peak.gflops:.0f} GFLOP/s)"))
    console.print(THROUGHPUT_NOTE, highlight=False)
    for row in {r.timing.engine: r for r in report.rows if r.detail}.values():
        console.print(f"  {row.timing.engine}: {row.detail}", highlight=False)
    result = {"command": shlex.join(args.command_line), **report.to_json()}
    _print_fallback(config, report.rows, result)
    if args.accuracy:
        accuracy = run_accuracy(spec, config, args.data_root, hw, args.max_drop, args.images, report.torch_options,
                                log=console.print)
        title = f"accuracy gate: {accuracy.images} {args.split} images of {args.data_root}, Δ in points vs torch fp32"
        console.print(accuracy_ladder_table(accuracy, title=title))
        console.print(class_delta_table(accuracy, spec.classes, title="per-class Δ IoU (points)"))
        result["accuracy"] = accuracy.to_json(spec.classes)
    if args.json:
        write_json_atomic(args.json, result)
        console.print(f"results written to {args.json}")
    if args.accuracy and accuracy.failed():
        raise GateFailed.at("--max-drop", f"{', '.join(accuracy.failed())} lost more than {args.max_drop:g} "
                                              "mIoU points against PyTorch fp32 (table above)")
    return 0


def _print_fallback(config: BenchConfig, rows, result: dict) -> None:
    """The accuracy-aware int8 file's fallback steps, when it ran (its report sits beside the file)."""
    ran = [r for r in rows if r.timing.engine == "onnxruntime-int8-aware" and r.timing.status == "ok"]
    if not ran:
        return
    report = config.work_dir / ran[0].detail
    fallback = json.loads(report.with_suffix(".fallback.json").read_text())
    console.print(fallback_table(fallback, title=f"accuracy-aware int8: fallback steps ({report.name})"))
    result["fallback"] = fallback


def quantize(args: argparse.Namespace) -> int:
    spec = get_spec(args.model)
    hw = args.input_size or onnx_static_hw(args.onnx)
    if hw is None:
        raise SegdeployError.at("--input-size", f"{args.onnx} has a dynamic input size: pass --input-size HxW")
    with tempfile.TemporaryDirectory(prefix="segdeploy-calibration-") as synthetic:  # without --calib-root
        calibration = calibration_batches(spec, hw, args.calib_images, args.calib_root, args.calib_split,
                                          Path(synthetic))
    if args.max_drop is None:
        quantize_int8(args.onnx, args.out, calibration, Int8Settings(args.calibration))
        console.print(f"int8 ({args.calibration}, {len(calibration)} calibration images) written to {args.out}")
        return 0
    if args.data_root is None:
        raise SegdeployError.at("--max-drop", "needs --data-root ROOT (labelled images to keep the budget on)")
    images, labels = labelled_images(spec, args.data_root, args.split, hw, args.images)
    config = AccuracyAwareConfig(args.onnx, args.out, max_drop=args.max_drop, calibration=args.calibration,
                                 group_size=args.group_size, max_steps=args.max_steps)
    result = quantize_accuracy_aware(spec, config, calibration, images, labels, log=console.print)
    report = result.to_json()
    console.print(fallback_table(report, title=f"accuracy-aware int8 on {len(images)} {args.split} images of "
                                               f"{args.data_root}, Δ vs the fp32 file"))
    if args.json:
        write_json_atomic(args.json, report)
    console.print(f"int8 written to {result.path}; fallback report {args.json or result.path.with_suffix('.fallback.json')}")
    if not result.within_budget:
        raise GateFailed.at("--max-drop", f"still {-result.steps[-1].d_mIoU:.3f} mIoU points below the fp32 file with "
                                          f"{len(result.float_nodes)} of {result.quantisable_nodes} nodes in float")
    return 0


def _bench_e2e(spec, config, args: argparse.Namespace) -> int:
    with process_group(args.device, timedelta(minutes=args.dist_timeout)) as info:  # 1 process without torchrun
        config = dataclasses.replace(config, device=str(info.device), show_progress=info.is_main)
        rows = run_e2e(spec, config, args.data_root, args.variant, args.fold_preprocess, args.fold_argmax,
                       workers=_worker_plan(args.workers), log=console.print if info.is_main else lambda _: None,
                       info=info)
    if not info.is_main:
        return 0
    for row in rows:
        console.print(f"{row.engine}, batch {row.batch} ({row.engine_io}):", highlight=False)
        console.print("\n".join("  " + line for line in row.pipeline.lines()), markup=False, highlight=False)
        console.print(e2e_stage_table(row.pipeline, title=f"{row.engine}, batch {row.batch}: stages"))
    console.print(e2e_table(rows, title=f"{spec.name}: end to end vs pure inference, {config.input_hw[0]}x"
                                        f"{config.input_hw[1]} images, {args.data_root}"))
    if info.world_size > 1:
        console.print(e2e_ranks_table(rows, title=f"{info.world_size} processes: images/s of each and of all"))
    if args.json:
        write_json_atomic(args.json, {"model": spec.name, "world_size": info.world_size,
                                      "e2e": [row.to_json() for row in rows]})
    return 0


def _worker_plan(workers: tuple[str, int] | None) -> WorkerPlan | None:
    return None if workers is None else WorkerPlan(workers[0], workers[1], "--workers")


def train(args: argparse.Namespace) -> int:
    spec = get_spec(args.model)
    overrides = {"train_split": args.split, "val_split": args.val_split, "iters": args.iters,
                 "batch_per_device": args.batch_per_device, "crop": args.crop, "lr": args.lr,
                 "optimizer": args.optimizer, "eval_every": args.eval_every,
                 "checkpoint_every": args.checkpoint_every}
    recipe = dataclasses.replace(spec.train_recipe, **{k: v for k, v in overrides.items() if v is not None})
    config = TrainConfig(data_root=args.data_root, work_dir=args.work_dir, recipe=recipe, amp=args.amp,
                         resume=args.resume, sync_bn=args.sync_bn, perf=args.perf,
                         init_backbone=args.init_backbone, trust_checkpoint=args.trust_checkpoint,
                         seed=args.seed, log_every=args.log_every, keep_checkpoints=args.keep_checkpoints,
                         workers=args.workers)
    path = train_model(spec, config)
    if os.environ.get("RANK", "0") == "0":  # under torchrun every process returns here
        console.print(f"weights (official keys, for infer/export) written to {path}")
    return 0


def data_voc_aug(args: argparse.Namespace) -> int:
    result = convert_voc_aug(args.voc, args.sbd, args.out, workers=args.workers)
    console.print(f"{result.converted} SBD masks converted ({result.already_done} already there) into {result.out_dir}")
    console.print(f"{result.trainaug}: {result.trainaug_ids} ids (10,582 on the full data sets); "
                  f"{result.aug}: {result.aug_ids} ids (9,118)")
    return 0


def data_cityscapes_trainids(args: argparse.Namespace) -> int:
    result = write_train_ids(args.root, workers=args.workers)
    console.print(f"{result.converted} *_gtFine_labelTrainIds.png written ({result.already_done} already there) "
                  f"under {Path(args.root) / 'gtFine'}")
    return 0


def data_synthetic(args: argparse.Namespace) -> int:
    paths = generate_cityscapes_like(args.out, args.split, args.count, size=args.size, seed=args.seed)
    console.print(f"{len(paths)} images in {Path(args.out) / 'leftImg8bit' / args.split}")
    return 0
