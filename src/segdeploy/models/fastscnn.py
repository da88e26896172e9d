"""Fast-SCNN (Poudel et al., 2019) as trained by SegmenTron on Cityscapes.

Module names equal the official checkpoint keys (`manifests/fastscnn_cityscapes.json`). Where the
reference differs from the paper (first conv padding 0, a plain 1x1 `dwconv` in the fusion module,
a fixed x4 upsampling of the low-resolution branch) we follow the reference, because its weights
were trained that way. Valid inputs: H and W multiples of 32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segdeploy.data.cityscapes import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE
from segdeploy.layers.conv import ConvBNReLU, InvertedResidual, SeparableConv
from segdeploy.models.spec import IMAGENET, CheckpointInfo, ModelSpec


def _resize(x: Tensor, size: tuple[int, int] | torch.Size) -> Tensor:
    # Every resize in the reference is bilinear with align_corners=True.
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


class LearningToDownsample(nn.Module):
    """Input -> 1/8 resolution "higher-res" features."""

    def __init__(self, channels: tuple[int, int, int]) -> None:
        super().__init__()
        c1, c2, c3 = channels
        # Padding 0, as in the reference: 1024x2048 -> 511x1023. The stride-2 separable units
        # that follow still land on exactly 1/8 (256x512, then 128x256).
        self.conv = ConvBNReLU(3, c1, 3, stride=2, padding=0)
        self.dsconv1 = SeparableConv(c1, c2, stride=2)
        self.dsconv2 = SeparableConv(c2, c3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return self.dsconv2(self.dsconv1(self.conv(x)))


class PyramidPooling(nn.Module):
    """PSP pooling: per bin b, avg-pool to bxb -> 1x1 conv -> resize back; concat with the input.

    Output channels: in_channels + len(bins) * branch_channels, ordered [x, bin_0, bin_1, ...].
    """

    def __init__(self, in_channels: int, bins: tuple[int, ...], branch_channels: int) -> None:
        super().__init__()
        self.bins = bins
        self.convs = nn.ModuleList(ConvBNReLU(in_channels, branch_channels, 1) for _ in bins)

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[2:]
        # NOTE: plain adaptive pooling, not the vendor's fixed AvgPool2d patch (whose kernels are
        # inexact for bins 3 and 6 at 32x64). torch 2.13's `torch.onnx.export(..., dynamo=True)`
        # exports adaptive average pooling exactly at a fixed input size, non-divisible ones too.
        branches = [
            _resize(conv(F.adaptive_avg_pool2d(x, bins)), size) for bins, conv in zip(self.bins, self.convs)
        ]
        return torch.cat([x, *branches], dim=1)  # (N, C + len(bins) * branch, H/32, W/32)


class GlobalFeatureExtractor(nn.Module):
    """1/8 -> 1/32 "lower-res" context features: three inverted-residual stages, PPM, 1x1 conv."""

    def __init__(
        self,
        in_channels: int,
        block_channels: tuple[int, int, int],
        strides: tuple[int, int, int],
        num_blocks: tuple[int, int, int],
        expand_ratio: int,
        ppm_bins: tuple[int, ...],
        ppm_channels: int,
        out_channels: int,
    ) -> None:
        super().__init__()
        stages = []
        for width, stride, n in zip(block_channels, strides, num_blocks):
            # Only the first block of a stage changes stride/width; the rest keep the shortcut.
            blocks = [InvertedResidual(in_channels, width, stride, expand_ratio)]
            blocks += [InvertedResidual(width, width, 1, expand_ratio) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
            in_channels = width
        self.bottleneck1, self.bottleneck2, self.bottleneck3 = stages
        self.ppm = PyramidPooling(in_channels, ppm_bins, ppm_channels)
        self.out = ConvBNReLU(in_channels + len(ppm_bins) * ppm_channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.bottleneck3(self.bottleneck2(self.bottleneck1(x)))
        return self.out(self.ppm(x))


class FeatureFusion(nn.Module):
    """Sum of the projected higher-res and (x4 upsampled) lower-res features, then ReLU."""

    def __init__(self, higher_channels: int, lower_channels: int, out_channels: int) -> None:
        super().__init__()
        # NOTE: named `dwconv` in the checkpoint, but it is a plain (groups=1) 1x1 conv-BN-ReLU.
        self.dwconv = ConvBNReLU(lower_channels, out_channels, 1)
        # The two projections keep their conv biases (checkpoint keys `.0.bias`) before BN.
        self.conv_lower_res = nn.Sequential(
            nn.Conv2d(out_channels, out_channels, 1), nn.BatchNorm2d(out_channels)
        )
        self.conv_higher_res = nn.Sequential(
            nn.Conv2d(higher_channels, out_channels, 1), nn.BatchNorm2d(out_channels)
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, higher: Tensor, lower: Tensor) -> Tensor:
        # A fixed factor 4 (1/32 -> 1/8), not "resize to the higher-res size": the reference
        # does this, and it is why H and W must be multiples of 32.
        lower = F.interpolate(lower, scale_factor=4, mode="bilinear", align_corners=True)
        lower = self.conv_lower_res(self.dwconv(lower))
        return self.relu(self.conv_higher_res(higher) + lower)


class Classifier(nn.Module):
    """Two separable units and a 1x1 conv to class logits at 1/8 resolution."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.dsconv1 = SeparableConv(channels, channels)
        self.dsconv2 = SeparableConv(channels, channels)
        # Index 0 is the dropout, so the conv's checkpoint key is `classifier.conv.1`.
        self.conv = nn.Sequential(nn.Dropout2d(0.1), nn.Conv2d(channels, num_classes, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(self.dsconv2(self.dsconv1(x)))


def _aux_head(in_channels: int, hidden: int, num_classes: int) -> nn.Sequential:
    # Indices 0, 1 and 4 carry the checkpoint's `auxlayerN.{0,1,4}` weights.
    return nn.Sequential(
        nn.Conv2d(in_channels, hidden, 3, padding=1, bias=False),
        nn.BatchNorm2d(hidden),
        nn.ReLU(inplace=True),
        nn.Dropout2d(0.1),
        nn.Conv2d(hidden, num_classes, 1),
    )


class FastSCNN(nn.Module):
    """Eval: forward(x) -> logits (N, num_classes, H, W).

    Training: (logits, [aux on higher-res features, aux on lower-res features]), all at input size.
    """

    def __init__(
        self,
        num_classes: int,
        downsample_channels: tuple[int, int, int],
        block_channels: tuple[int, int, int],
        block_strides: tuple[int, int, int],
        num_blocks: tuple[int, int, int],
        expand_ratio: int,
        ppm_bins: tuple[int, ...],
        ppm_channels: int,
        fusion_channels: int,
        aux_channels: int,
    ) -> None:
        super().__init__()
        higher = downsample_channels[-1]
        self.learning_to_downsample = LearningToDownsample(downsample_channels)
        self.global_feature_extractor = GlobalFeatureExtractor(
            higher,
            block_channels,
            block_strides,
            num_blocks,
            expand_ratio,
            ppm_bins,
            ppm_channels,
            out_channels=fusion_channels,
        )
        self.feature_fusion = FeatureFusion(higher, fusion_channels, fusion_channels)
        self.classifier = Classifier(fusion_channels, num_classes)
        # The aux heads only shape training, but the checkpoint holds them, so strict loading needs them.
        self.auxlayer1 = _aux_head(higher, aux_channels, num_classes)
        self.auxlayer2 = _aux_head(fusion_channels, aux_channels, num_classes)

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, list[Tensor]]:
        size = x.shape[2:]
        higher = self.learning_to_downsample(x)  # (N, 64, H/8, W/8)
        lower = self.global_feature_extractor(higher)  # (N, 128, H/32, W/32)
        logits = _resize(self.classifier(self.feature_fusion(higher, lower)), size)
        if not self.training:
            return logits
        return logits, [_resize(self.auxlayer1(higher), size), _resize(self.auxlayer2(lower), size)]


def fast_scnn(num_classes: int = 19) -> FastSCNN:
    """The SegmenTron / paper configuration (1.21 M parameters, 1.15 M without the aux heads)."""
    return FastSCNN(
        num_classes=num_classes,
        downsample_channels=(32, 48, 64),
        block_channels=(64, 96, 128),
        block_strides=(2, 2, 1),
        num_blocks=(3, 3, 3),
        expand_ratio=6,
        ppm_bins=(1, 2, 3, 6),
        ppm_channels=32,
        fusion_channels=128,
        aux_channels=32,
    )


FASTSCNN_CITYSCAPES = ModelSpec(
    name="fastscnn_cityscapes",
    build=fast_scnn,
    dataset="cityscapes",
    classes=CITYSCAPES_CLASSES,
    palette=CITYSCAPES_PALETTE,
    input_size=(1024, 2048),
    # ImageNet statistics from SegmenTron's cityscapes_fast_scnn.yaml (not its 0.5/0.5 default).
    preprocess=IMAGENET,
    manifest="fastscnn_cityscapes.json",
    checkpoint=CheckpointInfo(
        file_name="best_model.pth",
        md5="efc7247270298f3f57e88375011b52ee",
        source="Ascend ModelZoo FastSCNN_ACL_Pytorch package; trained by the Ascend port of "
        "LikeLy-Journey/SegmenTron (PyTorch/contrib/cv/semantic_segmentation/FastSCNN)",
    ),
    # pth on GPU (8p, AMP O1), 500 val images, whole 1024x2048 images, single scale.
    reference_metrics={"mIoU": 64.46, "aAcc": 93.88},
    size_divisor=32,
    tiny={},
    # cityscapes_fast_scnn.yaml sets AUX: True, AUX_WEIGHT: 0.4, and SegmenTron's
    # MixSoftmaxCrossEntropyLoss adds that weight times the loss of *each* aux output.
    aux_loss_weights=(0.4, 0.4),
)
