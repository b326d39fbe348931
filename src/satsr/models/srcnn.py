"""SRCNN (Dong et al., ECCV 2014 / TPAMI 2016): three convolutions on the bicubic-upsampled image.

9-1-5 filters with 64 and 32 features as in the paper; 'same' padding so the output keeps the
input size (the paper trained on valid convolutions). The network sees the bicubic image, so the
prediction is a refinement of it (the paper has no explicit skip; ``bicubic_residual`` adds one).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from satsr.models.layers import bicubic_up
from satsr.models.registry import register


class SRCNN(nn.Module):
    def __init__(self, scale: int, bands: int = 3, f1: int = 9, f2: int = 1, f3: int = 5, n1: int = 64,
                 n2: int = 32, bicubic_residual: bool = False) -> None:
        super().__init__()
        self.scale = scale
        self.bicubic_residual = bicubic_residual
        self.body = nn.Sequential(
            nn.Conv2d(bands, n1, f1, padding=f1 // 2), nn.ReLU(inplace=True),
            nn.Conv2d(n1, n2, f2, padding=f2 // 2), nn.ReLU(inplace=True),
            nn.Conv2d(n2, bands, f3, padding=f3 // 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            up = bicubic_up(x.float(), self.scale)
        y = self.body(up)
        return y.float() + up if self.bicubic_residual else y


def _margin(scale: int = 4, f1: int = 9, f2: int = 1, f3: int = 5, **_: object) -> int:
    hr_radius = (f1 + f2 + f3 - 3) // 2
    return math.ceil(hr_radius / scale) + 3


@register("srcnn", kind="sisr", neural=True, scales=(2, 3, 4), margin=lambda **kw: _margin(**kw),
          description="SRCNN 9-1-5: three convolutions on the bicubic-upsampled image",
          paper="Dong et al. 2014, Learning a Deep Convolutional Network for Image Super-Resolution")
def build_srcnn(scale: int, bands: int = 3, **kw: object) -> SRCNN:
    return SRCNN(scale=scale, bands=bands, **kw)  # type: ignore[arg-type]
