"""Accuracy-aware int8: quantise, and keep the most sensitive nodes in float until Δ mIoU is within budget.

1. Static QDQ int8 of the whole graph (`quantize.py`), its calibration ranges cached.
2. Δ mIoU of that file vs the fp32 file on labelled validation images. Within budget: done.
3. Per-node sensitivity from ONNX Runtime's QDQ debugging tools (`qdq_loss_debug`): every
   activation of the fp32 and int8 graphs on a few validation images, each tensor's signal-to-
   quantisation-noise ratio (dB); a node's sensitivity is the SQNR it loses from its noisiest
   input to its output (the noise it adds, its weights' included).
4. Keep the `group_size` most sensitive nodes still quantised in float (re-quantised from the cached
   ranges, no second calibration), score again, and repeat until within budget or nothing is left.

Each step records what it cost: Δ mIoU, pixel agreement, images/s of the file at batch 1.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from segdeploy.benchmark.accuracy import prediction_metrics, reference_logits, score_engine
from segdeploy.benchmark.streams import time_streams
from segdeploy.errors import SegdeployError
from segdeploy.export.quantize import (
    Int8Settings,
    attention_matmuls,
    calibration_reader,
    is_transformer,
    op_types_to_quantize,
    preprocess_for_int8,
    quantize_prepared,
)
from segdeploy.models.spec import ModelSpec
from segdeploy.reporting.atomic import write_json_atomic
from segdeploy.runtime.onnxruntime_backend import OnnxRuntimeBackend


@dataclass(frozen=True)
class AccuracyAwareConfig:
    fp32: Path  # the exported fp32 ONNX file
    out: Path  # the int8 file to write (its report beside it, `.fallback.json`)
    max_drop: float = 0.5  # mIoU points the int8 file may lose vs the fp32 file
    calibration: str = "minmax"
    group_size: int = 0  # nodes put back in float per step; 0: a tenth of the quantised ones
    max_steps: int = 10
    sensitivity_images: int = 1  # validation images the per-node sensitivity is measured on
    time_loop: int = 3  # timed batch-1 runs per step, at least
    time_seconds: float = 0.5  # and at least this long: a few runs of a fast model are noise


@dataclass(frozen=True)
class FallbackStep:
    step: int
    added: tuple[str, ...]  # nodes put in float at this step
    float_nodes: int  # quantisable nodes in float so far
    d_mIoU: float  # points vs the fp32 file
    pixel_agreement: float
    images_per_s: float
    speed_vs_fp32: float

    def to_json(self) -> dict:
        return {"step": self.step, "added": list(self.added), "float_nodes": self.float_nodes,
                "d_mIoU": self.d_mIoU, "pixel_agreement": self.pixel_agreement,
                "images_per_s": self.images_per_s, "speed_vs_fp32": self.speed_vs_fp32}


@dataclass(frozen=True)
class AccuracyAwareResult:
    path: Path  # the int8 file written: the last step's
    within_budget: bool
    max_drop: float
    fp32_mIoU: float
    fp32_images_per_s: float
    quantisable_nodes: int
    steps: list[FallbackStep]
    float_nodes: tuple[str, ...]  # every node kept in float, most sensitive first
    sensitivity_db: dict[str, float] = field(default_factory=dict)  # node -> the SQNR it loses

    def to_json(self) -> dict:
        return {"path": str(self.path), "within_budget": self.within_budget, "max_drop": self.max_drop,
                "fp32_mIoU": self.fp32_mIoU, "fp32_images_per_s": self.fp32_images_per_s,
                "quantisable_nodes": self.quantisable_nodes, "float_nodes": list(self.float_nodes),
                "steps": [s.to_json() for s in self.steps],
                "sensitivity_db": self.sensitivity_db}


def quantize_accuracy_aware(spec: ModelSpec, config: AccuracyAwareConfig, calibration: Sequence[np.ndarray],
                            images: np.ndarray, labels: list[np.ndarray],
                            log: Callable[[str], None] = print) -> AccuracyAwareResult:
    """Write `config.out`: the int8 file with the fewest float nodes found within `config.max_drop`."""
    if len(images) == 0:
        raise SegdeployError.at(config.fp32, "accuracy-aware int8 needs labelled validation images")
    out = Path(config.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.stem}.") as tmp:
        tmp = Path(tmp)
        prepared = preprocess_for_int8(config.fp32, tmp / "prepared.onnx")
        cache = tmp / f"calibration_{config.calibration}.json"
        candidates = _quantisable_nodes(prepared)
        reference = OnnxRuntimeBackend(prepared, name="fp32")
        fp32_rate = _images_per_s(reference, images[:1], config)
        ref = reference_logits(spec, reference, images)
        base = prediction_metrics(spec, [r.argmax(1) for r in ref], labels)
        excluded: list[str] = []
        added: tuple[str, ...] = ()
        steps, ranked, sensitivity = [], None, {}
        while True:
            path = tmp / f"step{len(steps)}.onnx"
            quantize_prepared(prepared, path, calibration, Int8Settings(config.calibration, tuple(excluded)), cache,
                              source=config.fp32)
            engine = OnnxRuntimeBackend(path, name=f"int8 step {len(steps)}")
            scored = score_engine(spec, engine, images, labels, ref, base, config.max_drop)
            steps.append(_step(len(steps), added, excluded, scored, engine, images, config, fp32_rate))
            log(f"int8 step {steps[-1].step}: {len(excluded)} of {len(candidates)} nodes in float, "
                f"Δ mIoU {scored.d_mIoU:+.3f}, {steps[-1].images_per_s:.2f} images/s")
            remaining = [n for n in (ranked or candidates) if n not in excluded]
            if scored.passed or not remaining or len(steps) > config.max_steps:
                break
            if ranked is None:
                sensitivity = node_sensitivity(prepared, path, images[:config.sensitivity_images], tmp)
                ranked = sorted(candidates, key=lambda n: -sensitivity.get(n, 0.0))
                remaining = [n for n in ranked if n not in excluded]
            added = tuple(remaining[:config.group_size or max(1, math.ceil(len(candidates) / 10))])
            excluded += added
        path.replace(out)
    result = AccuracyAwareResult(out, scored.passed, config.max_drop, base.mIoU * 100, fp32_rate, len(candidates),
                                 steps, tuple(excluded), sensitivity)
    write_json_atomic(out.with_suffix(".fallback.json"), result.to_json())
    return result


def _step(index: int, added: tuple[str, ...], excluded: list[str], scored, engine: OnnxRuntimeBackend,
          images: np.ndarray, config: AccuracyAwareConfig, fp32_rate: float) -> FallbackStep:
    rate = _images_per_s(engine, images[:1], config)
    return FallbackStep(index, added, len(excluded), scored.d_mIoU, scored.pixel_agreement, rate, rate / fp32_rate)


def _quantisable_nodes(prepared: Path) -> list[str]:
    """The nodes the quantiser makes int8 (those it always keeps in float are no candidates)."""
    model = onnx.load(str(prepared), load_external_data=False)
    op_types = set(op_types_to_quantize(model))
    always_float = set(attention_matmuls(model)) if is_transformer(model) else set()
    return [n.name for n in model.graph.node if n.op_type in op_types and n.name not in always_float]


def _images_per_s(engine: OnnxRuntimeBackend, x: np.ndarray, config: AccuracyAwareConfig) -> float:
    """Images/s of the median call, over at least `time_loop` calls and `time_seconds`."""
    timing = time_streams([engine], x, warmup=1, seconds=config.time_seconds, min_calls=config.time_loop).timing
    return len(x) * 1000 / timing.p50_ms


def node_sensitivity(fp32: Path, qdq: Path, images: np.ndarray, work: Path) -> dict[str, float]:
    """Node name -> the quantisation noise it adds (dB), from ORT's qdq_loss_debug tools on `images`.

    The tools save every intermediate tensor of both graphs (run one image at a time: a run keeps
    them all); a tensor's signal-to-quantisation-noise ratio is the int8 graph's value against the
    fp32 graph's. A node adds the SQNR lost from its noisiest input, as the int8 graph feeds it
    (dequantised), to its output as its consumers read it (after its own QDQ pair, if any).
    """
    from onnxruntime.quantization.qdq_loss_debug import (  # 0.8 s: only for accuracy-aware int8
        collect_activations,
        compute_signal_to_quantization_noice_ratio,
        modify_model_output_intermediate_tensors,
    )

    augmented_fp32, augmented_qdq = work / "fp32_saving.onnx", work / "qdq_saving.onnx"
    modify_model_output_intermediate_tensors(str(fp32), str(augmented_fp32))
    modify_model_output_intermediate_tensors(str(qdq), str(augmented_qdq))
    float_graph = onnx.load(str(fp32), load_external_data=False).graph
    qdq_nodes = {n.name: n for n in onnx.load(str(qdq), load_external_data=False).graph.node}
    losses: dict[str, list[float]] = {}
    for image in images:
        reader = [image[None]]
        f = collect_activations(str(augmented_fp32), calibration_reader(float_graph.input[0].name, reader))
        q = collect_activations(str(augmented_qdq), calibration_reader(float_graph.input[0].name, reader))

        def sqnr(float_name: str, qdq_name: str) -> float | None:
            if float_name not in f or qdq_name not in q or f[float_name][0].shape != q[qdq_name][0].shape:
                return None
            return compute_signal_to_quantization_noice_ratio(f[float_name], q[qdq_name])

        for node in float_graph.node:
            twin = qdq_nodes.get(node.name)
            if twin is None:
                continue
            ins = [v for v in map(sqnr, node.input, twin.input) if v is not None]
            outs = [v for v in (sqnr(o, _consumed(o, q)) for o in twin.output) if v is not None]
            if ins and outs:
                losses.setdefault(node.name, []).append(max(0.0, min(ins) - min(outs)))
    return {name: float(np.mean(v)) for name, v in losses.items()}


def _consumed(tensor: str, activations: dict) -> str:
    """The name consumers read `tensor` under in a QDQ graph: its dequantised copy where there is one."""
    dequantised = f"{tensor}_DequantizeLinear_Output"
    return dequantised if dequantised in activations else tensor
