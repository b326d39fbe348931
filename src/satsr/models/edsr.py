"""EDSR (Lim et al., CVPR-W 2017, "Enhanced Deep Residual Networks for Single Image SR").

Baseline size: 16 residual blocks of 64 features without batch norm, pixel-shuffle tail. The
paper's mean-shift layer is replaced by the value scaling in the model card, and (a deliberate
departure, recorded in each card) the network predicts a residual over bicubic upsampling, which
lets it train to a useful point on a CPU in hours rather than days.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from satsr.models.layers import (
    PixelShuffleUpsampler,
    RebandRows,
    ResBlock,
    ResidualRows,
    SeqRows,
    add_bicubic,
    conv3x3,
    damp_last_conv,
    local_stats,
    row_stream,
    row_streams_allowed,
    row_streams_enabled,
    run_row_stream,
    stream_band,
)
from satsr.models.registry import register, register_alias


class EDSR(nn.Module):
    """EDSR; ``normalize="local"`` makes it independent of the input's units (see ``forward``)."""

    def __init__(self, scale: int, bands: int = 3, n_blocks: int = 16, feats: int = 64,
                 res_scale: float = 1.0, bicubic_residual: bool = True, normalize: str = "none",
                 norm_sigma: float = 3.0) -> None:
        super().__init__()
        if normalize not in ("none", "local"):
            raise ValueError(f"normalize must be 'none' or 'local', got {normalize!r}")
        self.scale = scale
        self.bicubic_residual = bicubic_residual or normalize == "local"
        self.normalize = normalize
        self.norm_sigma = norm_sigma
        self.head = conv3x3(bands, feats)
        self.body = nn.Sequential(*[ResBlock(feats, res_scale) for _ in range(n_blocks)], conv3x3(feats, feats))
        self.tail = nn.Sequential(PixelShuffleUpsampler(scale, feats), conv3x3(feats, bands))
        if bicubic_residual:  # start close to bicubic: the network only has to learn the detail
            damp_last_conv(self.tail)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalize == "local":
            # the network sees each pixel relative to its neighbourhood (local mean and contrast) and
            # predicts detail in those units: out = bicubic(x) + up(local std) * net(z). Multiplying the
            # input by a gain multiplies the output by it, so 8-bit renders and 16-bit reflectance of
            # one sensor get the same treatment (value_scale 1, any dtype)
            mean, std = local_stats(x, self.norm_sigma)
            y = self.features((x.float() - mean) / std)
            with torch.autocast(x.device.type, enabled=False):
                up = F.interpolate(std, scale_factor=self.scale, mode="bicubic", align_corners=False).clamp_min(0)
                return add_bicubic(y.float() * up, x, self.scale)
        y = self.features(x)
        if self.bicubic_residual:
            y = add_bicubic(y, x, self.scale)
        return y

    def features(self, z: torch.Tensor) -> torch.Tensor:
        """``tail(f + body(f))`` with ``f = head(z)``. In inference it runs as a row stream
        (``satsr.models.layers.row_stream``), which gives the same numbers with far less memory: the
        upsampling tail always (it would hold two maps of 4 x feats channels at up to the output's
        resolution), the whole network on inputs taller than two bands (then a few bands of features are
        in memory instead of four whole maps), so whole scenes fit in one tile."""
        if not row_streams_enabled():
            f = self.head(z)
            return self.tail(f + self.body(f))
        feats = self.head.out_channels
        band = stream_band(z.shape[-1], feats)
        tail_rows = stream_band(z.shape[-1] * self.scale**2, feats)
        if z.shape[-2] > 2 * band:
            stream = SeqRows([row_stream(self.head), ResidualRows(row_stream(self.body)),
                              RebandRows(row_stream(self.tail), tail_rows)])
            return run_row_stream(stream, z, self.scale, band)
        f = self.head(z)
        return run_row_stream(row_stream(self.tail), f + self.body(f), self.scale, tail_rows)

    def memory_bytes(self, n: int, h: int, w: int, element: int = 4) -> int:
        """Peak bytes of the activations of one inference forward on ``(n, bands, h, w)`` (``element`` bytes
        per value), as ``features`` runs it (row streams, or whole maps inside ``whole_maps``): bands or
        whole maps of ``feats`` channels, the tail, and the output with its bicubic base
        (``satsr.models.base.TorchUpscaler.memory_bytes``)."""
        feats, s = self.head.out_channels, self.scale
        bands = self.head.in_channels
        band, tail_rows = stream_band(w, feats), stream_band(w * s * s, feats)
        per_row = w * feats * element  # one LR row of features
        streams = row_streams_allowed()
        if streams and h > 2 * band:
            lag = 2 * len(self.body) + 4  # rows the global residual holds while the body catches up
            body = (8 * (band + 2) + lag + band + 2 * (2 * len(self.body) + 3)) * per_row
        else:
            body = 4 * h * per_row
        # the tail: a conv's 4 x feats output at half the scale, its pixel shuffle and the next conv's input
        if streams:  # the tail's pieces run while the body's bands and row caches are held
            active = body + 3 * tail_rows * s * s * per_row
        else:  # the tail runs on the body's whole output, the other maps freed
            active = max(body, h * per_row + int((2.25 * s * s + 1) * h * per_row))
        out = 2 * bands * h * w * s * s * element  # output and its bicubic base (added in place)
        local = 6 * bands * h * w * element if self.normalize == "local" else 0
        return n * (active + out + local)


def _margin(n_blocks: int = 16, normalize: str = "none", norm_sigma: float = 3.0, **_: object) -> int:
    # head + 2 per block + body end + upsampler conv + final conv (at HR, < 1 LR px) + bicubic (2),
    # plus the local statistics' window when normalising
    return 2 * n_blocks + 6 + (math.ceil(3 * norm_sigma) + 2 if normalize == "local" else 0)


@register("edsr", kind="sisr", neural=True, scales=(2, 3, 4), margin=_margin,
          description="EDSR baseline: 16 res-blocks x 64 feats, pixel shuffle, residual over bicubic",
          paper="Lim et al. 2017, Enhanced Deep Residual Networks for Single Image Super-Resolution")
def build_edsr(scale: int, bands: int = 3, **kw: object) -> EDSR:
    return EDSR(scale=scale, bands=bands, **kw)  # type: ignore[arg-type]


register_alias("edsr-ms", "edsr",
               "EDSR run per band on 16-bit multispectral reflectance (Landsat 8 / Sentinel-2 10 m), /10000",
               defaults={"per_band": True})
register_alias("edsr-real", "edsr",
               "EDSR trained on REAL Sentinel-2 10 m / aerial 5 m pairs (x2), unit-free (local normalisation)",
               defaults={"normalize": "local"})
