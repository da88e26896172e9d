"""Label maps as mmsegmentation reads them before scoring: `reduce_zero_label`."""

from __future__ import annotations

import numpy as np

from segdeploy.data.cityscapes import IGNORE_INDEX


def reduce_zero_label(label: np.ndarray) -> np.ndarray:
    """mmseg's `reduce_zero_label`: class 0 (e.g. ADE20K's "other") becomes ignored, every other
    class moves down by one, ignored stays ignored. A new uint8 array; `label` is untouched.

    mmseg's steps, in uint8: 0 -> 255, then all -1, then 254 (which was 0 or 255) -> 255.
    """
    label = np.asarray(label)
    if label.size and (int(label.min()) < 0 or int(label.max()) > 255):
        raise ValueError(f"label values {int(label.min())}..{int(label.max())} do not fit 0..255")
    reduced = label.astype(np.uint8)  # copies, so the caller's array is never written
    reduced[reduced == 0] = IGNORE_INDEX
    reduced -= 1
    reduced[reduced == IGNORE_INDEX - 1] = IGNORE_INDEX
    return reduced
