"""The demo: the whole chain on the shipped checkpoint and embedded synthetic data."""

from __future__ import annotations

import json

from rich.console import Console

from segdeploy.demo import DemoConfig, run_demo


def test_demo_runs_the_chain_and_engines_agree(tmp_path):
    out = tmp_path / "demo"
    report = run_demo(DemoConfig(out=out, images=6), Console(file=open(tmp_path / "log.txt", "w")))
    saved = json.loads((out / "report.json").read_text())
    assert saved["parity"]["passed"] and saved["parity"]["overall"]["agreement"] >= 0.999
    assert saved["parity"]["metrics"]["d_mIoU"] is not None  # proven on the labelled demo images
    torch_miou, ort_miou = (saved["accuracy"][e]["mIoU"] for e in ("torch", "onnxruntime"))
    assert abs(torch_miou - ort_miou) * 100 <= 0.1
    assert torch_miou >= 0.70  # the shipped checkpoint really segments unseen synthetic scenes
    assert {t["engine"] for t in saved["bench"]} == {"torch", "onnxruntime"}
    assert (out / "report.md").read_text().startswith("# segdeploy demo")
    assert len(report["samples"]) == 3 and all((out / "samples").joinpath(p.split("/")[-1]).exists()
                                               for p in report["samples"])
