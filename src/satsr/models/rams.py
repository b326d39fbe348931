"""RAMS (Salvetti et al. 2020, "Multi-Image Super Resolution of Remotely Sensed Images Using Residual
Attention Deep Neural Networks").

The stack is treated as a volume (frames x height x width) and processed by 3-D convolutional
residual feature-attention blocks (each re-weights its channels from global statistics), then
reduced over time and upsampled by a sub-pixel convolution; a global residual path carries a
classical estimate. Departures, recorded in each model card: the temporal reduction is a masked
attention pooling instead of a chain of unpadded 3-D convolutions (so any number of frames works,
padding and cloudy observations get no weight), the global residual is the bicubic mean of the
clear frames (``misr_layers``), inputs are normalised per stack, and the size suits CPU training.
"""

from __future__ import annotations

import torch
from torch import nn

from satsr.models.misr_layers import (
    MISRNet,
    Prepared,
    ShuffleDecoder,
    frame_inputs,
    masked_softmax_pool,
    wrap_fuser,
)
from satsr.models.registry import register


class RFAB3d(nn.Module):
    """Residual feature-attention block on a ``(N, F, T, h, w)`` volume: conv-ReLU-conv, channel
    attention from the global average, added to the input."""

    def __init__(self, feats: int, reduction: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv3d(feats, feats, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv3d(feats, feats, 3, padding=1))
        mid = max(feats // reduction, 4)
        self.att = nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Conv3d(feats, mid, 1), nn.ReLU(inplace=True),
                                 nn.Conv3d(mid, feats, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y * self.att(y)


class RAMS(MISRNet):
    def __init__(self, scale: int = 3, bands: int = 1, feats: int = 32, blocks: int = 4, reduction: int = 8,
                 match: bool = True) -> None:
        super().__init__()
        self.scale, self.bands, self.match = scale, bands, match
        self.head = nn.Conv3d(2 * bands + 1, feats, 3, padding=1)
        self.body = nn.ModuleList(RFAB3d(feats, reduction) for _ in range(blocks))
        self.body_end = nn.Conv3d(feats, feats, 3, padding=1)
        self.score = nn.Conv3d(feats, feats, 3, padding=1)  # per-channel temporal attention scores
        self.decoder = ShuffleDecoder(feats, bands, scale)

    def core(self, prep: Prepared) -> tuple[torch.Tensor, None]:
        x = frame_inputs(prep).transpose(1, 2)  # (B, Cin, T, h, w)
        keep = prep.valid.to(x.dtype)[:, None, :, None, None]
        f = self.head(x) * keep
        g = f
        for blk in self.body:
            g = blk(g) * keep
        f = f + self.body_end(g) * keep
        scores = self.score(f)
        weight = (prep.clear & prep.valid[:, :, None, None])[:, :, None].to(f.dtype)
        fused = masked_softmax_pool(f.transpose(1, 2), scores.transpose(1, 2), weight)
        return self.decoder(fused), None


@register("rams", kind="misr", neural=True, scales=(3,), defaults={"per_band": True}, wrap=wrap_fuser,
          description="RAMS: 3-D residual feature-attention blocks, temporal attention reduction, "
                      "global residual",
          paper="Salvetti et al. 2020, Multi-Image Super Resolution of Remotely Sensed Images Using Residual "
                "Attention Deep Neural Networks")
def build_rams(scale: int = 3, bands: int = 1, **kw: object) -> RAMS:
    return RAMS(scale=scale, bands=bands, **kw)  # type: ignore[arg-type]
