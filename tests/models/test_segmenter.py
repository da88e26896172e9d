"""Segmenter facts the shared model suite cannot see: pos-embed resize, decoder layout, sizes."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from segdeploy.layers.vit import resize_pos_embed
from segdeploy.models.segmenter import SEGMENTER_VITL16_MASK_CITYSCAPES as SPEC


def _tiny():
    torch.manual_seed(0)
    return SPEC.build(**SPEC.tiny).eval()


def test_pos_embed_resize_keeps_cls_row_and_row_major_grid():
    d = 3
    rows, cols = torch.meshgrid(torch.arange(4.0), torch.arange(4.0), indexing="ij")
    grid = (100 * rows + cols).reshape(1, 16, 1).expand(1, 16, d)  # value encodes (row, col)
    table = torch.cat([torch.full((1, 1, d), -7.0), grid], dim=1)
    out = resize_pos_embed(table, (4, 4), (4, 8))  # widen only: rows must keep their values
    assert out.shape == (1, 1 + 32, d)
    assert torch.equal(out[0, 0], torch.full((d,), -7.0))
    resized = out[0, 1:, 0].reshape(4, 8)
    for r in range(4):
        assert resized[r].min() >= 100 * r and resized[r].max() <= 100 * r + 3
    # bilinear, align_corners=False: column 0 of a 2x-wide grid repeats the old column 0
    assert torch.equal(resized[:, 0], 100 * torch.arange(4.0))


def test_encoder_resizes_pos_embed_for_a_non_square_grid():
    model = _tiny()
    enc = model.encoder
    x = torch.randn(2, 3, 48, 80)  # grid 3x5 vs the 4x4 training grid
    with torch.no_grad():
        got = enc(x)
        tokens = enc.patch_embed(x)
        tokens = torch.cat([enc.cls_token.expand(2, -1, -1), tokens], dim=1)
        cls_row, table = enc.pos_embed[:, :1], enc.pos_embed[:, 1:].reshape(1, 4, 4, -1).permute(0, 3, 1, 2)
        table = F.interpolate(table, size=(3, 5), mode="bilinear", align_corners=False)
        tokens = tokens + torch.cat([cls_row, table.flatten(2).transpose(1, 2)], dim=1)
        for block in enc.blocks:
            tokens = block(tokens)
        want = enc.norm(tokens)
    assert got.shape == (2, 1 + 15, 64)
    torch.testing.assert_close(got, want)


def test_position_table_follows_the_reference_rule_on_every_grid():
    """The table is resized on a token-COUNT mismatch only (spec §4.3): 2x8 has the 4x4 table's 16
    tokens, so the table is added as it is. The rule is branch-free (a dynamic-H/W export keeps it);
    here it is compared with the reference's Python branch, bit for bit."""
    enc = _tiny().encoder

    def reference(grid):
        if 1 + grid[0] * grid[1] == enc.pos_embed.shape[1]:
            return enc.pos_embed
        return resize_pos_embed(enc.pos_embed, enc.grid, grid)

    with torch.no_grad():
        for grid in [(4, 4), (2, 8), (8, 2), (3, 5), (6, 6), (1, 1), (5, 7)]:
            assert torch.equal(enc.position_embedding(grid), reference(grid)), grid


def test_decoder_is_cosine_masks_with_class_tokens_last():
    model = _tiny()
    dec = model.decoder
    patches = torch.randn(1, 12, 64)
    with torch.no_grad():
        got = dec(patches, (3, 4))
        x = torch.cat([dec.proj_dec(patches), dec.cls_emb], dim=1)
        x = dec.decoder_norm(dec.blocks[0](x))
        p = torch.einsum("bnd,de->bne", x[:, :12], dec.proj_patch)  # [in, out]: x @ W, no transpose
        c = torch.einsum("bnd,de->bne", x[:, 12:], dec.proj_classes)
        cos = torch.einsum("bpe,bce->bpc", F.normalize(p, dim=-1), F.normalize(c, dim=-1))
        want = dec.mask_norm(cos).transpose(1, 2).reshape(1, 19, 3, 4)
    torch.testing.assert_close(got, want)


def test_output_is_cropped_to_unpadded_input():
    model = _tiny()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 50, 70))  # padded to 64x80 inside
    assert out.shape == (1, 19, 50, 70)
    logits, aux = model.train()(torch.randn(1, 3, 64, 64))
    assert logits.shape == (1, 19, 64, 64) and aux == []


def test_full_size_structure_and_parameter_counts():
    with torch.device("meta"):
        model = SPEC.build()
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(model.encoder) == 306_485_224
    assert count(model.decoder) == 15_764_518
    assert count(model) == 322_249_742
    assert model.decoder.cls_emb.shape == (1, 19, 1024)
    assert len(model.decoder.blocks) == 1  # the Cityscapes checkpoint's decoder has ONE layer
    assert model.encoder.pos_embed.shape == (1, 1 + 48 * 48, 1024)
    assert all(b.norm1.eps == 1e-5 for b in model.encoder.blocks)
    assert SPEC.preprocess.mean == (127.5,) * 3 and SPEC.preprocess.std == (127.5,) * 3
