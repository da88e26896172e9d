"""Training samples and the sampler that shards, shuffles and resumes them.

A sample's augmentation is seeded by (seed, epoch, dataset index) alone: it does not depend on the
number of processes, on DataLoader workers, or on where a run was interrupted, which is what makes
a resumed run and a run on more processes see the same augmented images.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DistributedSampler, Sampler

from segdeploy.data.cityscapes import Sample
from segdeploy.data.datasets import list_samples, read_label
from segdeploy.data.images import read_rgb
from segdeploy.models.spec import ModelSpec, TrainRecipe
from segdeploy.training.augment import augment


def training_samples(spec: ModelSpec, root: Path, split: str) -> list[Sample]:
    """The labelled samples of `split`; "a+b" concatenates splits in that order.

    For VOC, "train+aug" is mmseg's voc12aug training set: the data layer reads the VOC train ids'
    own masks and, for the SBD-only ids of `aug.txt`, the converted `SegmentationClassAug` ones.
    """
    return [sample for part in split.split("+") for sample in list_samples(spec.dataset, root, part)]


class TrainDataset(torch.utils.data.Dataset):
    """Indexed by (epoch, index): (image (3, h, w) float32 normalised, label (h, w) int64)."""

    def __init__(self, spec: ModelSpec, samples: list[Sample], recipe: TrainRecipe, seed: int) -> None:
        self.spec, self.samples, self.recipe, self.seed = spec, samples, recipe, seed

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, index = key
        rng = np.random.default_rng([self.seed, epoch, index])
        sample = self.samples[index]
        image, label = read_rgb(sample.image_path), read_label(self.spec.dataset, sample)
        tensor, label = augment(image, label, self.recipe, self.spec.preprocess, rng)
        return torch.from_numpy(tensor), torch.from_numpy(label)


class EpochSampler(Sampler[tuple[int, int]]):
    """This rank's DistributedSampler shard of one epoch, as (epoch, index) keys, optionally
    starting `skip` keys in (a resumed run continues mid-epoch without loading the skipped images)."""

    def __init__(self, dataset: TrainDataset, rank: int, world_size: int, seed: int) -> None:
        self.shard = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed)
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.shard.set_epoch(epoch)  # reshuffles: the permutation is seeded by seed + epoch
        self.epoch, self.skip = epoch, skip

    def __len__(self) -> int:
        return len(self.shard) - self.skip

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for k, index in enumerate(self.shard):
            if k >= self.skip:
                yield self.epoch, index
