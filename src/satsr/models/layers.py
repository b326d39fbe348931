"""Building blocks shared by the neural families (torch only; no satsr imports above models/)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def conv3x3(cin: int, cout: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1, bias=bias)


class PixelShuffleUpsampler(nn.Sequential):
    """Sub-pixel convolution upsampling (ESPCN/EDSR): x2^n as repeated x2 stages, x3 in one stage."""

    def __init__(self, scale: int, feats: int) -> None:
        layers: list[nn.Module] = []
        if scale & (scale - 1) == 0:  # power of two
            for _ in range(int(math.log2(scale))):
                layers += [conv3x3(feats, 4 * feats), nn.PixelShuffle(2)]
        elif scale in (3, 5, 6, 7):
            layers += [conv3x3(feats, scale * scale * feats), nn.PixelShuffle(scale)]
        else:
            raise ValueError(f"pixel-shuffle upsampler does not support scale {scale}")
        super().__init__(*layers)


def upsampler_margin(scale: int) -> int:
    """Context (input px) consumed by ``PixelShuffleUpsampler`` plus a final HR conv, rounded up."""
    return 2


def bicubic_up(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic upsampling used as a global residual path (torch's a=-0.75 kernel, edge-clamped)."""
    return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)


def add_bicubic(residual: torch.Tensor, lr: torch.Tensor, scale: int) -> torch.Tensor:
    """``residual + bicubic(lr)`` computed in fp32 even under bf16 autocast.

    The bicubic path carries most of the signal; in bf16 it would be quantised to ~1/256 of its
    value (about 1 DN of 8-bit data), which caps attainable PSNR and blurs the training signal.
    """
    with torch.autocast(lr.device.type, enabled=False):
        return residual.float() + bicubic_up(lr.float(), scale)


def damp_last_conv(module: nn.Module, factor: float = 0.1) -> None:
    """Scale down the last conv of ``module`` so a residual network starts near its skip path."""
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        convs[-1].weight.mul_(factor)
        if convs[-1].bias is not None:
            convs[-1].bias.zero_()


class ResBlock(nn.Module):
    """EDSR residual block: conv-ReLU-conv, scaled, added to the input (no batch norm)."""

    def __init__(self, feats: int, res_scale: float = 1.0) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3x3(feats, feats), nn.ReLU(inplace=True), conv3x3(feats, feats))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


def gaussian_taps(sigma: float) -> torch.Tensor:
    """Normalised 1-D Gaussian taps out to 3 sigma."""
    r = max(1, math.ceil(3 * sigma))
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def local_stats(x: torch.Tensor, sigma: float, rel_floor: float = 0.01) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-band local mean and standard deviation of ``(N, C, h, w)`` under a Gaussian window (reflected
    borders), in fp32. The deviation has a floor of ``rel_floor`` x |mean| so flat areas do not blow up;
    scaling ``x`` by a gain scales both exactly, and an offset leaves the deviation unchanged except
    where that floor binds."""
    with torch.autocast(x.device.type, enabled=False):
        x = x.float()
        k = gaussian_taps(sigma).to(x.device)
        r = (k.numel() - 1) // 2
        c = x.shape[1]

        def blur(t: torch.Tensor) -> torch.Tensor:
            mode = "reflect" if min(t.shape[-2:]) > r else "replicate"
            t = F.pad(t, (r, r, r, r), mode=mode)
            t = F.conv2d(t, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
            return F.conv2d(t, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)

        mean = blur(x)
        var = (blur(x * x) - mean * mean).clamp_min(0)
        std = torch.sqrt(var + (rel_floor * mean) ** 2 + 1e-12)
    return mean, std
