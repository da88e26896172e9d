"""`segdeploy train`: plain torchrun DDP training on 1..N processes and nodes, AMP, bit-exact resume.

The shape of torchvision's references/segmentation: `init_distributed_mode`, a DistributedSampler
with `set_epoch`, DDP around the model and `model_without_ddp` for everything saved, rank 0 writing.
Run without torchrun it is one process on one device; under torchrun every process runs this code.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from segdeploy.data.cityscapes import IGNORE_INDEX, Sample
from segdeploy.data.datasets import read_label
from segdeploy.data.images import read_rgb
from segdeploy.data.variants import get_variant, make_inputs, to_class_map
from segdeploy.distributed import DistInfo, barrier, cleanup, gather_objects, init_distributed_mode
from segdeploy.errors import SegdeployError
from segdeploy.evaluation.confusion import ConfusionMatrix
from segdeploy.evaluation.metrics import segmentation_metrics
from segdeploy.models.spec import ModelSpec, TrainRecipe
from segdeploy.reporting.fingerprint import check, describe_differences
from segdeploy.training import checkpoint
from segdeploy.training.checkpoint import (
    capture_rng,
    check_fresh_work_dir,
    init_backbone,
    save_state_dict,
    save_training_checkpoint,
)
from segdeploy.training.dataset import EpochSampler, TrainDataset, training_samples
from segdeploy.training.log import RunLog
from segdeploy.training.meter import Meter
from segdeploy.training.run import Run, TrainConfig

_PERF_WARMUP = 5  # iterations of each process run left out of the --perf images/s (allocator, caches)


@dataclass(frozen=True)
class PolyLR:
    """mmseg's poly policy by iteration, as the LambdaLR factor of the base lr (saved with the schedule)."""

    base: float
    min_lr: float
    power: float
    iters: int

    def __call__(self, step: int) -> float:
        lr = (self.base - self.min_lr) * (1 - min(step, self.iters) / self.iters) ** self.power + self.min_lr
        return lr / self.base


def train(spec: ModelSpec, config: TrainConfig, model: nn.Module | None = None) -> Path:
    """Train `spec`'s network (or `model`, e.g. its tiny variant) and return `work_dir/latest.pth`,
    a bare state dict in the official layout, written by rank 0 on every rank's return."""
    info = init_distributed_mode()
    try:
        return _train(spec, config, info, model)
    finally:
        cleanup(info)


def _train(spec: ModelSpec, config: TrainConfig, info: DistInfo, model: nn.Module | None) -> Path:
    recipe = config.recipe
    if config.sync_bn and info.device.type != "cuda":
        raise SegdeployError.at("--sync-bn", "needs CUDA devices: torch's SyncBatchNorm has no CPU kernel")
    if not config.resume:
        check_fresh_work_dir(config.work_dir)
    config.work_dir.mkdir(parents=True, exist_ok=True)
    run = _setup(spec, config, info, model)
    loader, sampler, iters_per_epoch = _make_loader(spec, config, info)
    val_samples = training_samples(spec, config.data_root, recipe.val_split) if recipe.eval_every else []
    if config.resume:
        _resume(run)
    else:
        run.log.truncate_after(0)  # a fresh run starts a fresh log
    run.log.info(f"{spec.name}: {info.world_size} process(es) x {recipe.batch_per_device} images "
                 f"= global batch {info.world_size * recipe.batch_per_device}, {iters_per_epoch} iterations "
                 f"per epoch, device {info.device}, from iteration {run.iteration} to {recipe.iters}")
    _loop(run, loader, sampler, iters_per_epoch, val_samples)
    path = config.work_dir / "latest.pth"
    if info.is_main:
        save_state_dict(run.model_without_ddp, path)
    barrier(info)  # no rank returns the path before the file is there
    return path


def _seed(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _setup(spec: ModelSpec, config: TrainConfig, info: DistInfo, model: nn.Module | None) -> Run:
    _seed(config.seed)  # the same initial weights on every rank, and for any number of ranks
    model = model if model is not None else spec.build()
    if config.init_backbone is not None:
        init_backbone(model, config.init_backbone, spec.name, config.trust_checkpoint)
    if config.sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model_without_ddp = model.to(info.device)
    _set_train_mode(model_without_ddp, config.freeze_bn)
    if info.distributed:
        model = nn.parallel.DistributedDataParallel(
            model_without_ddp, device_ids=[info.local_rank] if info.device.type == "cuda" else None)
    _seed(config.seed + info.rank)  # each rank its own dropout masks
    optimizer = _make_optimizer(model_without_ddp, config.recipe)
    r = config.recipe
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, PolyLR(r.lr, r.min_lr, r.poly_power, r.iters))
    # fp16 needs loss scaling; bf16 has float32's exponent range and does not.
    scaler = torch.amp.GradScaler("cuda", enabled=config.amp and info.device.type == "cuda")
    log = RunLog(config.work_dir, r.iters, enabled=info.is_main)
    return Run(spec, config, info, model, model_without_ddp, optimizer, scheduler, scaler, log)


def _set_train_mode(model: nn.Module, freeze_bn: bool) -> None:
    model.train()
    if freeze_bn:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


def _make_optimizer(model: nn.Module, recipe: TrainRecipe) -> torch.optim.Optimizer:
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                               weight_decay=recipe.weight_decay)
    return torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)


def _make_loader(spec: ModelSpec, config: TrainConfig,
                 info: DistInfo) -> tuple[torch.utils.data.DataLoader, EpochSampler, int]:
    recipe = config.recipe
    samples = training_samples(spec, config.data_root, recipe.train_split)
    dataset = TrainDataset(spec, samples, recipe, config.seed)
    sampler = EpochSampler(dataset, info.rank, info.world_size, config.seed)
    iters_per_epoch = len(sampler.shard) // recipe.batch_per_device
    if iters_per_epoch == 0:
        global_batch = f"{info.world_size} x {recipe.batch_per_device}"
        raise SegdeployError.at(config.data_root, f"split {recipe.train_split!r} has {len(samples)} images, "
                                f"fewer than one global batch ({global_batch})")
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=recipe.batch_per_device, sampler=sampler, drop_last=True,
        num_workers=config.workers, persistent_workers=config.workers > 0,
        pin_memory=info.device.type == "cuda",
        # Its own generator: creating loader iterators must not draw from the global RNG, or a
        # resumed run (which creates one mid-epoch) would see different dropout masks.
        generator=torch.Generator())
    return loader, sampler, iters_per_epoch


def _meta(run: Run) -> dict[str, Any]:
    """What a resumed run must share with the run that wrote the checkpoint."""
    c = run.config
    return {"model": run.spec.name, **{f"recipe.{k}": v for k, v in asdict(c.recipe).items()},
            "world_size": run.info.world_size, "amp": c.amp, "sync_bn": c.sync_bn, "freeze_bn": c.freeze_bn,
            "seed": c.seed}


def _resume(run: Run) -> None:
    path = checkpoint.latest_training_checkpoint(run.config.work_dir)
    state = checkpoint.load_training_checkpoint(path)
    saved, current = state["meta"], _meta(run)
    differing = check(saved, current)
    if differing:
        raise SegdeployError.at(path, f"was written with other settings; resume needs the same "
                                      f"({describe_differences(saved, current, differing)})")
    run.model_without_ddp.load_state_dict(state["model"], strict=True)
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    run.scaler.load_state_dict(state["scaler"])
    run.iteration, run.skipped_steps = state["iteration"], state["skipped_steps"]
    checkpoint.restore_rng(state["rng"][run.info.rank])  # last: nothing after it may draw random numbers
    run.log.truncate_after(run.iteration)
    run.log.info(f"resumed from {path} at iteration {run.iteration}")


def _save_checkpoint(run: Run) -> None:
    """Every rank hands over its RNG states; rank 0 writes the file."""
    rng_states = gather_objects(capture_rng(), run.info)
    if not run.info.is_main:
        return
    state = {"model": run.model_without_ddp.state_dict(), "optimizer": run.optimizer.state_dict(),
             "scheduler": run.scheduler.state_dict(), "scaler": run.scaler.state_dict(),
             "iteration": run.iteration, "skipped_steps": run.skipped_steps, "rng": rng_states,
             "meta": _meta(run)}
    path = save_training_checkpoint(state, run.config.work_dir, run.config.keep_checkpoints)
    run.log.info(f"saved checkpoint {path}")


def _loop(run: Run, loader: torch.utils.data.DataLoader, sampler: EpochSampler, iters_per_epoch: int,
          val_samples: list[Sample]) -> None:
    recipe, config = run.config.recipe, run.config
    meter = Meter(run, _PERF_WARMUP)
    epoch, batch_in_epoch = divmod(run.iteration, iters_per_epoch)
    while run.iteration < recipe.iters:
        # The sampler position: a resumed run starts after the batches its epoch already used.
        sampler.set_epoch(epoch, skip=batch_in_epoch * recipe.batch_per_device)
        meter.data_started()
        for images, labels in loader:
            meter.batch_ready()
            meter.record_step(_train_step(run, images, labels))
            run.iteration += 1
            if _due(run, config.log_every):
                run.log.write(meter.flush())
            if _due(run, recipe.eval_every):
                _evaluate(run, val_samples)
            if _due(run, recipe.checkpoint_every):
                _save_checkpoint(run)
            if run.iteration >= recipe.iters:
                break
            meter.data_started()
        epoch, batch_in_epoch = epoch + 1, 0
    if config.perf:
        meter.write_perf(config.work_dir / "perf.json")


def _due(run: Run, every: int) -> bool:
    """A periodic action runs every `every` iterations and after the last one; never when `every` is 0."""
    return every > 0 and (run.iteration % every == 0 or run.iteration == run.config.recipe.iters)


def _train_step(run: Run, images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """One optimizer step; returns detached loss/accuracy values for the log."""
    device = run.info.device
    images = images.to(device, non_blocking=True)
    labels = labels.to(device, non_blocking=True)
    amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    with torch.autocast(device.type, dtype=amp_dtype, enabled=run.config.amp):
        logits, aux = _forward(run, images)
        loss, parts = _loss(run.spec, logits, aux, labels)
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    if not _optimizer_step(run):
        run.skipped_steps += 1
    run.scheduler.step()
    return parts


def _forward(run: Run, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    try:
        return run.model(images)
    except ValueError as err:
        # BatchNorm in training mode cannot normalise a single value per channel: one image whose
        # pyramid pooling made a 1x1 feature (Fast-SCNN, ICNet). torch says so only in this message.
        if "Expected more than 1 value per channel" not in str(err):
            raise
        raise SegdeployError.at("--batch-per-device", f"{run.spec.name} needs at least 2 images per process in "
                                "training (BatchNorm over its 1x1 pooled features), got 1") from err


def _optimizer_step(run: Run) -> bool:
    """Apply the gradients unless AMP produced inf/NaN ones; False when the step was skipped.

    Gradients are already averaged over ranks here, so every rank takes the same decision.
    """
    if run.scaler.is_enabled():
        scale = run.scaler.get_scale()
        run.scaler.step(run.optimizer)  # skips the step itself on inf/NaN gradients
        run.scaler.update()
        return run.scaler.get_scale() >= scale  # the scale only drops after a skipped step
    if run.config.amp:
        grads = [p.grad for p in run.model_without_ddp.parameters() if p.grad is not None]
        if not torch.isfinite(torch.nn.utils.get_total_norm(grads)):
            return False
    run.optimizer.step()
    return True


def _loss(spec: ModelSpec, logits: torch.Tensor, aux: list[torch.Tensor],
          labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Cross-entropy (ignore 255) of the decode head plus the weighted auxiliary heads, with mmseg's
    log names (`decode.loss_seg`, `aux.acc_seg`; `aux_0`, `aux_1`... for several auxiliary heads).

    Auxiliary logits at a lower resolution than the labels are upsampled to them (bilinear).
    """
    names = ["aux"] if len(aux) == 1 else [f"aux_{k}" for k in range(len(aux))]
    loss = F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX)
    parts = {"decode.loss_seg": loss.detach(), "decode.acc_seg": _accuracy(logits, labels)}
    for name, weight, aux_logits in zip(names, spec.aux_loss_weights, aux, strict=True):
        if aux_logits.shape[-2:] != labels.shape[-2:]:
            aux_logits = F.interpolate(aux_logits, labels.shape[-2:], mode="bilinear", align_corners=False)
        aux_loss = weight * F.cross_entropy(aux_logits, labels, ignore_index=IGNORE_INDEX)
        parts[f"{name}.loss_seg"], parts[f"{name}.acc_seg"] = aux_loss.detach(), _accuracy(aux_logits, labels)
        loss = loss + aux_loss
    parts["loss"] = loss.detach()
    return loss, parts


@torch.no_grad()
def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Top-1 pixel accuracy in percent over non-ignored pixels (mmseg's `acc_seg`)."""
    valid = labels != IGNORE_INDEX
    correct = (logits.argmax(1) == labels) & valid
    return correct.sum().float() * 100 / valid.sum().clamp(min=1)


def _evaluate(run: Run, samples: list[Sample]) -> None:
    """Each rank scores every world_size-th image; one all-reduce of the confusion matrix sums them."""
    spec, info, model = run.spec, run.info, run.model_without_ddp
    variant = get_variant(spec, run.config.recipe.val_variant)
    confusion = ConfusionMatrix(spec.num_classes)
    model.eval()
    with torch.inference_mode():
        for sample in samples[info.rank::info.world_size]:
            inputs, geometry = make_inputs(spec, variant, read_rgb(sample.image_path))
            logits = model(torch.from_numpy(np.stack(inputs)).to(info.device))  # (K, C, h, w), K inputs
            class_map = to_class_map(spec, geometry, list(logits.float().cpu().numpy()), sample.image_path)
            confusion.update(class_map, read_label(spec.dataset, sample))
    confusion.all_reduce_()
    _set_train_mode(model, run.config.freeze_bn)
    metrics = segmentation_metrics(confusion)
    run.log.write({"mode": "val", "iter": run.iteration, "images": len(samples), "variant": variant.name,
                   **{name: round(getattr(metrics, name), 4) for name in ("aAcc", "mIoU", "mAcc")}})
