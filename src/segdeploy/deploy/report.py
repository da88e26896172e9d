"""The deploy report: `report.json` (everything, for scripts), `report.md`, and one self-contained
`report.html` with the plots embedded (opens offline); the plots are also written to `plots/*.png`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segdeploy.data.datasets import read_label
from segdeploy.data.images import read_rgb
from segdeploy.deploy.accuracy import ScoredSet, class_map
from segdeploy.deploy.candidates import CandidateResult, pareto_front
from segdeploy.deploy.search import SearchResult
from segdeploy.models.spec import ModelSpec
from segdeploy.reporting import html, plots
from segdeploy.reporting.atomic import write_bytes_atomic, write_json_atomic, write_text_atomic
from segdeploy.reporting.colour import colourise, disagreement
from segdeploy.reporting.report import markdown_table, metrics_json, nan_to_null

# file stem -> (title, what the plot shows)
PLOTS: dict[str, tuple[str, str]] = {
    "throughput": ("Throughput vs batch size",
                   "Images per second of pure inference (preprocessed scored images held in memory) of each "
                   "engine at each batch size it was timed at, one line per threads x streams setting."),
    "latency": ("Latency distribution",
                "Every timed call of every timed candidate (log scale): the box spans the middle half of the "
                "calls, its line is the median, whiskers reach 1.5 IQR, dots are outliers. One call computes "
                "one batch, so larger batches take longer per call by design."),
    "accuracy_vs_speed": ("Accuracy vs speed",
                          "mIoU on the scored images against throughput, every timed candidate: dots passed the "
                          "accuracy gate (dotted line: PyTorch fp32's mIoU minus --max-drop), crosses failed it; "
                          "the dashed line is the Pareto front (no candidate both faster and more accurate); "
                          "the ring is the chosen candidate."),
    "per_class_iou": ("Per-class IoU per engine",
                      "Each class's IoU on the scored images under each engine's accuracy pass, one marker per "
                      "engine (engines that agree overlap); a class absent from labels and predictions has none."),
    "confusion": ("Confusion matrix",
                  "The chosen engine's pixels (PyTorch fp32's when none passed): rows are the label, columns "
                  "the prediction, each row a share of that label's pixels; the diagonal is each class's recall."),
    "samples": ("Predictions side by side",
                "The first scored images: input, ground truth (black: ignored), PyTorch fp32's prediction, the "
                "chosen engine's, and the input greyed with every pixel where the two predictions differ "
                "in bright red."),
}
CANDIDATE_HEADERS = ("engine", "precision", "batch", "threads x streams", "images/s", "p50 ms", "p90 ms",
                     "mIoU", "Δ mIoU", "Pareto", "result")
ENGINE_HEADERS = ("engine", "aAcc", "mIoU", "mAcc", "mDice", "mFscore", "Δ mIoU", "pixel agreement", "gate",
                  "what ran")


@dataclass(frozen=True)
class ReportFiles:
    json: Path
    markdown: Path
    html: Path
    plots: dict[str, Path]


def _f(value: float | None, fmt: str) -> str:
    """`value` formatted, "-" when unknown; rounded first so that no "-0.00" appears."""
    if value is None or math.isnan(value):
        return "-"
    digits = int(fmt.rstrip("f").split(".")[-1]) if fmt.endswith("f") and "." in fmt else None
    return format(round(value, digits) + 0.0 if digits is not None else value, fmt)


def candidate_rows(results: list[CandidateResult], chosen: CandidateResult | None) -> list[tuple[str, ...]]:
    front = {r.candidate.id for r in pareto_front(results)}
    rows = []
    for r in results:
        t = r.timing if r.timed else None
        rows.append((r.candidate.engine, r.candidate.precision, str(r.candidate.batch), r.candidate.setting,
                     _f(t and t.samples_per_s, ".2f"), _f(t and t.p50_ms, ".1f"), _f(t and t.p90_ms, ".1f"),
                     _f(r.miou, ".2f"), _f(r.d_miou, "+.2f"), "yes" if r.candidate.id in front else "",
                     "CHOSEN" if r is chosen else r.verdict))
    return rows


def row_styles(results: list[CandidateResult], chosen: CandidateResult | None) -> list[str]:
    return ["chosen" if r is chosen else ("failed" if r.timed and not r.passed else "") for r in results]


def engine_rows(search: SearchResult, max_drop: float) -> list[tuple[str, ...]]:
    base = search.reference.metrics.mIoU
    rows = []
    for name, score in search.scores.items():
        m = score.metrics
        drop = (m.mIoU - base) * 100
        rows.append((name, _f(m.aAcc * 100, ".2f"), _f(m.mIoU * 100, ".2f"), _f(m.mAcc * 100, ".2f"),
                     _f(m.mDice * 100, ".2f"), _f(m.mFscore * 100, ".2f"), _f(drop, "+.3f"),
                     f"{score.pixel_agreement:.4%}", "pass" if not drop < -max_drop else "FAILED", score.detail))
    return rows


def make_plots(spec: ModelSpec, search: SearchResult, chosen: CandidateResult | None, scored: ScoredSet,
               predictions: Path, max_drop: float, samples: int) -> dict[str, bytes]:
    """PNG bytes of every plot, keyed like `PLOTS`."""
    timed = [r for r in search.results if r.timed]
    series: dict[str, list[tuple[int, float]]] = {}
    for r in timed:
        series.setdefault(f"{r.candidate.engine} ({r.candidate.setting})", []).append(
            (r.candidate.batch, r.timing.samples_per_s))
    front = {r.candidate.id for r in pareto_front(search.results)}
    points = [plots.SpeedPoint(r.candidate.id, r.timing.samples_per_s, r.miou, r.passed, r.candidate.id in front,
                               r is chosen) for r in timed if r.miou is not None]
    shown = search.scores[chosen.candidate.engine] if chosen else search.reference
    return {
        "throughput": plots.throughput_vs_batch(series),
        "latency": plots.latency_distribution({r.candidate.id: r.latencies_ms for r in timed}),
        "accuracy_vs_speed": plots.accuracy_vs_speed(points, search.reference.metrics.mIoU * 100 - max_drop),
        "per_class_iou": plots.per_class_iou(spec.classes, {n: s.metrics.IoU * 100 for n, s in search.scores.items()}),
        "confusion": plots.confusion_matrix(shown.confusion.matrix, spec.classes,
                                            f"confusion matrix: {shown.engine}, {shown.images} images"),
        "samples": plots.image_grid(_sample_rows(spec, scored, predictions, chosen, samples)),
    }


def _sample_rows(spec: ModelSpec, scored: ScoredSet, predictions: Path, chosen: CandidateResult | None,
                 count: int) -> list[tuple[str, list[tuple[str, np.ndarray]]]]:
    rows = []
    for sample in scored.scored[:count]:
        image = read_rgb(sample.image_path)
        reference = class_map(predictions / "torch", sample.stem)
        images = [("input", image), ("ground truth", colourise(read_label(spec.dataset, sample), spec.palette)),
                  ("PyTorch fp32", colourise(reference, spec.palette))]
        if chosen is not None:
            ours = class_map(predictions / chosen.candidate.engine, sample.stem)
            differ = int(np.count_nonzero(ours != reference))
            images += [(f"chosen: {chosen.candidate.engine}", colourise(ours, spec.palette)),
                       (f"disagreement: {differ} px ({differ / ours.size:.2%})", disagreement(image, reference, ours))]
        rows.append((sample.stem, images))
    return rows


def write_report(folder: Path, spec: ModelSpec, summary: dict[str, Any], search: SearchResult,
                 chosen: CandidateResult | None, scored: ScoredSet, max_drop: float, samples: int) -> ReportFiles:
    """Write plots/*.png, report.json, report.md and report.html into `folder`."""
    pngs = make_plots(spec, search, chosen, scored, folder / "search" / "predictions", max_drop, samples)
    plot_files = {name: write_bytes_atomic(folder / "plots" / f"{name}.png", png) for name, png in pngs.items()}
    report = {**summary, **_results_json(spec, search, chosen, max_drop),
              "plots": [{"file": f"plots/{name}.png", "title": PLOTS[name][0], "what_it_shows": PLOTS[name][1]}
                        for name in pngs]}
    files = ReportFiles(folder / "report.json", folder / "report.md", folder / "report.html", plot_files)
    write_json_atomic(files.json, nan_to_null(report))
    write_text_atomic(files.markdown, _markdown(report, search, chosen, max_drop))
    write_text_atomic(files.html, _html(report, search, chosen, max_drop, pngs))
    return files


def _results_json(spec: ModelSpec, search: SearchResult, chosen: CandidateResult | None, max_drop: float) -> dict:
    front = {r.candidate.id for r in pareto_front(search.results)}
    base = search.reference.metrics.mIoU
    engines = {name: metrics_json(s.metrics, spec.classes, pixel_agreement=s.pixel_agreement, images=s.images,
                                  seconds=s.seconds, detail=s.detail, d_mIoU=(s.metrics.mIoU - base) * 100,
                                  passed=not (s.metrics.mIoU - base) * 100 < -max_drop,
                                  confusion=s.confusion.to_json())
               for name, s in search.scores.items()}
    candidates = [{"id": r.candidate.id, **r.candidate.to_json(), "precision": r.candidate.precision,
                   "status": r.status, "verdict": r.verdict, "reason": r.reason, "detail": r.detail,
                   "miou": r.miou, "d_miou": r.d_miou, "passed": r.passed, "deployable": r.deployable,
                   "pareto": r.candidate.id in front, "chosen": r is chosen,
                   "timing": None if r.timing is None else r.timing.to_json()} for r in search.results]
    return {"engines": engines, "candidates": candidates, "chosen": chosen.candidate.id if chosen else None,
            "pareto_front": sorted(front)}


def _header_lines(report: dict) -> list[str]:
    proof = report["export"]
    lines = [f"Model {report['model']} (variant {report['variant']}) from {report['checkpoint']['file']}, "
             f"scored on {report['images']} labelled {report['split']} images of {report['data_root']} at "
             f"{report['input_hw'][0]}x{report['input_hw'][1]}; accuracy gate: at most {report['max_drop']:g} "
             "mIoU points below PyTorch fp32.",
             f"Checkpoint: {report['checkpoint']['keys']}.",
             f"Export: {proof['onnx']} passed onnx.checker; ONNX Runtime vs PyTorch on a random batch: max |Δlogit| "
             f"{proof['random_input']['max_abs_diff']:.2e}, argmax agreement {proof['random_input']['argmax_agreement']:.4%}; "
             f"on the scored images: max |Δlogit| {proof['real_images']['max_abs_diff']:.2e}, argmax agreement "
             f"{proof['real_images']['argmax_agreement']:.4%}.",
             f"int8 calibration: {report['calibration']}.",
             f"Search: {report['search']}."]
    if report["chosen"]:
        lines += [f"Chosen: {report['chosen']}, {report['tradeoff']}.", f"Deployed: {report['deployment']}."]
    else:
        lines.append("No candidate passed the accuracy gate: nothing was deployed.")
    return lines


def _environment_line(env: dict) -> str:
    libraries = ", ".join(f"{k} {v}" for k, v in env["libraries"].items() if v)
    return (f"{env['cpu']} ({', '.join(env['kernel_flags']) or 'no vector flags reported'}), "
            f"{env['usable_cores']} usable cores of {env['logical_cpus']}; {env['os']}; Python {env['python']}; "
            f"{libraries}. Timings were taken while the machine may have been shared: read them as ratios.")


def _markdown(report: dict, search: SearchResult, chosen: CandidateResult | None, max_drop: float) -> str:
    parts = [f"# {report['title']}", *_header_lines(report)]
    if report["chosen"]:
        parts.append(f"Run it:\n\n```bash\n{report['infer_command']}\n```")
    parts += ["## Candidates", markdown_table(CANDIDATE_HEADERS, candidate_rows(search.results, chosen)),
              "## Engines on the scored images (percent; Δ in points vs PyTorch fp32)",
              markdown_table(ENGINE_HEADERS, engine_rows(search, max_drop)),
              "## Plots"]
    for plot in report["plots"]:
        parts.append(f"### {plot['title']}\n\n![{plot['title']}]({plot['file']})\n\n{plot['what_it_shows']}")
    parts += ["## Environment", _environment_line(report["environment"]),
              f"Command: `{' '.join(report['command_line'])}` on {report['date']}."]
    return "\n\n".join(parts) + "\n"


def _html(report: dict, search: SearchResult, chosen: CandidateResult | None, max_drop: float,
          pngs: dict[str, bytes]) -> str:
    summary = [html.paragraph(line) for line in _header_lines(report)]
    if report["chosen"]:
        summary.append(html.preformatted(report["infer_command"]))
    figures = [html.image(pngs[name], alt=PLOTS[name][0], caption=PLOTS[name][1]) for name in pngs]
    return html.document(
        report["title"],
        html.section("Summary", *summary),
        html.section("Candidates", html.table(CANDIDATE_HEADERS, candidate_rows(search.results, chosen),
                                              row_styles(search.results, chosen))),
        html.section("Engines on the scored images (percent; Δ in points vs PyTorch fp32)",
                     html.table(ENGINE_HEADERS, engine_rows(search, max_drop))),
        *[html.section(PLOTS[name][0], figure) for name, figure in zip(pngs, figures)],
        html.section("Environment", html.paragraph(_environment_line(report["environment"])),
                     html.paragraph(f"Command: {' '.join(report['command_line'])} on {report['date']}.")),
    )
