"""The Ascend vendor chain's files: raw `.bin` inputs, `.info` lists, and ais_bench outputs.

Inputs are headerless little-endian float32 NCHW with N=1. ais_bench writes one file per sample
and output, `<stem>_<k>.<bin|npy|txt>` with k from 0; its predecessor `benchmark` counted k from 1
and wrote into `dumpOutput_device<D>/`. Output dtypes follow the model (int32/int64 class maps
after an argmax, float16/float32 logits otherwise), and nothing in a `.bin` says which: the file
size decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from segdeploy.data.images import save_label_png
from segdeploy.data.textfile import read_text_file
from segdeploy.errors import SegdeployError
from segdeploy.reporting.atomic import write_atomic, write_bytes_atomic, write_text_atomic

CLASS_MAP_DTYPES: tuple[str, ...] = ("int32", "int64", "float16", "float32")
LOGIT_DTYPES: tuple[str, ...] = ("float32", "float16")
_PREDICTION = re.compile(r"^(?P<stem>.+)_(?P<k>[01])\.(?P<fmt>bin|npy|txt)$", re.IGNORECASE)


def write_input_bin(path: str | Path, chw: np.ndarray) -> Path:
    """Write a (3, H, W) or (1, 3, H, W) float32 array as raw little-endian NCHW bytes."""
    data = np.ascontiguousarray(chw, dtype="<f4")
    return write_bytes_atomic(path, data.tobytes())


def read_input_bin(path: str | Path, shape: tuple[int, int, int]) -> np.ndarray:
    """Read a raw float32 input of `shape` = (C, H, W) as (1, C, H, W), checking the byte size."""
    path = Path(path)
    expected = 4 * int(np.prod(shape))
    size = path.stat().st_size if path.is_file() else None
    if size is None:
        raise SegdeployError.at(path, "no such file")
    if size != expected:
        dims = "x".join(str(d) for d in shape)
        raise SegdeployError.at(path, f"{size:,} bytes, expected {dims} float32 = {expected:,} bytes")
    return np.fromfile(path, dtype="<f4").astype(np.float32).reshape((1, *shape))


@dataclass(frozen=True)
class InfoEntry:
    """One `.info` line: for `.bin` lists width/height are the network input size."""

    index: int
    path: str
    width: int
    height: int


def write_info(path: str | Path, entries: Sequence[InfoEntry]) -> Path:
    """Write `index path width height` lines (single spaces), the seeds' `.info` format."""
    for entry in entries:
        if any(c.isspace() for c in entry.path):
            raise SegdeployError.at(path, f"{entry.path!r}: a path in a .info file cannot contain spaces")
    text = "".join(f"{e.index} {e.path} {e.width} {e.height}\n" for e in entries)
    return write_text_atomic(path, text)


def read_info(path: str | Path) -> list[InfoEntry]:
    """Parse a `.info` file; a malformed line is an error naming the file and line number."""
    path = Path(path)
    if not path.is_file():
        raise SegdeployError.at(path, "no such file")
    entries = []
    for number, line in enumerate(read_text_file(path).splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 4 or not all(f.isdigit() for f in (fields[0], fields[2], fields[3])):
            raise SegdeployError.at(f"{path}:{number}", f"expected 'index path width height', got {line!r}")
        entries.append(InfoEntry(int(fields[0]), fields[1], int(fields[2]), int(fields[3])))
    return entries


def natural_sort_key(name: str) -> list[int | str]:
    """Digit runs compare as numbers, the rest case-insensitively (ais_bench's input order).

    `re.split` with a capture group alternates text and digits, so keys always compare
    str with str and int with int at each position.
    """
    return [int(part) if i % 2 else part.lower() for i, part in enumerate(re.split(r"(\d+)", name))]


def list_input_bins(folder: str | Path) -> list[Path]:
    """The `.bin`/`.BIN` files of `folder` in natural sort order, as ais_bench feeds them."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SegdeployError.at(folder, "no such folder")
    bins = [p for p in folder.iterdir() if p.is_file() and p.suffix in (".bin", ".BIN")]
    if not bins:
        raise SegdeployError.at(folder, "no .bin input files found")
    return sorted(bins, key=lambda p: natural_sort_key(p.name))


def output_name(stem: str, k: int = 0, fmt: str = "bin") -> str:
    """ais_bench's name for output `k` of the sample whose input file has stem `stem`."""
    return f"{stem}_{k}.{fmt}"


def _predictions_in(folder: Path) -> dict[str, Path]:
    """Output 0 of each sample in one folder: `_0` files (ais_bench), else `_1` files (benchmark)."""
    by_k: dict[str, dict[str, list[Path]]] = {"0": {}, "1": {}}
    for path in sorted(folder.iterdir()):
        match = _PREDICTION.match(path.name)
        if match and path.is_file():
            by_k[match["k"]].setdefault(match["stem"], []).append(path)
    # With both present, `_1` is a second model output of ais_bench, not a legacy first output.
    chosen = by_k["0"] or by_k["1"]
    for stem, paths in chosen.items():
        if len(paths) > 1:
            names = ", ".join(p.name for p in paths)
            raise SegdeployError.at(folder, f"{stem}: several predictions ({names})")
    return {stem: paths[0] for stem, paths in chosen.items()}


def find_predictions(folder: str | Path) -> dict[str, Path]:
    """Map each sample stem to its first-output file under `folder` and its run folders.

    Run folders (`2026_11_21-10_00_00/`, `dumpOutput_device0/`) are searched one level down.
    A stem found in two places is an error rather than a silent pick.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SegdeployError.at(folder, "no such folder")
    found: dict[str, Path] = {}
    for place in [folder] + sorted(p for p in folder.iterdir() if p.is_dir()):
        for stem, path in _predictions_in(place).items():
            if stem in found:
                raise SegdeployError.at(path, f"duplicate prediction for {stem} (also {found[stem]})")
            found[stem] = path
    if not found:
        raise SegdeployError.at(folder, "no ais_bench predictions (<stem>_0.bin|npy|txt) found")
    return found


def _decode_class_map(flat: np.ndarray, num_classes: int | None) -> np.ndarray | None:
    """Integer class values from `flat`, or None when they do not look like class indices."""
    if np.issubdtype(flat.dtype, np.floating) and not np.all(np.isfinite(flat)):
        return None
    values = flat.astype(np.float64)
    if not np.array_equal(values, np.round(values)):
        return None
    top = 255 if num_classes is None else num_classes - 1
    in_range = ((values >= 0) & (values <= top)) | (values == 255) | (values == -1)
    return flat.astype(np.int64) if in_range.all() else None


def _from_flat(flat: np.ndarray, shape: tuple[int, int], num_classes: int | None) -> np.ndarray | None:
    """An (H, W) int64 class map or (C, H, W) float32 logits from a flat array, or None if neither fits."""
    pixels = shape[0] * shape[1]
    if flat.size == pixels:
        decoded = _decode_class_map(flat, num_classes)
        return None if decoded is None else decoded.reshape(shape)
    if num_classes is not None and flat.size == num_classes * pixels:
        return flat.astype(np.float32).reshape((num_classes, *shape))  # (C, H, W)
    return None


def _describe_expected(shapes: Sequence[tuple[int, int]], num_classes: int | None, dtypes: Sequence[str]) -> str:
    sizes = [f"{h}x{w}" for h, w in shapes]
    text = f"a {' or '.join(sizes)} class map ({'/'.join(dtypes)})"
    if num_classes is not None:
        logits = " or ".join(f"{num_classes}x{size}" for size in sizes)
        text += f" or {logits} logits ({'/'.join(LOGIT_DTYPES)})"
    return text


def _read_bin(path: Path, shapes: Sequence[tuple[int, int]], num_classes: int | None,
              dtypes: Sequence[str]) -> np.ndarray:
    size = path.stat().st_size
    for shape in shapes:
        pixels = shape[0] * shape[1]
        # Class maps first (int before float of the same width: an int32 map is not float32 noise).
        candidates = [(d, 1) for d in dtypes] + [(d, num_classes) for d in LOGIT_DTYPES if num_classes]
        for dtype, channels in candidates:
            if size == np.dtype(dtype).itemsize * channels * pixels:
                flat = np.fromfile(path, dtype=np.dtype(dtype).newbyteorder("<"))
                result = _from_flat(flat, shape, num_classes)
                if result is not None:
                    return result
    raise SegdeployError.at(path, f"{size:,} bytes does not match {_describe_expected(shapes, num_classes, dtypes)}")


def read_output(path: str | Path, shapes: Sequence[tuple[int, int]], num_classes: int | None = None,
                dtypes: Sequence[str] = CLASS_MAP_DTYPES) -> np.ndarray:
    """Read one ais_bench output as an (H, W) int64 class map or (C, H, W) float32 logits.

    `shapes` lists the (H, W) sizes the output may have, tried in order. `.bin`: the dtype is
    inferred from the file size — a class map in one of `dtypes`, or with `num_classes`
    float32/float16 logits. `.npy` and `.txt` hold either form too (a leading batch axis of 1 is
    ignored).
    """
    path = Path(path)
    if not path.is_file():
        raise SegdeployError.at(path, "no such file")
    suffix = path.suffix.lower()
    if suffix == ".bin":
        return _read_bin(path, shapes, num_classes, dtypes)
    try:
        flat = (np.load(path, allow_pickle=False) if suffix == ".npy" else np.loadtxt(path, ndmin=1)).ravel()
    except (OSError, ValueError) as err:
        raise SegdeployError.at(path, f"cannot read prediction ({err})") from None
    for shape in shapes:
        result = _from_flat(flat, shape, num_classes)
        if result is not None:
            return result
    raise SegdeployError.at(path, f"{flat.size:,} values do not make "
                                  f"{_describe_expected(shapes, num_classes, dtypes)}")


def read_prediction(path: str | Path, shape: tuple[int, int], num_classes: int | None = None,
                    dtypes: Sequence[str] = CLASS_MAP_DTYPES) -> np.ndarray:
    """Read one ais_bench output of size `shape` as an (H, W) int64 class map (logits are argmaxed)."""
    output = read_output(path, [shape], num_classes, dtypes)
    return output.argmax(axis=0).astype(np.int64) if output.ndim == 3 else output


def write_prediction(path: str | Path, array: np.ndarray, fmt: str = "bin") -> Path:
    """Write an output array as ais_bench would (`bin`: raw C-order bytes, `npy`), or as a label PNG."""
    if fmt == "bin":
        return write_atomic(path, lambda f: f.write(np.ascontiguousarray(array).data))  # no bytes copy
    if fmt == "npy":
        return write_atomic(path, lambda f: np.save(f, np.ascontiguousarray(array)))
    if fmt == "png":
        return save_label_png(path, np.asarray(array).reshape(array.shape[-2:]))
    raise ValueError(f"unknown prediction format {fmt!r}; expected bin, npy or png")
