"""Shared-memory slots: arrays come back equal through the slot, or through the pipe when they do not fit."""

from __future__ import annotations

import numpy as np

from segdeploy.inference.shared_slots import SlotRing, pack, payload_bytes


def test_arrays_round_trip_through_a_slot_and_the_slot_is_recycled():
    rng = np.random.default_rng(0)
    item = {"image": rng.integers(0, 256, (40, 60, 3), dtype=np.uint8),
            "label": np.asfortranarray(rng.integers(0, 19, (40, 60)).astype(np.uint8)),
            "windows": [rng.standard_normal((3, 8, 8), dtype=np.float32)], "stem": "a"}
    ring = SlotRing(count=2, size=payload_bytes(item))
    try:
        slots = [ring.take(), ring.take()]
        packed = pack(item, slots[0])
        assert packed.slot == slots[0][0] and len(packed.spans) == 3
        assert len(packed.pickled) < 1000  # the arrays travel in the slot, not in the pickle
        back = ring.unpack(packed)
        for key in ("image", "label"):
            np.testing.assert_array_equal(back[key], item[key])
        np.testing.assert_array_equal(back["windows"][0], item["windows"][0])
        assert back["stem"] == "a"
        ring.give_back(slots[0][0])
        assert ring.take()[0] == slots[0][0]
        bigger = {"image": np.zeros((100, 100, 3), np.uint8)}  # outgrows the slot: through the pipe
        fallback = pack(bigger, slots[1])
        assert fallback.slot is None
        np.testing.assert_array_equal(ring.unpack(fallback)["image"], bigger["image"])
    finally:
        ring.close()
    assert not ring.paths
