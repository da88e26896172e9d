"""A training run's configuration (frozen) and one process's live state of it (mutable)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from segdeploy.distributed import DistInfo
from segdeploy.models.spec import ModelSpec, TrainRecipe
from segdeploy.training.log import RunLog


@dataclass(frozen=True)
class TrainConfig:
    """One run. `recipe` holds the model's training numbers: its spec's `train_recipe` plus overrides."""

    data_root: Path
    work_dir: Path
    recipe: TrainRecipe
    amp: bool = False  # bf16 autocast on CPU; fp16 autocast + GradScaler on CUDA
    resume: bool = False  # continue from the newest checkpoint in work_dir/checkpoints
    sync_bn: bool = False  # BatchNorm statistics over the global batch (CUDA only)
    freeze_bn: bool = False  # mmseg's norm_eval: BN layers use and keep their running statistics
    perf: bool = False  # add images/s per device and in total to the log; write perf.json
    init_backbone: Path | None = None  # ImageNet-pretrained backbone file in mmseg's layout
    trust_checkpoint: bool = False
    seed: int = 0
    log_every: int = 50
    keep_checkpoints: int = 3
    workers: int = 2  # DataLoader worker processes per training process



@dataclass
class Run:
    """The live state of one process's run (mutable, unlike the config)."""

    spec: ModelSpec
    config: TrainConfig
    info: DistInfo
    model: nn.Module  # DDP-wrapped when distributed
    model_without_ddp: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    log: RunLog
    iteration: int = 0
    skipped_steps: int = 0  # AMP steps not applied because of inf/NaN gradients
