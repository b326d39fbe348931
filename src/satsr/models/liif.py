"""LIIF (Chen et al., CVPR 2021): a local implicit image function, one model for any scale.

An encoder (EDSR-baseline without its upsampler, so it can start from ``edsr_x2``'s weights) turns the
LR image into a feature map; an MLP predicts the value at any continuous position from the feature of
a nearby LR pixel, the position relative to that pixel's centre, and the size of the output pixel
("cell"). Local ensemble: the four LR pixels around a position each predict, weighted by the area of
the opposite rectangle, so the output is continuous across LR pixel borders. As everywhere in satsr
(a departure from the paper, recorded in the card) the MLP predicts a residual over MATLAB bicubic
upsampling. Feature unfolding is left out to keep the decoder affordable on a CPU.

Coordinates are in LR pixel units: output pixel ``i`` of an ``H``-row output from an ``h``-row input has
its centre at ``(i + 0.5) * h / H - 0.5``, the MATLAB ``imresize`` convention, so the bicubic base and the
prediction share one grid and a tile whose origin falls on a whole output pixel maps exactly.
"""

from __future__ import annotations

import torch
from torch import nn

from satsr.arrays import Array, like_input, to_tensor
from satsr.errors import OptionError
from satsr.models.base import ModelCard, Upscaler
from satsr.models.layers import ResBlock, conv3x3
from satsr.models.registry import register
from satsr.ops.resize import imresize
from satsr.ops.spans import Scale, out_index

# output positions decoded per chunk at inference (bounds the MLP's activation memory)
CHUNK = 1 << 15


class LIIF(nn.Module):
    """``forward(lr (N, C, h, w), coords (N, Q, 2), cell (N, 2)) -> (N, Q, C)``; ``upscale(lr, (H, W))``."""

    def __init__(self, scale: int = 4, bands: int = 3, n_blocks: int = 16, feats: int = 64, hidden: int = 128,
                 layers: int = 3) -> None:
        super().__init__()
        self.scale = scale  # the largest scale it was trained for (a nominal value; any scale runs)
        self.bands = bands
        self.head = conv3x3(bands, feats)
        self.body = nn.Sequential(*[ResBlock(feats) for _ in range(n_blocks)], conv3x3(feats, feats))
        mlp: list[nn.Module] = []
        cin = feats + 4
        for _ in range(layers):
            mlp += [nn.Linear(cin, hidden), nn.ReLU(inplace=True)]
            cin = hidden
        mlp.append(nn.Linear(cin, bands))
        self.mlp = nn.Sequential(*mlp)
        with torch.no_grad():  # start at the bicubic image
            self.mlp[-1].weight.mul_(0.1)
            self.mlp[-1].bias.zero_()

    def encode(self, lr: torch.Tensor) -> torch.Tensor:
        f = self.head(lr)
        return f + self.body(f)

    def decode(self, feat: torch.Tensor, coords: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """Residual at ``coords`` ``(N, Q, 2)`` (row, col in LR px) from features ``(N, F, h, w)``."""
        n, _, h, w = feat.shape
        flat = feat.flatten(2).transpose(1, 2)  # (N, h*w, F)
        out = 0.0
        total = 0.0
        base = torch.floor(coords)
        for dy in (0, 1):
            for dx in (0, 1):
                near = base + torch.tensor([dy, dx], dtype=coords.dtype, device=coords.device)
                rel = coords - near  # in (-1, 1)
                iy = near[..., 0].clamp(0, h - 1).long()
                ix = near[..., 1].clamp(0, w - 1).long()
                f = torch.gather(flat, 1, (iy * w + ix).unsqueeze(-1).expand(-1, -1, flat.shape[-1]))
                inp = torch.cat([f, rel.to(f.dtype), cell[:, None, :].expand(-1, coords.shape[1], -1).to(f.dtype)],
                                -1)
                pred = self.mlp(inp)
                # area of the rectangle between the position and the opposite neighbour
                area = (1 - rel[..., 0].abs()) * (1 - rel[..., 1].abs())
                out = out + pred.float() * area.unsqueeze(-1)
                total = total + area.unsqueeze(-1)
        return out / total.clamp_min(1e-6)

    @staticmethod
    def grid(h: int, w: int, out_h: int, out_w: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """``(out_h * out_w, 2)`` LR-px coordinates of every output pixel centre (MATLAB convention)."""
        ys = (torch.arange(out_h, dtype=torch.float32, device=device) + 0.5) * (h / out_h) - 0.5
        xs = (torch.arange(out_w, dtype=torch.float32, device=device) + 0.5) * (w / out_w) - 0.5
        return torch.stack(torch.meshgrid(ys, xs, indexing="ij"), -1).reshape(-1, 2)

    def forward(self, lr: torch.Tensor, out_hw: tuple[int, int], idx: torch.Tensor | None = None) -> torch.Tensor:
        """Bicubic upsampling of ``lr`` ``(N, C, h, w)`` to ``out_hw`` plus the decoded residual: the whole
        grid ``(N, C, H, W)``, or only the flat output positions ``idx`` ``(N, Q)`` -> ``(N, Q, C)`` (training)."""
        n, c, h, w = lr.shape
        oh, ow = out_hw
        with torch.autocast(lr.device.type, enabled=False):
            base = imresize(lr.float(), (oh, ow), kernel="bicubic").flatten(2).transpose(1, 2)  # (N, H*W, C)
        feat = self.encode(lr)
        coords = self.grid(h, w, oh, ow, lr.device)
        cell = torch.tensor([h / oh, w / ow], device=lr.device).expand(n, 2)
        if idx is not None:
            q = coords[idx]  # (N, Q, 2)
            return torch.gather(base, 1, idx.unsqueeze(-1).expand(-1, -1, c)) + self.decode(feat, q, cell)
        parts = []
        for start in range(0, coords.shape[0], CHUNK):
            q = coords[start:start + CHUNK].unsqueeze(0).expand(n, -1, -1)
            parts.append(self.decode(feat, q, cell))
        return (base + torch.cat(parts, 1)).transpose(1, 2).reshape(n, c, oh, ow)


class LIIFUpscaler(Upscaler):
    """Runs a trained ``LIIF`` at any scale as a single-image model (``call_sized`` for fractional scales)."""

    def __init__(self, net: LIIF, name: str, scale: Scale, margin: int, card: ModelCard | None = None,
                 device: str | torch.device = "cpu") -> None:
        self.net = net.eval().to(device)
        self.name = name
        self.scale = scale
        self.scales = (scale,)
        self.margin = margin
        self.card = card
        self.device = torch.device(device)
        self.bands = (net.bands,)

    @torch.inference_mode()
    def call_sized(self, x: Array, valid: Array | None, out_hw: tuple[int, int]) -> Array:
        t = to_tensor(x, self.device)
        if t.ndim != 3 or t.shape[0] != self.net.bands:
            raise OptionError(f"{self.describe()} takes {self.net.bands} bands, got shape {tuple(t.shape)}")
        return like_input(self.net(t[None], out_hw)[0].float(), x)

    def __call__(self, x: Array) -> Array:
        h, w = x.shape[-2:]
        return self.call_sized(x, None, (out_index(h, self.scale), out_index(w, self.scale)))

    def describe(self) -> str:
        return f"{self.name} x{float(self.scale):g}"


def wrap_liif(net: LIIF, *, name: str, scale: Scale, card: ModelCard | None, device: str = "cpu", margin: int = 0,
              **_: object) -> LIIFUpscaler:
    """The registry's wrapper: a built (and loaded) LIIF -> a single-image model at ``scale``."""
    return LIIFUpscaler(net, name=name, scale=scale, margin=margin, card=card, device=device)


def _margin(n_blocks: int = 16, **_: object) -> int:
    # head + 2 per block + body end, one LR px for the ensemble's neighbours, bicubic (2)
    return 2 * n_blocks + 6


@register("liif", kind="sisr", neural=True, scales=(2, 3, 4), margin=_margin, continuous=(1.0, 8.0), wrap=wrap_liif,
          defaults={"n_blocks": 16, "feats": 64, "hidden": 128, "layers": 3},
          description="LIIF: EDSR encoder + MLP implicit function, one model for any scale (e.g. 2.5, 3.7)",
          paper="Chen et al. 2021, Learning Continuous Image Representation with Local Implicit Image Function")
def build_liif(scale: int = 4, bands: int = 3, **kw: object) -> LIIF:
    return LIIF(scale=scale, bands=bands, **kw)  # type: ignore[arg-type]
