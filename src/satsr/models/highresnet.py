"""HighRes-net (Deudon et al. 2020, "HighRes-net: Recursive Fusion for Multi-Frame Super-Resolution
of Satellite Imagery").

Each frame is encoded together with the stack's median reference (which implicitly co-registers it),
the encodings are fused pairwise and recursively (frame i with frame i + T/2, the same fusion block
at every level, padding frames weighted out), and the single fused code is decoded by a sub-pixel
upsampler. Departures, recorded in each model card: the network predicts a residual over the
bicubic mean of the clear frames (``misr_layers``), inputs are normalised per stack, and it is sized
for CPU training (a few hundred thousand parameters); the training-time ShiftNet is replaced by the
shift-tolerant loss (``satsr.train.misr_loss``).
"""

from __future__ import annotations

import torch
from torch import nn

from satsr.models.layers import ResBlock, conv3x3
from satsr.models.misr_layers import MISRNet, Prepared, ShuffleDecoder, frame_inputs, wrap_fuser
from satsr.models.registry import register


class HighResNet(MISRNet):
    def __init__(self, scale: int = 3, bands: int = 1, feats: int = 40, enc_blocks: int = 2,
                 match: bool = True) -> None:
        super().__init__()
        self.scale, self.bands, self.match = scale, bands, match
        self.encoder = nn.Sequential(conv3x3(2 * bands + 1, feats), nn.PReLU(feats),
                                     *[ResBlock(feats) for _ in range(enc_blocks)], conv3x3(feats, feats))
        self.fuse = nn.Sequential(conv3x3(2 * feats, feats), nn.PReLU(feats), conv3x3(feats, feats),
                                  nn.PReLU(feats))
        self.decoder = ShuffleDecoder(feats, bands, scale)

    def core(self, prep: Prepared) -> tuple[torch.Tensor, None]:
        x = frame_inputs(prep)
        b, t, cin, h, w = x.shape
        f = self.encoder(x.reshape(b * t, cin, h, w)).reshape(b, t, -1, h, w)
        alpha = prep.valid.to(f.dtype).reshape(b, t, 1, 1, 1)
        n = 1
        while n < t:
            n *= 2
        if n > t:  # pad to a power of two with frames that carry no weight
            f = torch.cat([f, f.new_zeros(b, n - t, *f.shape[2:])], 1)
            alpha = torch.cat([alpha, alpha.new_zeros(b, n - t, 1, 1, 1)], 1)
        while n > 1:
            half = n // 2
            a, c = f[:, :half], f[:, half:]
            pair = torch.cat([a, c], 2).reshape(b * half, -1, h, w)
            fused = self.fuse(pair).reshape(b, half, -1, h, w)
            f = a + alpha[:, half:] * fused
            alpha = alpha[:, :half]
            n = half
        return self.decoder(f[:, 0]), None


@register("highresnet", kind="misr", neural=True, scales=(3,), defaults={"per_band": True}, wrap=wrap_fuser,
          description="HighRes-net: reference-paired encoder, recursive pairwise fusion, residual over "
                      "the clear mean",
          paper="Deudon et al. 2020, HighRes-net: Recursive Fusion for Multi-Frame Super-Resolution of "
                "Satellite Imagery")
def build_highresnet(scale: int = 3, bands: int = 1, **kw: object) -> HighResNet:
    return HighResNet(scale=scale, bands=bands, **kw)  # type: ignore[arg-type]
