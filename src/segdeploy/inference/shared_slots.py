"""Worker processes hand their arrays over through shared memory instead of a pipe.

A decoded 2048x1024 image and its label are 8 MB; pickled through the executor's pipe they cost
about 10 ms of CPU per image on each side (measured here), a quarter of the decode itself. Instead
the caller makes a ring of slots, files in /dev/shm mapped into every process; a worker pickles its
result with protocol 5, whose out-of-band buffers are the arrays' memory, copies those once into
the slot it was given, and sends back only the small pickle and where each buffer went. The caller
unpickles onto views of the slot (no copy) and recycles the slot when the item is done, so at most
the ring's items are in flight. Where no slot can be made, or a result outgrows its slot, the pipe
is used. Plain `mmap`s rather than `multiprocessing.shared_memory`: a mapping that arrays still view
is then unmapped when the last of them goes, instead of refusing to close.
"""

from __future__ import annotations

import mmap
import os
import pickle
import queue
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Slots a worker process has mapped, by path: mapped once, reused for every item.
_MAPPED: dict[str, mmap.mmap] = {}
_SHM = Path("/dev/shm")


@dataclass(frozen=True)
class Packed:
    """A result as it crosses the process boundary."""

    pickled: bytes
    slot: int | None  # None: the buffers are inside `pickled`
    spans: tuple[tuple[int, int], ...] = ()  # (offset, length) of each out-of-band buffer in the slot


def payload_bytes(obj: object) -> int:
    """Bytes of the out-of-band buffers (array memory) pickling `obj` would hand over."""
    buffers: list[pickle.PickleBuffer] = []
    pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    return sum(b.raw().nbytes for b in buffers)


def pack(obj: object, slot: tuple[int, str, int] | None) -> Packed:
    """`obj` for the trip back: its arrays copied into shared slot (index, name, size), if they fit."""
    buffers: list[pickle.PickleBuffer] = []
    pickled = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    views = [b.raw() for b in buffers]  # flat bytes, whatever the array's order
    if slot is None or sum(v.nbytes for v in views) > slot[2]:
        return Packed(pickle.dumps(obj, protocol=5), None)
    index, path, _ = slot
    block = _MAPPED.get(path) or _MAPPED.setdefault(path, _map(path))
    spans, offset = [], 0
    for view in views:
        block[offset:offset + view.nbytes] = view
        spans.append((offset, view.nbytes))
        offset += view.nbytes
    return Packed(pickled, index, tuple(spans))


def _map(path: str) -> mmap.mmap:
    with open(path, "r+b") as f:
        return mmap.mmap(f.fileno(), 0)


class SlotRing:
    """Shared slots of one size, taken for an item in flight and given back when it is done."""

    def __init__(self, count: int, size: int) -> None:
        self.size = max(size, 1)
        self.paths: list[str] = []
        self.blocks: list[mmap.mmap] = []
        folder = _SHM if _SHM.is_dir() and os.access(_SHM, os.W_OK) else None  # else the temp folder's page cache
        try:
            for _ in range(count):
                fd, path = tempfile.mkstemp(prefix="segdeploy-slot-", dir=folder)
                self.paths.append(path)
                with os.fdopen(fd, "r+b") as f:
                    f.truncate(self.size)
                    self.blocks.append(mmap.mmap(f.fileno(), self.size))
        except OSError:  # no room for the slots: the pipe it is
            self.close()
        self.free: queue.SimpleQueue[int] = queue.SimpleQueue()
        for index in range(len(self.blocks)):
            self.free.put(index)

    def take(self) -> tuple[int, str, int] | None:
        """A free slot (waits for one: the ring bounds what is in flight), None without slots."""
        if not self.blocks:
            return None
        index = self.free.get()
        return index, self.paths[index], self.size

    def give_back(self, index: int | None) -> None:
        if index is not None:
            self.free.put(index)

    def unpack(self, packed: Packed) -> object:
        """The worker's result, its arrays viewing the slot (valid until the slot is given back)."""
        if packed.slot is None:
            return pickle.loads(packed.pickled)
        block = memoryview(self.blocks[packed.slot])
        return pickle.loads(packed.pickled, buffers=[block[offset:offset + length] for offset, length in packed.spans])

    def close(self) -> None:
        """Remove the files; each mapping goes with the last array viewing it."""
        for path in self.paths:
            Path(path).unlink(missing_ok=True)
        self.paths, self.blocks = [], []
