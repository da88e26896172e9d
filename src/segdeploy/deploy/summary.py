"""What `deploy` (and the demo) print at the end: every candidate in one table, the pick, how to run it."""

from __future__ import annotations

from rich.console import Console

from segdeploy.deploy.report import CANDIDATE_HEADERS, candidate_rows
from segdeploy.deploy.run import DeployResult
from segdeploy.reporting.tables import rows_table


def print_summary(console: Console, result: DeployResult) -> None:
    results, chosen = result.search.results, result.chosen
    styles = ["bold green" if r is chosen else ("red" if r.timed and not r.passed else "") for r in results]
    images = result.search.reference.images
    console.print(rows_table(CANDIDATE_HEADERS, candidate_rows(results, chosen), styles=styles,
                             title=f"deploy candidates: images/s of pure inference on preprocessed scored images, "
                                   f"latency of one call; mIoU on the same {images} images, Δ vs PyTorch fp32"))
    if chosen is None:
        console.print("[red]no candidate passed the accuracy gate: nothing deployed")
    else:
        console.print(f"chosen: {chosen.candidate.id}, {result.tradeoff}", highlight=False)
        console.print(f"deployment: {result.deployment}")
        console.print("run it:", highlight=False)
        console.print(f"  {result.infer_command}", markup=False, highlight=False)
    files = result.report
    console.print(f"report: {files.html} (self-contained), {files.markdown}, {files.json}; plots in "
                  f"{files.html.parent / 'plots'}")
