"""The demo: `segdeploy deploy` on the shipped checkpoint and embedded synthetic data, and its report in a browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from segdeploy.demo import DEMO_BATCHES, DemoConfig, demo_engines, run_demo

CHROMIUM = Path("/usr/bin/chromium")
# Marks every <img> with whether it decoded (naturalWidth) once the page has loaded; --dump-dom prints the result.
_IMAGE_PROBE = """<script>window.addEventListener("load", () => {
  const sizes = [...document.images].map(img => img.complete ? img.naturalWidth + "x" + img.naturalHeight : "0x0");
  document.body.setAttribute("data-image-sizes", sizes.join(" "));
});</script>"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    with open(out / "log.txt", "w") as log:
        result = run_demo(DemoConfig(out=out, images=6, seconds_per_candidate=0.2), Console(file=log, width=160))
    return out, result


def test_demo_deploys_the_shipped_checkpoint_and_engines_agree(demo):
    out, result = demo
    report = json.loads((out / "deploy" / "report.json").read_text())
    assert report["export"]["real_images"]["argmax_agreement"] >= 0.999
    engines = report["engines"]
    assert abs(engines["torch"]["mIoU"] - engines["onnxruntime"]["mIoU"]) * 100 <= 0.1
    assert engines["torch"]["mIoU"] >= 0.70  # the shipped checkpoint really segments unseen synthetic scenes
    assert {c["engine"] for c in report["candidates"]} == set(demo_engines())
    assert {c["batch"] for c in report["candidates"]} == set(DEMO_BATCHES)
    assert report["chosen"] == result.chosen.candidate.id and (out / "deploy" / "deployment.json").is_file()
    assert report["calibration"].startswith("8 val images that are not scored")
    log = (out / "log.txt").read_text()
    assert "chosen:" in log and "segdeploy infer --model fastscnn_cityscapes" in log


@pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs Debian's chromium (apt-get install -y chromium)")
def test_report_html_renders_every_plot_in_a_real_browser(demo, tmp_path):
    out, _ = demo
    page = (out / "deploy" / "report.html").read_text()
    assert "http://" not in page and "https://" not in page and "<script" not in page  # offline, no code
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</body>", _IMAGE_PROBE + "</body>"))
    dom = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=5000", "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, timeout=120).stdout
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)
    sizes = re.search(r'data-image-sizes="([^"]*)"', dom)
    assert sizes, "the page did not finish loading in Chromium"
    widths = [int(size.split("x")[0]) for size in sizes.group(1).split()]
    assert len(widths) == 6 and all(w > 100 for w in widths), sizes.group(1)
