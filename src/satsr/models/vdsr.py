"""VDSR (Kim et al., CVPR 2016): 20 3x3 conv layers on the bicubic image, global residual.

The paper's global residual over the interpolated input is kept (it is the point of VDSR). The
network runs at HR resolution, so it is the slowest of the classic CNNs per output pixel.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from satsr.models.layers import bicubic_up, conv3x3, damp_last_conv
from satsr.models.registry import register


class VDSR(nn.Module):
    def __init__(self, scale: int, bands: int = 3, depth: int = 20, feats: int = 64) -> None:
        super().__init__()
        self.scale = scale
        layers: list[nn.Module] = [conv3x3(bands, feats), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [conv3x3(feats, feats), nn.ReLU(inplace=True)]
        layers.append(conv3x3(feats, bands))
        self.body = nn.Sequential(*layers)
        damp_last_conv(self.body)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            up = bicubic_up(x.float(), self.scale)
        return self.body(up).float() + up


@register("vdsr", kind="sisr", neural=True, scales=(2, 3, 4),
          margin=lambda depth=20, scale=2, **_: math.ceil(depth / 2) + 3,
          description="VDSR: 20-layer CNN on the bicubic image with a global residual",
          paper="Kim et al. 2016, Accurate Image Super-Resolution Using Very Deep Convolutional Networks")
def build_vdsr(scale: int, bands: int = 3, **kw: object) -> VDSR:
    return VDSR(scale=scale, bands=bands, **kw)  # type: ignore[arg-type]
