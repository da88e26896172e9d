"""Conv-BN-activation building blocks shared by the CNN models.

Submodule names follow the official checkpoints (SegmenTron's `_ConvBNReLU`, `SeparableConv2d`,
`InvertedResidual`), so a model built from these blocks loads those state_dicts strictly.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Literal

from torch import Tensor, nn

Activation = Literal["relu", "relu6"]


def _activation(name: Activation) -> nn.Module:
    return nn.ReLU6(inplace=True) if name == "relu6" else nn.ReLU(inplace=True)


class ConvBNReLU(nn.Module):
    """conv (no bias, BN supplies the shift) -> BatchNorm -> ReLU or ReLU6.

    `padding` defaults to 0 as in the reference blocks, so every caller states it: a 3x3 conv
    that should keep its size needs `padding=1` (Fast-SCNN's stem relies on padding 0).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        groups: int = 1,
        activation: Activation = "relu",
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = _activation(activation)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(x)))


class SeparableConv(nn.Module):
    """Depthwise 3x3 -> BN -> ReLU -> pointwise 1x1 -> BN -> ReLU (no leading ReLU).

    This is SegmenTron's `SeparableConv2d` with `relu_first=False`: unlike the Xception form,
    each BN is followed by its own ReLU.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.block = nn.Sequential(
            OrderedDict(
                depthwise=nn.Conv2d(in_channels, in_channels, 3, stride, 1, groups=in_channels, bias=False),
                bn_depth=nn.BatchNorm2d(in_channels),
                relu_depth=nn.ReLU(inplace=True),
                pointwise=nn.Conv2d(in_channels, out_channels, 1, bias=False),
                bn_point=nn.BatchNorm2d(out_channels),
                relu_point=nn.ReLU(inplace=True),
            )
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.block(x)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: expand 1x1 (ReLU6) -> depthwise 3x3 (ReLU6) -> linear 1x1 projection.

    The hidden width is `expand_ratio * in_channels`, and the expansion conv is always present
    (the checkpoints this serves all use ratio 6). The identity shortcut is added only when the
    block keeps both resolution and width, i.e. stride 1 and in == out channels.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = in_channels * expand_ratio
        self.use_shortcut = stride == 1 and in_channels == out_channels
        self.conv = nn.Sequential(
            ConvBNReLU(in_channels, hidden, 1, activation="relu6"),
            ConvBNReLU(hidden, hidden, 3, stride, padding=1, groups=hidden, activation="relu6"),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(x)
        return x + out if self.use_shortcut else out
