"""`segdeploy demo`: `segdeploy deploy` on the embedded synthetic dataset and the shipped checkpoint.

Synthetic Cityscapes-layout val scenes -> the shipped Fast-SCNN checkpoint (trained by `segdeploy
train`, see README) -> checkpoint keys, ONNX export + parity -> torch, ONNX Runtime fp32 and int8
(and OpenVINO when installed) scored and timed at batches 1 and 4 -> the fastest passing one
deployed -> report.html. A small search, so the whole demo takes about a minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from rich.console import Console

from segdeploy.data.synthetic import generate_cityscapes_like
from segdeploy.deploy.run import DeployConfig, DeployResult, run_deploy
from segdeploy.deploy.summary import print_summary
from segdeploy.errors import GateFailed, SegdeployError
from segdeploy.runtime.openvino_backend import openvino_available

DEMO_MODEL = "fastscnn_cityscapes"
DEMO_CHECKPOINT = "fastscnn_synthetic.pth"
DEMO_SIZE = (256, 512)
DEMO_SEED = 1  # the shipped checkpoint was trained on seed 0: the val scenes are unseen
DEMO_ENGINES = ("torch", "onnxruntime", "onnxruntime-int8")
DEMO_BATCHES = (1, 4)
CALIBRATION_IMAGES = 8  # generated beyond the scored ones: int8 is not calibrated on the images it is scored on


@dataclass(frozen=True)
class DemoConfig:
    out: Path
    images: int = 20
    time_budget_min: float = 1.5
    seconds_per_candidate: float = 1.0


def demo_checkpoint() -> Path:
    """The shipped checkpoint: `fastscnn_cityscapes` trained on synthetic scenes (see README)."""
    path = Path(str(resources.files("segdeploy").joinpath("assets", DEMO_CHECKPOINT)))
    if not path.is_file():
        raise SegdeployError.at(path, "the demo checkpoint is missing from this installation")
    return path


def demo_engines() -> tuple[str, ...]:
    return DEMO_ENGINES + (("openvino",) if openvino_available() else ())


def run_demo(config: DemoConfig, console: Console) -> DeployResult:
    """Generate the data, deploy, print the summary; a rerun continues (or reuses) the same deploy."""
    data_root = config.out / "data"
    console.rule("[bold]data")
    generate_cityscapes_like(data_root, "val", config.images + CALIBRATION_IMAGES, size=DEMO_SIZE, seed=DEMO_SEED)
    console.print(f"{config.images + CALIBRATION_IMAGES} synthetic {DEMO_SIZE[0]}x{DEMO_SIZE[1]} street scenes in "
                  f"{data_root} (Cityscapes layout): {config.images} scored, the others calibrate int8")
    console.rule("[bold]deploy")
    command = ["segdeploy", "deploy", "--model", DEMO_MODEL, "--checkpoint", str(demo_checkpoint()), "--data-root",
               str(data_root), "--images", str(config.images), "--engines", ",".join(demo_engines()),
               "--batch", ",".join(map(str, DEMO_BATCHES)), "--time-budget", f"{config.time_budget_min:g}",
               "--out", str(config.out / "deploy"), "--resume"]
    result = run_deploy(DeployConfig(model=DEMO_MODEL, checkpoint=demo_checkpoint(), data_root=data_root,
                                     out=config.out / "deploy", images=config.images, engines=demo_engines(),
                                     batches=DEMO_BATCHES, time_budget_min=config.time_budget_min, resume=True,
                                     seconds_per_candidate=config.seconds_per_candidate,
                                     command_line=tuple(command)), log=console.print)
    console.rule("[bold]summary")
    print_summary(console, result)
    if result.chosen is None:
        raise GateFailed.at(result.report.html, "no engine kept PyTorch's accuracy: nothing deployed")
    return result
