"""Pascal VOC 2012: the 21 classes, the standard VOC colour map, and the segmentation split reader."""

from __future__ import annotations

from pathlib import Path

from segdeploy.data.cityscapes import Sample
from segdeploy.data.textfile import read_text_file
from segdeploy.errors import SegdeployError

IGNORE_INDEX = 255
AUG_LABEL_FOLDER = "SegmentationClassAug"
_LABEL_FOLDERS = ("SegmentationClass", AUG_LABEL_FOLDER)  # searched in this order

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


def list_voc(root: str | Path, split: str, *, require_labels: bool = True) -> list[Sample]:
    """Samples of `VOC2012/ImageSets/Segmentation/<split>.txt`, in the file's order (as mmseg reads it).

    Images are `JPEGImages/<id>.jpg`, labels the palette PNGs `SegmentationClass/<id>.png`, else the
    SBD masks `SegmentationClassAug/<id>.png` that `segdeploy data voc-aug` writes. That order is
    mmseg's voc12aug: VOC train ids keep their own masks (with the 255 border), ids only in SBD
    (`aug.txt`) use the converted ones.
    """
    root = Path(root)
    split_file = root / "ImageSets" / "Segmentation" / f"{split}.txt"
    if not split_file.is_file():
        raise SegdeployError.at(split_file, "no such split file (expected the VOC2012 layout "
                                            "ImageSets/Segmentation/<split>.txt)")
    ids = [line.strip() for line in read_text_file(split_file).splitlines() if line.strip()]
    if not ids:
        raise SegdeployError.at(split_file, "lists no image ids")
    samples = []
    for image_id in ids:
        image_path = root / "JPEGImages" / f"{image_id}.jpg"
        if not image_path.is_file():
            raise SegdeployError.at(image_path, f"image listed in {split_file.name} is missing")
        label_path = next((root / folder / f"{image_id}.png" for folder in _LABEL_FOLDERS
                           if (root / folder / f"{image_id}.png").is_file()), None)
        if label_path is None and require_labels:
            raise SegdeployError.at(root / _LABEL_FOLDERS[0] / f"{image_id}.png", f"no label for {image_path.name}")
        samples.append(Sample(image_id, image_path, label_path))
    return samples
