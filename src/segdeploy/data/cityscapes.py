"""Cityscapes: the 19 evaluation classes, their palette, and the id -> trainId table.

The tables come from cityscapesscripts' own label list (importing it is cheap and, unlike its
evaluator, does not touch numpy APIs that numpy 2.4 removed).
"""

from __future__ import annotations

import numpy as np
from cityscapesscripts.helpers.labels import labels as _CS_LABELS

IGNORE_INDEX = 255

_EVAL_LABELS = sorted((lb for lb in _CS_LABELS if 0 <= lb.trainId < 255), key=lambda lb: lb.trainId)
CITYSCAPES_CLASSES: tuple[str, ...] = tuple(lb.name for lb in _EVAL_LABELS)
CITYSCAPES_PALETTE: tuple[tuple[int, int, int], ...] = tuple(tuple(lb.color) for lb in _EVAL_LABELS)

# labelIds 0..33 -> trainIds (255 = ignored); any other id is unexpected and rejected by readers.
ID_TO_TRAINID = np.full(256, -1, dtype=np.int16)
for _lb in _CS_LABELS:
    if 0 <= _lb.id <= 33:
        ID_TO_TRAINID[_lb.id] = _lb.trainId
# trainId -> labelId for the official evaluator: the first label with that trainId wins (255 -> 0).
TRAINID_TO_ID = np.zeros(256, dtype=np.uint8)
for _lb in reversed([lb for lb in _CS_LABELS if 0 <= lb.id <= 33]):
    TRAINID_TO_ID[_lb.trainId] = _lb.id
