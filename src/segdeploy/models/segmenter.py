"""Segmenter (Strudel et al. 2021): ViT encoder + mask-transformer decoder, as rstrudel/segmenter.

The network is the per-window model: the official Cityscapes evaluation runs it on 768x768 windows
of the 1024x2048 frame (`segdeploy.inference.sliding`) and averages the window logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from segdeploy.data.cityscapes import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE
from segdeploy.layers.vit import Block, VisionTransformer
from segdeploy.models.spec import CheckpointInfo, ModelSpec, Preprocess, SlideWindow, Variant


def _dense(tokens: torch.Tensor) -> torch.Tensor:
    """A contiguous copy of a slice of (N, T, D) tokens, before it goes into a matmul.

    torch.export's matmul decomposition folds the batch into the rows only for a contiguous input
    and otherwise guards on batch == 1; the ONNX exporter then silently fixes the batch axis of a
    `--dynamic-batch` file to 1 (`.contiguous()` guards the same way, a clone does not). Values are
    unchanged, so eager outputs are bit-identical.
    """
    return tokens.clone(memory_format=torch.contiguous_format)


class MaskTransformer(nn.Module):
    """Joint attention over patch tokens and learned class tokens; masks = patch·class cosines."""

    def __init__(
        self, num_classes: int, dim: int, depth: int, heads: int, mlp_dim: int, dropout: float = 0.0
    ):
        super().__init__()
        self.num_classes = num_classes
        # Own parameters come before the children in the state dict: cls_emb, proj_patch, proj_classes.
        self.cls_emb = nn.Parameter(torch.zeros(1, num_classes, dim))
        nn.init.trunc_normal_(self.cls_emb, std=0.02)
        # NOTE: proj_patch / proj_classes are bare [in, out] matrices applied as `x @ W` (no bias);
        # nn.Linear would store [out, in] and silently transpose the official weights.
        self.proj_patch = nn.Parameter(dim**-0.5 * torch.randn(dim, dim))
        self.proj_classes = nn.Parameter(dim**-0.5 * torch.randn(dim, dim))
        self.blocks = nn.ModuleList([Block(dim, heads, mlp_dim, dropout) for _ in range(depth)])
        self.proj_dec = nn.Linear(dim, dim)
        self.decoder_norm = nn.LayerNorm(dim, eps=1e-5)
        self.mask_norm = nn.LayerNorm(num_classes, eps=1e-5)

    def forward(self, patches: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """(N, h*w, D) patch features -> (N, num_classes, h, w) mask scores."""
        x = self.proj_dec(patches)
        # Class tokens go AFTER the patches; the split below takes the last num_classes rows.
        x = torch.cat([x, self.cls_emb.expand(x.shape[0], -1, -1)], dim=1)  # (N, h*w + C, D)
        for block in self.blocks:
            x = block(x)
        x = self.decoder_norm(x)
        patch_feats = _dense(x[:, : -self.num_classes]) @ self.proj_patch  # (N, h*w, D)
        class_feats = _dense(x[:, -self.num_classes :]) @ self.proj_classes  # (N, C, D)
        # Plain division by the norm (no eps), as the reference; no temperature follows.
        patch_feats = patch_feats / patch_feats.norm(dim=-1, keepdim=True)
        class_feats = class_feats / class_feats.norm(dim=-1, keepdim=True)
        masks = self.mask_norm(patch_feats @ class_feats.transpose(1, 2))  # (N, h*w, C), LN over classes
        return masks.transpose(1, 2).reshape(masks.shape[0], self.num_classes, grid[0], grid[1])


class Segmenter(nn.Module):
    """Pad to the patch size, encode, decode at 1/patch, upsample bilinearly, crop the padding."""

    def __init__(self, encoder: VisionTransformer, decoder: MaskTransformer):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        h, w = x.shape[2], x.shape[3]
        p = self.encoder.patch_size
        # Bottom/right zero padding (0 is the normalised mid-grey) to a multiple of the patch size.
        x = F.pad(x, (0, -w % p, 0, -h % p))
        hp, wp = x.shape[2], x.shape[3]
        patches = _dense(self.encoder(x)[:, 1:])  # (N, hp/p * wp/p, D): the cls token is dropped
        masks = self.decoder(patches, (hp // p, wp // p))  # (N, C, hp/p, wp/p)
        logits = F.interpolate(masks, size=(hp, wp), mode="bilinear", align_corners=False)
        logits = logits[:, :, :h, :w]
        return (logits, []) if self.training else logits


def segmenter(
    num_classes: int,
    image_size: int,
    patch_size: int,
    d_model: int,
    n_layers: int,
    n_heads: int,
    mlp_dim: int,
    decoder_layers: int,
    decoder_heads: int,
    head_classes: int = 1000,
    drop_path_rate: float = 0.0,
    decoder_dropout: float = 0.0,
) -> Segmenter:
    """Any Segmenter-Mask: `image_size` is the training window, which fixes the pos-embed grid."""
    encoder = VisionTransformer(
        image_size, patch_size, d_model, n_layers, n_heads, mlp_dim, head_classes, 0.0, drop_path_rate
    )
    decoder = MaskTransformer(num_classes, d_model, decoder_layers, decoder_heads, mlp_dim, decoder_dropout)
    return Segmenter(encoder, decoder)


def segmenter_vitl16_mask_cityscapes(**overrides) -> Segmenter:
    """Seg-L-Mask/16 as trained on Cityscapes (variant.yml); `overrides` make the test-size variant."""
    # NOTE: ONE decoder layer for this checkpoint (variant.yml; 322M params), not config.yml's 2.
    # Decoder heads = d_model // 64; the encoder keeps its 1000-class ImageNet head.
    kwargs = dict(
        num_classes=19, image_size=768, patch_size=16, d_model=1024, n_layers=24, n_heads=16,
        mlp_dim=4096, decoder_layers=1, decoder_heads=16, head_classes=1000,
        drop_path_rate=0.1, decoder_dropout=0.1,
    )
    return segmenter(**{**kwargs, **overrides})


SEGMENTER_VITL16_MASK_CITYSCAPES = ModelSpec(
    name="segmenter_vitl16_mask_cityscapes",
    build=segmenter_vitl16_mask_cityscapes,
    dataset="cityscapes",
    classes=CITYSCAPES_CLASSES,
    palette=CITYSCAPES_PALETTE,
    input_size=(1024, 2048),
    # "vit" normalisation: mean = std = 0.5 on [0, 1], i.e. (rgb - 127.5) / 127.5. Not ImageNet's.
    preprocess=Preprocess(mean=(127.5, 127.5, 127.5), std=(127.5, 127.5, 127.5)),
    manifest="segmenter_vitl16_mask_cityscapes.json",
    checkpoint=CheckpointInfo(
        file_name="checkpoint.pth",
        source="https://www.rocq.inria.fr/cluster-willow/rstrudel/segmenter/checkpoints/cityscapes/"
        "seg_large_mask/checkpoint.pth",
    ),
    # Single scale. Stride 512 is variant.yml's; segm/eval/miou.py defaults to 736 (6 windows).
    reference_metrics={"mIoU": 79.1},
    slide=SlideWindow(window=768, stride=512),
    variants=(Variant("windows", "windows"),),  # one input per `slide` window, logits averaged back
    size_divisor=1,  # the network pads to its patch size itself
    tiny=dict(
        image_size=64, d_model=64, n_layers=2, n_heads=2, mlp_dim=256, decoder_heads=2, head_classes=10
    ),
    tiny_input_size=(64, 64),  # one window: the deployed network is the per-window model
    aux_loss_weights=(),
)
