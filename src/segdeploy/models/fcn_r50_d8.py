"""FCN with a dilated ResNet-50-V1c backbone, output stride 8 (mmsegmentation 0.x `fcn_r50-d8`).

Spec: specs/fcn.md §A. Module names equal the keys of the official mmseg checkpoint
(`backbone.*`, `decode_head.*`, `auxiliary_head.*`), so it loads strictly and unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segdeploy.data.voc import VOC_CLASSES, VOC_PALETTE
from segdeploy.layers.conv import ConvBNReLU
from segdeploy.layers.resnet import DilatedResNet, v1c_stem
from segdeploy.models.spec import IMAGENET, CheckpointInfo, ModelSpec, TrainRecipe, Variant


class FCNHead(nn.Module):
    """`num_convs` 3x3 conv-BN-ReLU, optionally concatenated with the input, then a 1x1 classifier.

    mmcv's ConvModule (bias-free conv -> BN -> ReLU) stores `.conv` / `.bn`, as ConvBNReLU does.
    """

    def __init__(
        self, in_channels: int, channels: int, num_classes: int, num_convs: int, concat_input: bool
    ):
        super().__init__()
        # NOTE: `conv_seg` runs last but is created first: mmseg's base head builds it before the
        # FCN layers, and the checkpoint lists it first.
        self.conv_seg = nn.Conv2d(channels, num_classes, 1)
        self.dropout = nn.Dropout2d(0.1)
        widths = [in_channels] + [channels] * num_convs
        self.convs = nn.Sequential(*(ConvBNReLU(c, channels, 3, padding=1) for c in widths[:-1]))
        self.conv_cat = ConvBNReLU(in_channels + channels, channels, 3, padding=1) if concat_input else None

    def forward(self, feature: Tensor) -> Tensor:
        y = self.convs(feature)
        if self.conv_cat is not None:
            # Backbone feature first, head output second: the order the weights were trained with.
            y = self.conv_cat(torch.cat([feature, y], dim=1))  # (N, in + channels, H/8, W/8) -> channels
        return self.conv_seg(self.dropout(y))


class FCN(nn.Module):
    """Backbone -> FCNHead on layer4 -> bilinear (align_corners=False) resize to the input size.

    Eval: `forward(x)` returns logits (N, C, H, W). Training: `(logits, [aux])`, where `aux` is the
    auxiliary head on layer3, also resized to (H, W) as mmseg resizes every head's logits to the label
    size before its loss (weight 0.4).
    """

    def __init__(self, backbone: DilatedResNet, decode_head: FCNHead, auxiliary_head: FCNHead):
        super().__init__()
        self.backbone = backbone
        self.decode_head = decode_head
        # Training only, but in the checkpoint: kept as a real submodule so loading stays strict.
        self.auxiliary_head = auxiliary_head

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, list[Tensor]]:
        size = x.shape[-2:]
        features = self.backbone(x)  # layer1..layer4; layer3/layer4 at H/8 (500 -> 63)
        logits = _resize(self.decode_head(features[3]), size)
        if not self.training:
            return logits
        return logits, [_resize(self.auxiliary_head(features[2]), size)]


def _resize(logits: Tensor, size: torch.Size) -> Tensor:
    # To the exact input size, not a x8 scale factor: 63 * 8 = 504 != 500.
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


def fcn_r50_d8(
    num_classes: int = 21,
    depth_blocks: tuple[int, int, int, int] = (3, 4, 6, 3),
    stem_channels: int = 64,
    base_width: int = 64,
    head_channels: int = 512,
    aux_channels: int = 256,
) -> FCN:
    """FCN-R50-D8; the defaults are the checkpoint's numbers, smaller ones give test-size variants."""
    backbone = DilatedResNet(
        stem={"stem": v1c_stem(stem_channels)},
        stem_channels=stem_channels,
        depth_blocks=depth_blocks,
        base_width=base_width,
        strides=(1, 2, 1, 1),
        # Output stride 8: layer3/4 trade stride for dilation 2/4, their first block using half
        # (mmseg's contract_dilation).
        first_dilations=(1, 1, 1, 2),
        dilations=(1, 1, 2, 4),
    )
    _, _, c3, c4 = backbone.out_channels
    decode_head = FCNHead(c4, head_channels, num_classes, num_convs=2, concat_input=True)
    auxiliary_head = FCNHead(c3, aux_channels, num_classes, num_convs=1, concat_input=False)
    return FCN(backbone, decode_head, auxiliary_head).eval()


FCN_R50_D8_VOC = ModelSpec(
    name="fcn_r50_d8_voc",
    build=fcn_r50_d8,
    dataset="voc",
    classes=VOC_CLASSES,
    palette=VOC_PALETTE,
    input_size=(500, 500),
    preprocess=IMAGENET,
    manifest="fcn_r50_d8_voc.json",
    checkpoint=CheckpointInfo(
        # The `-52dc5306` suffix is the first 8 hex digits of the file's sha256 (mmseg publish_model).
        file_name="fcn_r50-d8_512x512_20k_voc12aug_20200617_010715-52dc5306.pth",
        md5="0b42f76eb2e3779a5f802acb5ded5eed",  # as published in the Ascend ModelZoo FCN guide
        source="https://download.openmmlab.com/mmsegmentation/v0.5/fcn/fcn_r50-d8_512x512_20k_voc12aug/"
        "fcn_r50-d8_512x512_20k_voc12aug_20200617_010715-52dc5306.pth",
    ),
    # Ascend ModelZoo guide, 500x500 input; mmseg's own log: mIoU 67.08 at keep-ratio (2048, 512).
    reference_metrics={"mIoU": 69.01, "mAcc": 78.94, "aAcc": 93.04},
    # The guide's 69.01 comes from its 500x500 letterbox; mmseg's 67.08 from its test pipeline.
    variants=(Variant("guide-letterbox", "letterbox", size=(500, 500)),
              Variant("mmseg-resize", "keep-ratio", size=(2048, 512))),
    size_divisor=1,  # any size works: conv arithmetic floors, the final resize restores H x W
    tiny=dict(depth_blocks=(1, 1, 1, 1), stem_channels=8, base_width=4, head_channels=16, aux_channels=8),
    aux_loss_weights=(0.4,),
    # mmseg fcn_r50-d8_512x512_20k_voc12aug: 4 GPUs x 4 images, SyncBN, 20k iterations.
    train_recipe=TrainRecipe(
        optimizer="sgd", lr=0.01, momentum=0.9, weight_decay=5e-4, poly_power=0.9, min_lr=1e-4,
        iters=20000, batch_per_device=4, train_split="train+aug", val_split="val", val_variant="mmseg-resize",
        crop=(512, 512), scale=(2048, 512), ratio_range=(0.5, 2.0), cat_max_ratio=0.75, flip=0.5,
        photometric=True, eval_every=2000, checkpoint_every=2000,
    ),
)
