"""Dilated ResNet (bottleneck, "pytorch" style): the backbone shared by FCN-R50-D8 and ICNet.

Child names follow torchvision (`conv1`/`bn1`/.../`downsample.0`/`downsample.1`), which both the
mmsegmentation and the liminn/ICNet checkpoints use for their stages. The two checkpoints differ only
in how they name the deep stem, so the stem is passed in already built and named by its caller.
"""

from __future__ import annotations

from torch import Tensor, nn

EXPANSION = 4  # bottleneck output channels = 4 * its 3x3 width


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (carries stride and dilation) -> 1x1, plus the shortcut, then ReLU."""

    def __init__(self, in_channels: int, width: int, stride: int, dilation: int, project: bool):
        super().__init__()
        out_channels = EXPANSION * width
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        # Stride on the 3x3, not the first 1x1 ("pytorch" style, also GluonCV's v1b/v1s).
        self.conv2 = nn.Conv2d(
            width, width, 3, stride=stride, padding=dilation, dilation=dilation, bias=False
        )
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        # A plain strided 1x1 projection (no avg-pool: that would be V1d).
        self.downsample = (
            nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
            if project
            else None
        )

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + shortcut)


def make_stage(
    in_channels: int, width: int, blocks: int, stride: int, first_dilation: int, dilation: int
) -> nn.Sequential:
    """`blocks` bottlenecks; only the first one strides, projects and uses `first_dilation`.

    Block 0 always projects: every stage changes the channel count, even layer1 (stem -> 4 * width).
    """
    layers = [Bottleneck(in_channels, width, stride, first_dilation, project=True)]
    layers += [Bottleneck(EXPANSION * width, width, 1, dilation, project=False) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def v1c_stem(channels: int) -> nn.Sequential:
    """ResNet-V1c deep stem (mmsegmentation `backbone.stem`): three 3x3 conv-BN-ReLU, 3 -> c/2 -> c/2 -> c.

    Indices 0,1 / 3,4 / 6,7 hold the tensors; the ReLUs sit at 2, 5, 8, as in the checkpoint.
    """
    half = channels // 2
    return nn.Sequential(
        nn.Conv2d(3, half, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(half),
        nn.ReLU(inplace=True),
        nn.Conv2d(half, half, 3, padding=1, bias=False),
        nn.BatchNorm2d(half),
        nn.ReLU(inplace=True),
        nn.Conv2d(half, channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(channels),
        nn.ReLU(inplace=True),
    )


class DilatedResNet(nn.Module):
    """stem -> maxpool 3x3/2 -> layer1..layer4; `forward` returns the stage outputs.

    `stem` maps child name -> module, registered (and run) in that order, so that each checkpoint's
    own stem names (`stem` for mmseg, `conv1` + `bn1` for liminn) appear unchanged as keys.
    """

    def __init__(
        self,
        stem: dict[str, nn.Module],
        stem_channels: int,
        depth_blocks: tuple[int, int, int, int],
        base_width: int,
        strides: tuple[int, int, int, int],
        first_dilations: tuple[int, int, int, int],
        dilations: tuple[int, int, int, int],
    ):
        super().__init__()
        for name, module in stem.items():
            self.add_module(name, module)
        self.stem_names = tuple(stem)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_channels = stem_channels
        for i in range(4):
            width = base_width * 2**i
            stage = make_stage(
                in_channels, width, depth_blocks[i], strides[i], first_dilations[i], dilations[i]
            )
            self.add_module(f"layer{i + 1}", stage)
            in_channels = EXPANSION * width
        self.out_channels = tuple(EXPANSION * base_width * 2**i for i in range(4))

    def forward(self, x: Tensor, num_stages: int = 4) -> list[Tensor]:
        """Outputs of layer1..layer`num_stages` (later stages are not computed)."""
        for name in self.stem_names:
            x = getattr(self, name)(x)
        x = self.maxpool(x)
        outputs = []
        for i in range(num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
            outputs.append(x)
        return outputs
