"""Pascal VOC 2012: the 21 classes and the standard VOC colour map."""

from __future__ import annotations

IGNORE_INDEX = 255

VOC_CLASSES: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)


def voc_colormap(n: int = 256) -> list[tuple[int, int, int]]:
    """Index i's bits, three at a time, go to R, G, B from each channel's top bit down."""
    colours = []
    for i in range(n):
        r = g = b = 0
        c = i
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colours.append((r, g, b))
    return colours


VOC_PALETTE: tuple[tuple[int, int, int], ...] = tuple(voc_colormap(len(VOC_CLASSES)))
