"""The end-to-end section of benchmarks/RESULTS.md, from the e2e_<case>.json files `bench_e2e.py` writes.

Kept apart from both scripts so `bench_engines.py` (which rewrites RESULTS.md) and `bench_e2e.py`
render the same section without importing each other.
"""

from __future__ import annotations

import json
from pathlib import Path

STAGE_ORDER = ("data read", "preprocess", "inference", "postprocess", "write")


def e2e_markdown(folder: Path) -> list[str]:
    """Markdown lines for every `e2e_*.json` under `folder`, or none when there are none."""
    paths = sorted(folder.glob("e2e_*.json"))
    if not paths:
        return []
    decode = folder / "decode.json"
    parts = ["## End to end: the real-data pipeline next to the engine alone", "",
             "Written by `benchmarks/bench_e2e.py`. e2e = read, decode, preprocess, infer, post-process "
             "(class map, confusion matrix) and write, overlapped; pure = the same engine in the same run on "
             "inputs already in memory. CPU bound = cores / all stages' CPU ms per image (the rate if no "
             "core ever idled); inference CPU is the process's CPU not used by another stage's thread.", ""]
    for path in paths:
        r = json.loads(path.read_text())
        parts += [f"### {r['case']}: {r['model']}, variant {r['variant']}, {r['images']} images of {r['data']}", "",
                  f"{r['machine']['cpu']}, {r['machine']['cores']} cores; onnxruntime {r['machine']['onnxruntime']}; "
                  f"load before / after: {r['load_before']} / {r['load_after']}; command: `{r['command']}`", "",
                  "| engine | batch | engine io | pure images/s | e2e images/s | e2e / pure | CPU bound images/s | "
                  "e2e / bound | targets |", "|---|---:|---|---:|---:|---:|---:|---:|---|"]
        for row in r["rows"]:
            parts.append(f"| {row['engine']} | {row['batch']} | {row['engine_io']} | {row['pure_images_per_s']:.2f} | "
                         f"{row['e2e_images_per_s']:.2f} | {row['e2e_over_pure']:.2f} | "
                         f"{row['cpu_bound_images_per_s']:.2f} | {row['e2e_over_cpu_bound']:.2f} | "
                         f"{_targets(row.get('targets', {}))} |")
        for row in r["rows"]:
            parts += ["", f"{row['engine']}, batch {row['batch']}: {row['workers']}", "",
                      "| stage | workers | wall ms | CPU ms / image | capacity images/s |", "|---|---:|---:|---:|---:|"]
            for name in STAGE_ORDER:
                s = row["stages"][name]
                parts.append(f"| {name} | {s['workers']} | {s['mean_ms']:.1f} | {s['cpu_ms_per_image']:.1f} | "
                             f"{s['capacity_images_per_s']:.2f} |")
            parts.append(f"| all | | | {row['cpu_ms_per_image']:.1f} | {row['cpu_bound_images_per_s']:.2f} (bound) |")
        parts.append("")
    if decode.is_file():
        parts += decode_markdown(json.loads(decode.read_text()))
    return parts


def decode_markdown(result: dict) -> list[str]:
    """`bench_decode.py`'s table: what `segdeploy.data.decode` chose from."""
    parts = ["### Decoders (`benchmarks/bench_decode.py`)", "",
             f"{result['machine']['cpu']}; load {result.get('load', '?')}; median of {result['runs']} decodes; "
             "GIL free = share of the decode "
             "during which another Python thread could run.", "",
             "| file | decoder | ms | x Pillow | same pixels | GIL free |", "|---|---|---:|---:|---|---:|"]
    for r in result["rows"]:
        if r["status"] != "ok":
            parts.append(f"| {r['file']} | {r['decoder']} | {r['status']} | | | |")
            continue
        parts.append(f"| {r['file']} | {r['decoder']} | {r['ms']:.2f} | {r.get('vs_pillow', float('nan')):.2f} | "
                     f"{'yes' if r['same_pixels_as_pillow'] else 'NO'} | {r['gil_free_share']:.0%} |")
    return parts + [""]


def _targets(targets: dict) -> str:
    return ", ".join(f"{name} {'met' if met else 'MISSED'}" for name, met in targets.items()) or "-"
