"""argparse `type=` helpers: every numeric flag gets its range and every path its kind, checked at parse time.

A value out of range is refused by argparse itself (`segdeploy COMMAND: error: argument --batch: ...`,
exit 2) before any work starts, so a typo can never end in a ZeroDivisionError twenty minutes in.
Output paths are checked for what they must be (a folder, or a file whose parent is a folder) and
writing errors later on become one line through `segdeploy.errors.describe_os_error`.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from pathlib import Path
from typing import Callable

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")


def int_range(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """An integer with `low <= v <= high` (either bound optional)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {_bounds(low, high)}, got {value}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its messages
    return parse


def float_range(low: float | None = None, high: float | None = None, low_open: bool = False
                ) -> Callable[[str], float]:
    """A finite float with `low <= v <= high` (`low < v` with `low_open`)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        too_low = low is not None and (value <= low if low_open else value < low)
        if not math.isfinite(value) or too_low or (high is not None and value > high):
            bound = f"greater than {low:g}" if low_open and high is None else _bounds(low, high)
            raise argparse.ArgumentTypeError(f"must be a finite number {bound}, got {text}")
        return value

    parse.__name__ = "number"
    return parse


def _bounds(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"between {low:g} and {high:g}"
    return f"at least {low:g}" if low is not None else f"at most {high:g}"


positive_int = int_range(1)
nonnegative_int = int_range(0)
positive_float = float_range(0.0, low_open=True)
nonnegative_float = float_range(0.0)
fraction = float_range(0.0, 1.0)  # 0..1 inclusive, e.g. a minimum pixel agreement


def size_arg(text: str) -> tuple[int, int]:
    """`HxW` -> (H, W), both positive."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
        if h > 0 and w > 0:
            return h, w
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH like 512x1024, got {text!r}")


def int_list(text: str) -> list[int]:
    """`1,4,8` -> [1, 4, 8], each positive, duplicates dropped in order."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
        if values and all(v > 0 for v in values):
            return list(dict.fromkeys(values))
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected positive integers like 1,4,8, got {text!r}")


def names_list(choices: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    """`a,b` -> ("a", "b"), each one of `choices`, duplicates dropped in order."""

    def parse(text: str) -> tuple[str, ...]:
        names = [v.strip() for v in text.split(",") if v.strip()]
        unknown = [n for n in names if n not in choices]
        if not names or unknown:
            raise argparse.ArgumentTypeError(f"expected a comma list of {', '.join(choices)}, got {text!r}")
        return tuple(dict.fromkeys(names))

    parse.__name__ = "names"
    return parse


def auto_or(parse: Callable[[str], object]) -> Callable[[str], object]:
    """`auto` -> None (the command chooses), anything else through `parse`."""

    def parse_or_auto(text: str) -> object:
        return None if text.strip().lower() == "auto" else parse(text)

    parse_or_auto.__name__ = getattr(parse, "__name__", "value")
    return parse_or_auto
def workers_arg(text: str) -> tuple[str, int] | None:
    """`auto` -> None (the pipeline plans), `threads:N` / `processes:N` -> (kind, N) with N positive."""
    if text == "auto":
        return None
    kind, _, count = text.partition(":")
    if kind in ("threads", "processes") and count.isdigit() and int(count) > 0:
        return kind, int(count)
    raise argparse.ArgumentTypeError(f"expected auto, threads:N or processes:N (N at least 1), got {text!r}")


def device_arg(text: str) -> str:
    """`cpu`, `cuda` or `cuda:N`; whether CUDA is present is checked where the engine is built."""
    if not _DEVICE.match(text):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda or cuda:N, got {text!r}")
    return text


def existing_file(text: str) -> Path:
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: is a folder, expected a file")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"{text}: not readable (permission denied)")
    return path


def existing_dir(text: str) -> Path:
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such folder")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: is a file, expected a folder")
    return path


def output_dir(text: str) -> Path:
    """A folder to write into: existing and writable, or creatable under a writable ancestor."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: is a file, expected a folder to write into")
    _check_writable_ancestor(path, text)
    return path


def output_file(text: str) -> Path:
    """A file to (over)write: not a folder, and its folder existing and writable or creatable."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: is a folder, expected a file name")
    _check_writable_ancestor(path.parent, text)
    return path


def _check_writable_ancestor(path: Path, text: str) -> None:
    """The nearest existing ancestor of `path` (itself included) must be a writable folder."""
    probe = path.absolute()
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: {probe} is a file, so nothing can be created under it")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text}: {probe} is not writable")
