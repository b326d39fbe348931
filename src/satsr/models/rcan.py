"""RCAN (Zhang et al., ECCV 2018): residual-in-residual groups of channel-attention blocks.

The paper's 10 groups x 20 blocks are far beyond a CPU budget; the default here (4 x 4 blocks of
48 features, reduction 8) keeps the structure at a size that trains on a CPU. Channel attention
pools over the whole input, so results depend slightly on tile size: tiled output is close to,
but not bit-identical with, whole-image output (use a large --tile for RCAN).
"""

from __future__ import annotations

import torch
from torch import nn

from satsr.models.layers import PixelShuffleUpsampler, add_bicubic, conv3x3, damp_last_conv
from satsr.models.registry import register


class ChannelAttention(nn.Module):
    def __init__(self, feats: int, reduction: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(feats, feats // reduction, 1), nn.ReLU(inplace=True),
            nn.Conv2d(feats // reduction, feats, 1), nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class RCAB(nn.Module):
    def __init__(self, feats: int, reduction: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3x3(feats, feats), nn.ReLU(inplace=True), conv3x3(feats, feats),
                                  ChannelAttention(feats, reduction))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResidualGroup(nn.Module):
    def __init__(self, feats: int, n_blocks: int, reduction: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*[RCAB(feats, reduction) for _ in range(n_blocks)], conv3x3(feats, feats))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class RCAN(nn.Module):
    def __init__(self, scale: int, bands: int = 3, n_groups: int = 4, n_blocks: int = 4, feats: int = 48,
                 reduction: int = 8, bicubic_residual: bool = True) -> None:
        super().__init__()
        self.scale = scale
        self.bicubic_residual = bicubic_residual
        self.head = conv3x3(bands, feats)
        self.body = nn.Sequential(*[ResidualGroup(feats, n_blocks, reduction) for _ in range(n_groups)],
                                  conv3x3(feats, feats))
        self.tail = nn.Sequential(PixelShuffleUpsampler(scale, feats), conv3x3(feats, bands))
        if bicubic_residual:
            damp_last_conv(self.tail)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.head(x)
        y = self.tail(f + self.body(f))
        return add_bicubic(y, x, self.scale) if self.bicubic_residual else y


@register("rcan", kind="sisr", neural=True, scales=(2, 3, 4),
          margin=lambda n_groups=4, n_blocks=4, **_: n_groups * (2 * n_blocks + 1) + 6,
          description="RCAN (CPU size: 4 groups x 4 channel-attention blocks x 48 feats)",
          paper="Zhang et al. 2018, Image Super-Resolution Using Very Deep Residual Channel Attention Networks")
def build_rcan(scale: int, bands: int = 3, **kw: object) -> RCAN:
    return RCAN(scale=scale, bands=bands, **kw)  # type: ignore[arg-type]
