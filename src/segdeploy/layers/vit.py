"""Plain ViT pieces as Segmenter (rstrudel/segmenter) builds them: pre-norm blocks and the encoder.

Differences from timm's / mmseg's ViT that change outputs: LayerNorm eps is PyTorch's default 1e-5
(not 1e-6), GELU is the exact erf form, and the position table is resized bilinearly
(align_corners=False, not bicubic) whenever the token count differs from the table's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero whole samples of a residual branch, rescale the survivors."""
    if rate == 0.0 or not training:
        return x
    keep = 1.0 - rate
    mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
    return x * mask / keep


class Attention(nn.Module):
    """Multi-head self-attention with one fused qkv projection, no mask."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        qkv = self.qkv(x).reshape(n, t, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (N, heads, T, d/heads)
        # Scale is head_dim**-0.5, SDPA's default; dropout acts on the attention weights as in the reference.
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).reshape(n, t, d)  # (N, T, D)
        return self.proj_drop(self.proj(y))


class Mlp(nn.Module):
    """fc1 -> exact GELU -> fc2, dropout after each."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(F.gelu(self.fc1(x)))))


class Block(nn.Module):
    """Pre-norm transformer block: x + Attn(LN1(x)), then x + MLP(LN2(x))."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, dropout: float = 0.0, drop_path: float = 0.0):
        super().__init__()
        # Registration order norm1, norm2, attn, mlp is the checkpoint's key order.
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.attn = Attention(dim, heads, dropout)
        self.mlp = Mlp(dim, mlp_dim, dropout)
        self.drop_path = drop_path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + drop_path(self.attn(self.norm1(x)), self.drop_path, self.training)
        return x + drop_path(self.mlp(self.norm2(x)), self.drop_path, self.training)


class PatchEmbed(nn.Module):
    """Non-overlapping patch_size x patch_size patches, linearly embedded by a strided conv."""

    def __init__(self, patch_size: int, dim: int, in_channels: int = 3):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # (N, h*w, D), row-major over the grid


def resize_pos_embed(
    pos_embed: torch.Tensor, old_grid: tuple[int, int], new_grid: tuple[int, int]
) -> torch.Tensor:
    """Bilinearly resize the patch rows of a (1, 1 + h*w, D) table; the leading cls row is kept."""
    cls_row, grid = pos_embed[:, :1], pos_embed[:, 1:]
    grid = grid.reshape(1, old_grid[0], old_grid[1], -1).permute(0, 3, 1, 2)  # (1, D, h, w)
    grid = F.interpolate(grid, size=new_grid, mode="bilinear", align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(1, new_grid[0] * new_grid[1], -1)  # (1, h'*w', D)
    return torch.cat([cls_row, grid], dim=1)


class VisionTransformer(nn.Module):
    """ViT encoder with a cls token; `forward` returns the final-normed tokens, cls first."""

    def __init__(
        self,
        image_size: int,
        patch_size: int,
        dim: int,
        depth: int,
        heads: int,
        mlp_dim: int,
        head_classes: int,
        dropout: float = 0.0,
        drop_path_rate: float = 0.0,
    ):
        super().__init__()
        self.patch_size = patch_size
        self.grid = (image_size // patch_size, image_size // patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid[0] * self.grid[1], dim))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.patch_embed = PatchEmbed(patch_size, dim)
        self.dropout = nn.Dropout(dropout)
        # Stochastic depth grows linearly from 0 at the first block to drop_path_rate at the last.
        rates = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.ModuleList([Block(dim, heads, mlp_dim, dropout, rate) for rate in rates])
        self.norm = nn.LayerNorm(dim, eps=1e-5)
        # NOTE: `head` is the ImageNet classifier of the pre-trained ViT; segmentation never calls it,
        # but the official checkpoint holds it and loading is strict.
        self.head = nn.Linear(dim, head_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grid = (x.shape[2] // self.patch_size, x.shape[3] // self.patch_size)
        tokens = self.patch_embed(x)
        tokens = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)  # (N, 1+h*w, D)
        tokens = self.dropout(tokens + self.position_embedding(grid))
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)

    def position_embedding(self, grid: tuple[int, int]) -> torch.Tensor:
        """The (1, 1 + h*w, D) table added to the tokens of an h x w patch grid.

        The reference resizes the table on a token-COUNT mismatch only: a grid of another shape with
        the table's count (24x96 for 48x48) gets the table itself, read as a flat sequence. That rule
        is computed without a Python branch on the shape (both candidates, then a `where` on the
        count) so that an export with a dynamic height and width keeps it at every size; a branch
        would be fixed at the traced size. On the table's own grid the resize is the identity, so
        every size gives the reference's values exactly.
        """
        table = self.pos_embed
        resized = resize_pos_embed(table, self.grid, grid)  # (1, 1 + h*w, D)
        count = resized.shape[1]
        # The table padded or cut to `count` rows: shaped like `resized`; only used when the counts match.
        as_is = F.pad(table, (0, 0, 0, torch.sym_max(count - table.shape[1], 0)))[:, :count]
        same_count = torch.full((), count) == table.shape[1]
        return torch.where(same_count, as_is, resized)
