"""PIUnet (Valsesia & Magli 2022, "Permutation Invariance and Uncertainty in Multitemporal Image
Super-Resolution").

A stack is a set, not a sequence: every operation is either applied to each frame with shared
weights or is a self-attention across frames without any positional information, and the frames
are finally pooled by a masked mean, so the output does not depend on the order of the frames.
A second head predicts a per-pixel uncertainty (the scale of a Laplace distribution of the error),
trained with its negative log-likelihood. Departures, recorded in each model card: residual over the
bicubic mean of the clear frames (``misr_layers``), per-stack normalisation, CPU-sized.
"""

from __future__ import annotations

import torch
from torch import nn

from satsr.models.layers import conv3x3
from satsr.models.misr_layers import MISRNet, Prepared, ShuffleDecoder, frame_inputs, wrap_fuser
from satsr.models.registry import register


class TemporalAttentionBlock(nn.Module):
    """Shared per-frame conv block + self-attention across frames at each pixel (no positions)."""

    def __init__(self, feats: int, heads: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(conv3x3(feats, feats), nn.PReLU(feats), conv3x3(feats, feats))
        self.norm = nn.LayerNorm(feats)
        self.attn = nn.MultiheadAttention(feats, heads, batch_first=True)

    def forward(self, f: torch.Tensor, ignore: torch.Tensor) -> torch.Tensor:
        b, t, c, h, w = f.shape
        f = f + self.conv(f.reshape(b * t, c, h, w)).reshape(b, t, c, h, w)
        seq = f.permute(0, 3, 4, 1, 2).reshape(b * h * w, t, c)
        q = self.norm(seq)
        a = self.attn(q, q, q, key_padding_mask=ignore, need_weights=False)[0]
        seq = seq + a
        return seq.reshape(b, h, w, t, c).permute(0, 3, 4, 1, 2)


class PIUnet(MISRNet):
    def __init__(self, scale: int = 3, bands: int = 1, feats: int = 32, blocks: int = 3, heads: int = 4,
                 match: bool = True) -> None:
        super().__init__()
        self.scale, self.bands, self.match = scale, bands, match
        self.head = nn.Sequential(conv3x3(2 * bands + 1, feats), nn.PReLU(feats))
        self.blocks = nn.ModuleList(TemporalAttentionBlock(feats, heads) for _ in range(blocks))
        self.decoder = ShuffleDecoder(feats, bands, scale)
        self.uncertainty = ShuffleDecoder(feats, bands, scale)

    def core(self, prep: Prepared) -> tuple[torch.Tensor, torch.Tensor]:
        x = frame_inputs(prep)
        b, t, cin, h, w = x.shape
        f = self.head(x.reshape(b * t, cin, h, w)).reshape(b, t, -1, h, w)
        usable = prep.clear & prep.valid[:, :, None, None]  # (B, T, h, w)
        anyv = prep.valid[:, :, None, None].expand_as(usable)
        usable = torch.where(usable.any(1, keepdim=True), usable, anyv)
        ignore = ~usable.permute(0, 2, 3, 1).reshape(b * h * w, t)
        for blk in self.blocks:
            f = blk(f, ignore)
        wgt = usable[:, :, None].to(f.dtype) * prep.weight[:, :, None, None, None].clamp(min=1e-3)
        pooled = (f * wgt).sum(1) / wgt.sum(1).clamp(min=1)
        return self.decoder(pooled), self.uncertainty(pooled) - 2.0  # start at a small, finite scale


@register("piunet", kind="misr", neural=True, scales=(3,), defaults={"per_band": True}, wrap=wrap_fuser,
          description="PIUnet: permutation-invariant temporal attention, masked mean pooling, "
                      "uncertainty map",
          paper="Valsesia & Magli 2022, Permutation Invariance and Uncertainty in Multitemporal Image "
                "Super-Resolution")
def build_piunet(scale: int = 3, bands: int = 1, **kw: object) -> PIUnet:
    return PIUnet(scale=scale, bands=bands, **kw)  # type: ignore[arg-type]
