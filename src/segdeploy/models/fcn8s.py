"""FCN-8s on VGG16 (Long et al. 2015), keyed like wkentaro/pytorch-fcn's converted Caffe weights.

The layers are flat attributes `conv1_1` ... `upscore_pool4` because those are the checkpoint keys.
The 100-pixel padding of conv1_1 lets the unpadded 7x7 fc6 run on any input; the fixed crops
(5, 9, 31) then re-align each upsampled score map with the skip scores and with the input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from segdeploy.data.voc import VOC_CLASSES, VOC_PALETTE
from segdeploy.models.spec import CheckpointInfo, ModelSpec, Preprocess, TrainRecipe

# Offsets of the Caffe net's Crop layers, from receptive-field alignment; independent of input size.
POOL4_CROP = 5
POOL3_CROP = 9
FINAL_CROP = 31


def crop_like(x: torch.Tensor, offset: int, size: tuple[int, int]) -> torch.Tensor:
    """Rows and columns [offset : offset + size] of an (N, C, H, W) map."""
    return x[:, :, offset : offset + size[0], offset : offset + size[1]]


class FCN8s(nn.Module):
    """VGG16 conv1_1..conv5_3 + convolutionalised fc6/fc7, fused with pool4 and pool3 scores."""

    def __init__(self, num_classes: int, widths: tuple[int, int, int, int, int], fc_dim: int):
        super().__init__()
        c1, c2, c3, c4, c5 = widths
        # NOTE: padding 100 (not 1): the Caffe net's way to make fc6 fit any input size.
        self.conv1_1 = nn.Conv2d(3, c1, 3, padding=100)
        self.conv1_2 = nn.Conv2d(c1, c1, 3, padding=1)
        self.conv2_1 = nn.Conv2d(c1, c2, 3, padding=1)
        self.conv2_2 = nn.Conv2d(c2, c2, 3, padding=1)
        self.conv3_1 = nn.Conv2d(c2, c3, 3, padding=1)
        self.conv3_2 = nn.Conv2d(c3, c3, 3, padding=1)
        self.conv3_3 = nn.Conv2d(c3, c3, 3, padding=1)
        self.conv4_1 = nn.Conv2d(c3, c4, 3, padding=1)
        self.conv4_2 = nn.Conv2d(c4, c4, 3, padding=1)
        self.conv4_3 = nn.Conv2d(c4, c4, 3, padding=1)
        self.conv5_1 = nn.Conv2d(c4, c5, 3, padding=1)
        self.conv5_2 = nn.Conv2d(c5, c5, 3, padding=1)
        self.conv5_3 = nn.Conv2d(c5, c5, 3, padding=1)
        self.fc6 = nn.Conv2d(c5, fc_dim, 7)  # VGG's first FC layer as an unpadded 7x7 conv
        self.fc7 = nn.Conv2d(fc_dim, fc_dim, 1)
        self.score_fr = nn.Conv2d(fc_dim, num_classes, 1)
        self.score_pool3 = nn.Conv2d(c3, num_classes, 1)
        self.score_pool4 = nn.Conv2d(c4, num_classes, 1)
        # Learned upsampling without bias or padding (official weights: fixed bilinear kernels).
        self.upscore2 = nn.ConvTranspose2d(num_classes, num_classes, 4, stride=2, bias=False)
        # NOTE: upscore8 is registered before upscore_pool4 (the checkpoint's order), though it runs last.
        self.upscore8 = nn.ConvTranspose2d(num_classes, num_classes, 16, stride=8, bias=False)
        self.upscore_pool4 = nn.ConvTranspose2d(num_classes, num_classes, 4, stride=2, bias=False)

    @staticmethod
    def _stage(x: torch.Tensor, convs: list[nn.Conv2d]) -> torch.Tensor:
        for conv in convs:
            x = F.relu(conv(x))
        # Caffe pooling rounds up: ceil_mode keeps every odd size aligned with the crop offsets.
        return F.max_pool2d(x, 2, stride=2, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        h, w = x.shape[2], x.shape[3]
        f = self._stage(x, [self.conv1_1, self.conv1_2])
        f = self._stage(f, [self.conv2_1, self.conv2_2])
        pool3 = self._stage(f, [self.conv3_1, self.conv3_2, self.conv3_3])  # (N, c3, ~(H+198)/8, ...)
        pool4 = self._stage(pool3, [self.conv4_1, self.conv4_2, self.conv4_3])
        f = self._stage(pool4, [self.conv5_1, self.conv5_2, self.conv5_3])
        f = F.dropout2d(F.relu(self.fc6(f)), 0.5, self.training)
        f = F.dropout2d(F.relu(self.fc7(f)), 0.5, self.training)
        score = self.upscore2(self.score_fr(f))  # (N, K, 2s+2, ...)
        score = score + crop_like(self.score_pool4(pool4), POOL4_CROP, score.shape[2:])
        score = self.upscore_pool4(score)
        score = score + crop_like(self.score_pool3(pool3), POOL3_CROP, score.shape[2:])
        logits = crop_like(self.upscore8(score), FINAL_CROP, (h, w))  # (N, K, H, W)
        return (logits, []) if self.training else logits


def fcn8s_vgg16_voc(**overrides) -> FCN8s:
    """The paper's VOC FCN-8s; `overrides` make the test-size variant.

    `widths` are the five VGG stage widths; the layers per stage (2, 2, 3, 3, 3) are fixed by the keys.
    """
    kwargs = dict(num_classes=21, widths=(64, 128, 256, 512, 512), fc_dim=4096)
    return FCN8s(**{**kwargs, **overrides})


FCN8S_VGG16_VOC = ModelSpec(
    name="fcn8s_vgg16_voc",
    build=fcn8s_vgg16_voc,
    dataset="voc",
    classes=VOC_CLASSES,
    palette=VOC_PALETTE,
    input_size=(500, 500),  # no test-time resize: images run at their own size (VOC: at most 500)
    # NOTE: the Caffe net wants BGR input minus the BGR mean (104.007, 116.669, 122.679), no std;
    # the mean is given in RGB order like every other spec and `bgr` flips the channels after it.
    preprocess=Preprocess(mean=(122.67891434, 116.66876762, 104.00698793), std=(1.0, 1.0, 1.0), bgr=True),
    manifest="fcn8s_vgg16_voc.json",
    checkpoint=CheckpointInfo(
        file_name="fcn8s_from_caffe.pth",
        md5="de93e540ec79512f8770033849c8ae89",
        source="http://drive.google.com/uc?id=1ieXWyoG68xqoHJPWdyrDyaIaaWlfmUxI",
    ),
    # The paper's VOC2012 test mean IU; pytorch-fcn reports 65.51 for these weights on seg11valid.
    reference_metrics={"mIoU": 62.2},
    slide=None,
    size_divisor=1,
    tiny=dict(widths=(4, 8, 8, 16, 16), fc_dim=32),
    tiny_input_size=(64, 128),
    aux_loss_weights=(),
    # pytorch-fcn's FCN8s: one whole image per step (VOC sizes differ), SGD momentum 0.99, weight decay
    # 5e-4, constant lr 1e-14 on a loss summed over pixels: about 2e-9 on this trainer's pixel mean
    # (x 500 * 375 pixels), 100k iterations, validation every 4000.
    train_recipe=TrainRecipe(
        optimizer="sgd", lr=2e-9, momentum=0.99, weight_decay=5e-4, poly_power=0.0, min_lr=0.0,
        iters=100000, batch_per_device=1, train_split="train", val_split="val", crop=None,
        eval_every=4000, checkpoint_every=4000,
    ),
)
