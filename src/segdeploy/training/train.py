"""`segdeploy train`: a plain single-process training loop (cross-entropy, aux heads, poly LR)."""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from segdeploy.data.cityscapes import IGNORE_INDEX
from segdeploy.models.spec import ModelSpec
from segdeploy.reporting.atomic import write_bytes_atomic, write_text_atomic
from segdeploy.reporting.progress import progress_bar


@dataclass(frozen=True)
class TrainConfig:
    data_root: Path
    work_dir: Path
    split: str = "train"
    iters: int = 2000
    batch: int = 8
    crop: tuple[int, int] | None = None  # (H, W) random crop; None trains on whole images
    lr: float = 2e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"  # or "sgd" (momentum 0.9)
    seed: int = 0
    log_every: int = 20
    workers: int = 1


def train(spec: ModelSpec, config: TrainConfig, model: torch.nn.Module | None = None,
          show_progress: bool = True) -> Path:
    """Train `spec`'s network and write `work_dir/latest.pth`, a bare state dict in the official layout."""
    from segdeploy.training.dataset import TrainDataset

    torch.manual_seed(config.seed)
    model = model if model is not None else spec.build()
    model.train()
    dataset = TrainDataset(spec, config.data_root, config.split, config.crop, seed=config.seed)
    loader = torch.utils.data.DataLoader(dataset, batch_size=config.batch, shuffle=True, drop_last=True,
                                         num_workers=config.workers, persistent_workers=config.workers > 0,
                                         generator=torch.Generator().manual_seed(config.seed))
    optimizer = _optimizer(model, config)
    log_path = config.work_dir / "log.jsonl"
    config.work_dir.mkdir(parents=True, exist_ok=True)
    log_lines: list[str] = []
    iteration, started = 0, time.perf_counter()
    with progress_bar("train", config.iters, unit="it", enabled=show_progress) as advance:
        while iteration < config.iters:
            for images, labels in loader:
                lr = _poly_lr(config.lr, iteration, config.iters)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                loss, parts = _loss(spec, model, images, labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                iteration += 1
                advance(1)
                if iteration % config.log_every == 0 or iteration == config.iters:
                    log_lines.append(json.dumps({"iter": iteration, "lr": lr, "loss": float(loss), **parts,
                                                 "time": time.perf_counter() - started}))
                    write_text_atomic(log_path, "\n".join(log_lines) + "\n")
                if iteration >= config.iters:
                    break
    return save_state_dict(model, config.work_dir / "latest.pth")


def _optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)
    return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def _poly_lr(base: float, iteration: int, total: int, power: float = 0.9, min_lr: float = 1e-6) -> float:
    return (base - min_lr) * (1 - iteration / total) ** power + min_lr


def _loss(spec: ModelSpec, model: torch.nn.Module, images: torch.Tensor,
          labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """Cross-entropy (ignore 255) on the main output plus weighted auxiliary outputs.

    Auxiliary logits at a lower resolution than the labels are upsampled to the labels (bilinear).
    """
    logits, aux = model(images)
    loss = F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX)
    parts = {"loss_main": loss.item()}
    for k, (weight, aux_logits) in enumerate(zip(spec.aux_loss_weights, aux)):
        if aux_logits.shape[-2:] != labels.shape[-2:]:
            aux_logits = F.interpolate(aux_logits, labels.shape[-2:], mode="bilinear", align_corners=False)
        aux_loss = F.cross_entropy(aux_logits, labels, ignore_index=IGNORE_INDEX)
        parts[f"loss_aux{k}"] = aux_loss.item()
        loss = loss + weight * aux_loss
    return loss, parts


def save_state_dict(model: torch.nn.Module, path: Path) -> Path:
    """A bare state dict (the official files' layout), written atomically."""
    buffer = io.BytesIO()
    torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, buffer)
    return write_bytes_atomic(path, buffer.getvalue())
