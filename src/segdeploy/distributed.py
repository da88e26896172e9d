"""Plain torchrun process groups, for training and for sharded inference: rank facts, devices, collectives.

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT for every process, on one
node or several (`--nnodes --node-rank --master-addr --master-port`), so the code is the same; run
without torchrun, a command is rank 0 of 1.

When a process fails, torchrun stops the other processes of its node, but processes on other nodes
would only notice at their next collective, possibly hours later in an evaluation. So a failing rank
writes its error into torchrun's key-value store (`announce_failure`), the others look there between
batches (`raise_if_peer_failed`) and stop with that error; a peer that dies without a word (kill -9,
out of memory) breaks the next collective, or the process group's timeout ends the wait.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist

from segdeploy.errors import SegdeployError, one_line
from segdeploy.runtime.device import process_device

T = TypeVar("T")

# How long a collective waits for the slowest rank: an evaluation's ranks meet at its start and end,
# so this bounds how unevenly they may finish (torch's own default for gloo).
DEFAULT_TIMEOUT = timedelta(minutes=30)
_FAILED = "failed"  # store key holding the first failing rank's one-line error


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits; rank 0 of 1 on CPU when not launched by torchrun."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    store: dist.Store | None = field(default=None, compare=False, repr=False)  # torchrun's, for failures

    @property
    def distributed(self) -> bool:
        return dist.is_available() and dist.is_initialized()

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def label(self) -> str:
        return f"rank {self.rank} of {self.world_size}"


def init_distributed_mode(device: str | None = None, timeout: timedelta = DEFAULT_TIMEOUT) -> DistInfo:
    """Join torchrun's process group (nccl on GPUs, gloo on CPU); single-process without torchrun.

    `device` is `--device` (None: CUDA when torch has it, else the CPU); under torchrun `cuda` becomes
    this process's `cuda:LOCAL_RANK`. ONNX Runtime on CUDA with a CPU-only torch talks over gloo.
    """
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return DistInfo(device=torch.device(device))
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    chosen = torch.device(process_device(device, local_rank))
    nccl = chosen.type == "cuda" and torch.cuda.is_available()
    if nccl:
        torch.cuda.set_device(chosen)  # before init: NCCL binds each process to its own GPU
    if not dist.is_initialized():
        dist.init_process_group("nccl" if nccl else "gloo", init_method="env://", rank=rank,
                                world_size=world_size, timeout=timeout, device_id=chosen if nccl else None)
    return DistInfo(rank, world_size, local_rank, chosen, _failure_store(timeout))


def _failure_store(timeout: timedelta) -> dist.Store:
    """A client of the store every rank reaches (torchrun's agent store, or rank 0's), under a key
    prefix of this launch attempt, so a restarted attempt does not see the previous one's failure."""
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False,
                          timeout=timeout)
    return dist.PrefixStore(f"segdeploy/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}", store)


@contextmanager
def process_group(device: str | None = None, timeout: timedelta = DEFAULT_TIMEOUT) -> Iterator[DistInfo]:
    """The process group for the length of one command: errors name the rank, failures reach every rank."""
    info = init_distributed_mode(device, timeout)
    try:
        yield info
    except BaseException as err:
        if not info.distributed:
            raise
        announce_failure(info, one_line(str(err)) or type(err).__name__)
        if isinstance(err, SegdeployError):
            raise type(err)(f"{info.label}: {err}") from err
        raise
    finally:
        cleanup(info)


def announce_failure(info: DistInfo, message: str) -> None:
    """Record why this rank stops, unless another rank's failure is already recorded."""
    if info.store is None:
        return
    try:
        info.store.compare_set(_FAILED, "", f"rank {info.rank}: {message}")
    except (RuntimeError, dist.DistError):
        pass  # the store went down with its host: the peers learn of it at their next collective


def peer_failure(info: DistInfo) -> str | None:
    """The first failing rank's error, if one was announced."""
    if info.store is None:
        return None
    try:
        return info.store.get(_FAILED).decode() if info.store.check([_FAILED]) else None
    except (RuntimeError, dist.DistError) as err:
        return f"the run's key-value store is gone ({one_line(str(err))[:120]}): its host stopped"


def raise_if_peer_failed(info: DistInfo) -> None:
    """Stop here when another rank has failed (called between batches: a store lookup, no collective)."""
    failure = peer_failure(info)
    if failure is not None:
        raise SegdeployError(f"stopped because {failure}")


@contextmanager
def collective(info: DistInfo, what: str) -> Iterator[None]:
    """A collective whose failure (a peer died, or did not come within the timeout) becomes one line."""
    try:
        yield
    except (RuntimeError, dist.DistError) as err:
        if not info.distributed:
            raise
        cause = peer_failure(info) or f"another process stopped or timed out ({one_line(str(err))[:200]})"
        raise SegdeployError(f"{what}: {cause}") from err


def from_main(make: Callable[[], T], info: DistInfo) -> T:
    """`make()` run by rank 0 alone, its result on every rank (a run folder rank 0 created, what it found
    there). When it raises, the other ranks raise too, rather than wait for a value that never comes."""
    if not info.distributed:
        return make()
    if info.is_main:
        try:
            value = make()
        except BaseException as err:
            _broadcast([False, one_line(str(err)) or type(err).__name__], info)
            raise
        _broadcast([True, value], info)
        return value
    ok, value = _broadcast([None, None], info)
    if not ok:
        raise SegdeployError(f"stopped because rank 0 failed: {value}")
    return value


def _broadcast(box: list, info: DistInfo) -> list:
    with collective(info, "waiting for rank 0"):
        dist.broadcast_object_list(box, src=0)
    return box


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
