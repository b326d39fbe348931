"""ESPCN (Shi et al., CVPR 2016): features at LR resolution, one sub-pixel convolution at the end.

5x5(64)-tanh, 3x3(32)-tanh, 3x3(bands * s^2), pixel shuffle, as in the paper; no global residual
in the paper, so ``bicubic_residual`` is off by default.
"""

from __future__ import annotations

import torch
from torch import nn

from satsr.models.layers import add_bicubic, damp_last_conv
from satsr.models.registry import register


class ESPCN(nn.Module):
    def __init__(self, scale: int, bands: int = 3, n1: int = 64, n2: int = 32,
                 bicubic_residual: bool = False) -> None:
        super().__init__()
        self.scale = scale
        self.bicubic_residual = bicubic_residual
        self.body = nn.Sequential(
            nn.Conv2d(bands, n1, 5, padding=2), nn.Tanh(),
            nn.Conv2d(n1, n2, 3, padding=1), nn.Tanh(),
            nn.Conv2d(n2, bands * scale * scale, 3, padding=1),
        )
        self.shuffle = nn.PixelShuffle(scale)
        if bicubic_residual:
            damp_last_conv(self.body)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.shuffle(self.body(x))
        return add_bicubic(y, x, self.scale) if self.bicubic_residual else y


@register("espcn", kind="sisr", neural=True, scales=(2, 3, 4), margin=6,
          description="ESPCN: LR feature extraction and one sub-pixel convolution (tiny, fast)",
          paper="Shi et al. 2016, Real-Time Single Image and Video SR Using an Efficient Sub-Pixel CNN")
def build_espcn(scale: int, bands: int = 3, **kw: object) -> ESPCN:
    return ESPCN(scale=scale, bands=bands, **kw)  # type: ignore[arg-type]
