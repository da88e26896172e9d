"""Sharded inference under torchrun: which chunks of a run each process computes, and which it scores.

A run is always cut into the same consecutive chunks of `batch` items, one engine batch each. Rank 0
looks at the run folder once and tells every rank which chunks are finished; the unfinished chunks are
dealt out round-robin, the j-th to rank j % world, and so are the finished ones, whose class maps are
read back from their files and scored. So a run resumed with any number of processes scores every
image, as one uninterrupted process would, and no chunk is computed twice. Which rank computes a chunk
never changes a byte of its files: its batch is the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from segdeploy.data.binio import output_name, read_prediction
from segdeploy.data.images import image_size, read_label
from segdeploy.distributed import DistInfo, raise_if_peer_failed
from segdeploy.errors import SegdeployError
from segdeploy.evaluation.confusion import ConfusionMatrix
from segdeploy.inference.inputs import InputItem

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    """One rank's part of a run, as chunk indices."""

    todo: list[int]  # chunks this rank computes
    done: list[int]  # finished chunks this rank scores from their files


@dataclass(frozen=True)
class RankReport:
    """What one rank did, for the per-rank lines of the summary and of `bench --e2e`."""

    rank: int
    written: int
    already_done: int
    seconds: float

    @property
    def images_per_second(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0


def chunked(items: Sequence[T], batch: int) -> list[list[T]]:
    """Consecutive chunks of `batch` items (the last may be shorter): the batches of every run."""
    return [list(items[i:i + batch]) for i in range(0, len(items), batch)]


def finished_chunks(run_dir: Path, chunks: Sequence[Sequence[InputItem]], fmt: str) -> list[int]:
    """Chunks whose every file is in `run_dir` (written atomically, so a file there is whole)."""
    return [k for k, chunk in enumerate(chunks)
            if all((run_dir / output_name(item.stem, 0, fmt)).exists() for item in chunk)]


def deal(count: int, finished: Sequence[int], info: DistInfo) -> Shard:
    """This rank's share of `count` chunks: every world-th unfinished one, and every world-th finished one."""
    done = set(finished)
    todo = [k for k in range(count) if k not in done]
    return Shard(todo[info.rank::info.world_size], sorted(done)[info.rank::info.world_size])


def check_visible(run_dir: Path, info: DistInfo) -> None:
    """Every rank must write into the folder rank 0 made; on another node it is there only on shared storage."""
    if not run_dir.is_dir():
        raise SegdeployError.at(run_dir, f"the run folder rank 0 made is not visible to {info.label}: on several "
                                         "nodes, --output (and --resume) must be on storage every node shares")


def score_finished(chunks: Sequence[Sequence[InputItem]], run_dir: Path, fmt: str, num_classes: int,
                   confusion: ConfusionMatrix, info: DistInfo) -> int:
    """Add the class maps of finished images, read back from their files, to `confusion`; returns how many.

    They are the int32 maps that were scored when they were written, so the totals are exact.
    """
    scored = 0
    for chunk in chunks:
        for item in chunk:
            if item.label is None:
                continue
            label = item.label(image_size(item.source))  # the class map is at the image's size, the label's too
            confusion.update(_read_class_map(run_dir / output_name(item.stem, 0, fmt), label.shape, num_classes),
                             label)
            scored += 1
        raise_if_peer_failed(info)
    return scored


def _read_class_map(path: Path, shape: tuple[int, int], num_classes: int) -> np.ndarray:
    if path.suffix == ".png":
        class_map = read_label(path)
        if class_map.shape != shape:
            raise SegdeployError.at(path, f"a {class_map.shape[0]}x{class_map.shape[1]} class map where the label "
                                          f"is {shape[0]}x{shape[1]}: not written by this run's model and data")
        return class_map
    return read_prediction(path, shape, num_classes, dtypes=("int32",))
