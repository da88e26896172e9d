"""Plain torchrun DDP setup: one process per device, rank facts from torchrun's environment."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits; rank 0 of 1 on CPU when not launched by torchrun."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return dist.is_available() and dist.is_initialized()

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed_mode() -> DistInfo:
    """Join torchrun's process group (nccl on GPUs, gloo on CPU); single-process without torchrun.

    torchrun sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT for every process, on
    one node or several (`--nnodes --node-rank --master-addr --master-port`), so the code is the same.
    """
    cuda = torch.cuda.is_available()
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return DistInfo(device=torch.device("cuda", 0) if cuda else torch.device("cpu"))
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)  # before init: NCCL binds each process to its own GPU
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo", init_method="env://", rank=rank,
                                world_size=world_size, device_id=device if cuda else None)
    return DistInfo(rank, world_size, local_rank, device)


def all_reduce_mean(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """The mean of `values` over all ranks (a float64 CPU tensor of log statistics)."""
    if not info.distributed:
        return values
    reduced = values.to(info.device)
    dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
    return reduced.cpu() / info.world_size


def gather_objects(obj: object, info: DistInfo) -> list[object]:
    """Every rank's `obj`, in rank order, on every rank (e.g. per-rank RNG states for a checkpoint)."""
    if not info.distributed:
        return [obj]
    gathered: list[object] = [None] * info.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    if info.distributed:
        dist.destroy_process_group()
