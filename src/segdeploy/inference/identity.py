"""What determines an `infer` run's outputs: the fingerprint recorded beside its run folder for `--resume`.

Everything that can change a prediction file is a field: the model, the weights (by content), the
engine and how it computes, the ONNX file (by content), the variant, the output format and kind,
the batch (batch composition changes the last bits), and the input set (where it comes from and
every input's name and byte size). `segdeploy.reporting.fingerprint` saves and compares it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from segdeploy.benchmark.catalog import ENGINES
from segdeploy.inference.inputs import InputItem
from segdeploy.reporting.fingerprint import file_sha256, listing_sha256, model_file_sha256


@dataclass(frozen=True)
class InferFingerprint:
    KIND: ClassVar[str] = "infer"

    model: str
    engine: str  # a name of INFER_ENGINES, torch ones followed by their --torch-options ("torch-bf16+compile")
    precision: str  # what the engine computes in: fp32, or fp16 / int8 (an int8/fp16 ONNX file differs by its hash)
    device: str
    weights: str | None  # sha256 of the checkpoint the torch engine loads; None: random initialisation
    onnx: str | None  # sha256 of the ONNX file the onnxruntime and openvino engines run
    variant: str | None  # the preprocessing variant run in-process (dataset inputs); None for .bin inputs
    outfmt: str  # bin | npy | png
    output: str  # "class map" | "logits"
    batch: int
    inputs: str  # where the inputs come from: a dataset root and split, or a .bin folder and its sizes
    input_files: str  # sha256 over every input's (output stem, file name, byte size), in order

    @property
    def reproducible(self) -> bool:
        """Whether a second run computes the same network: not with unseeded random weights."""
        return self.weights is not None or self.onnx is not None


def infer_fingerprint(model: str, engine: str, device: str, checkpoint: Path | None, onnx: Path | None,
                      variant: str | None, outfmt: str, logits: bool, batch: int, inputs: str,
                      items: list[InputItem]) -> InferFingerprint:
    """The fingerprint of an infer run; hashes the checkpoint or ONNX file it will use."""
    kind = ENGINES[engine.split("+")[0]]  # "torch-bf16+channels_last": the name, then its torch options
    return InferFingerprint(
        model=model, engine=engine, precision=kind.precision, device=device,
        weights=file_sha256(checkpoint) if checkpoint is not None and kind.runtime == "torch" else None,
        onnx=model_file_sha256(onnx) if onnx is not None and kind.runtime != "torch" else None,
        variant=variant, outfmt=outfmt, output="logits" if logits else "class map", batch=batch,
        inputs=inputs, input_files=input_set_sha256(items))


def input_set_sha256(items: list[InputItem]) -> str:
    return listing_sha256((item.stem, *_name_and_size(item.source)) for item in items)


def _name_and_size(path: Path | None) -> tuple[str | None, int | None]:
    if path is None:
        return None, None
    try:
        return path.name, path.stat().st_size
    except OSError:  # unreadable now: reading it reports the error with its name
        return path.name, None


def dataset_inputs(root: Path, split: str) -> str:
    return f"dataset {root.resolve()} split {split}"


def bin_inputs(folder: Path, input_hw: tuple[int, int] | None, info: Path | None,
               default_hw: tuple[int, int] | None) -> str:
    """A .bin folder and how each file's size is known (it decides how the bytes are read)."""
    info = info or folder.with_suffix(".info")
    if input_hw is not None:
        sizes = f"every input {input_hw[0]}x{input_hw[1]}"
    elif info.is_file():
        sizes = f"sizes from {info.resolve()} sha256 {file_sha256(info)}"
    else:
        sizes = f"every input {default_hw[0]}x{default_hw[1]}" if default_hw else "sizes unknown"
    return f"bins {folder.resolve()}, {sizes}"
