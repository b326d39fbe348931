"""TR-MISR (An et al. 2022, "TR-MISR: Multiimage Super-Resolution Based on Feature Fusion With
Transformers").

Frames are encoded by a shared 2-D convolutional encoder; at every pixel the T frame codes plus one
learnable fusion token form a sequence that a small transformer encoder mixes; the fusion token's
output is decoded by a sub-pixel upsampler. Cloudy observations and padding frames are masked out of
the attention at their pixels, so the fusion token never attends to a cloud. Departures, recorded in
each model card: residual over the bicubic mean of the clear frames (``misr_layers``), per-stack
normalisation, CPU-sized.
"""

from __future__ import annotations

import torch
from torch import nn

from satsr.models.layers import ResBlock, conv3x3
from satsr.models.misr_layers import MISRNet, Prepared, ShuffleDecoder, frame_inputs, wrap_fuser
from satsr.models.registry import register


class TRMISR(MISRNet):
    def __init__(self, scale: int = 3, bands: int = 1, feats: int = 32, enc_blocks: int = 2, layers: int = 2,
                 heads: int = 4, ff: int = 64, match: bool = True) -> None:
        super().__init__()
        self.scale, self.bands, self.match = scale, bands, match
        self.encoder = nn.Sequential(conv3x3(2 * bands + 1, feats), nn.PReLU(feats),
                                     *[ResBlock(feats) for _ in range(enc_blocks)], conv3x3(feats, feats))
        self.token = nn.Parameter(torch.zeros(1, 1, feats))
        nn.init.normal_(self.token, std=0.02)
        layer = nn.TransformerEncoderLayer(feats, heads, ff, dropout=0.0, batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.decoder = ShuffleDecoder(feats, bands, scale)

    def core(self, prep: Prepared) -> tuple[torch.Tensor, None]:
        x = frame_inputs(prep)
        b, t, cin, h, w = x.shape
        f = self.encoder(x.reshape(b * t, cin, h, w)).reshape(b, t, -1, h, w)
        feats = f.shape[2]
        seq = f.permute(0, 3, 4, 1, 2).reshape(b * h * w, t, feats)  # one sequence per pixel
        seq = torch.cat([self.token.expand(seq.shape[0], 1, feats).to(seq.dtype), seq], 1)
        usable = (prep.clear & prep.valid[:, :, None, None]).permute(0, 2, 3, 1).reshape(b * h * w, t)
        # a pixel with no clear frame may still use its (filled) valid frames
        fallback = prep.valid[:, None, None, :].expand(b, h, w, t).reshape(b * h * w, t)
        usable = torch.where(usable.any(1, keepdim=True), usable, fallback)
        ignore = torch.cat([usable.new_zeros(usable.shape[0], 1), ~usable], 1)
        out = self.transformer(seq, src_key_padding_mask=ignore)[:, 0]
        fused = out.reshape(b, h, w, feats).permute(0, 3, 1, 2)
        return self.decoder(fused), None


@register("trmisr", kind="misr", neural=True, scales=(3,), defaults={"per_band": True}, wrap=wrap_fuser,
          description="TR-MISR: conv encoder, per-pixel transformer fusion with a learnable token, residual",
          paper="An et al. 2022, TR-MISR: Multiimage Super-Resolution Based on Feature Fusion With "
                "Transformers")
def build_trmisr(scale: int = 3, bands: int = 1, **kw: object) -> TRMISR:
    return TRMISR(scale=scale, bands=bands, **kw)  # type: ignore[arg-type]
