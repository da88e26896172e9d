"""The scale-out section of benchmarks/RESULTS.md, from the scale_out.json `scale_out.py` writes.

Kept apart from both scripts, as e2e_report.py is, so `bench_engines.py` (which rewrites RESULTS.md)
and `scale_out.py` render the same section without importing each other.
"""

from __future__ import annotations

import json
from pathlib import Path


def scale_out_markdown(folder: Path) -> list[str]:
    """Markdown lines for `folder/scale_out.json`, or none when it is not there."""
    path = folder / "scale_out.json"
    if not path.is_file():
        return []
    r = json.loads(path.read_text())
    m, a = r["machine"], r["args"]
    parts = ["## Scale out: `infer --evaluate` on 1 and N torchrun processes", "",
             f"Written by `benchmarks/scale_out.py`. {m['cpu']}, {m['cores']} cores; torch {m['torch']}; "
             f"command: `{r.get('command', 'benchmarks/scale_out.py')}`. {a['model']}, {a['images']} synthetic "
             f"{a['size'][0]}x{a['size'][1]} scenes, batch {a['batch']}, {a['threads']} thread(s) per process. "
             "Wall = the whole torchrun command, start-up included; inference = the slowest process's "
             "pipeline; same bytes = every prediction file and metrics.json equal the first row's.", "",
             "| processes | wall s | inference s | images/s | x 1 process | mIoU | aAcc | same bytes |",
             "|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in r["results"]:
        parts.append(f"| {row['processes']} | {row['wall_s']:.1f} | {row['inference_s']:.2f} | "
                     f"{row['images_per_s']:.2f} | {row['speedup']:.2f} | {100 * row['mIoU']:.2f} | "
                     f"{100 * row['aAcc']:.2f} | {'yes' if row['same_files_as_first'] else 'NO'} |")
    return parts + [""]
