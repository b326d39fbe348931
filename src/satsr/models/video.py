"""Sliding-window video super-resolution (``swvsr``), sized for a CPU, in the spirit of the window-based
satellite-video networks (EDVR/TDAN-style alignment then fusion; MSDTGP, DDRN for Jilin-1 video).

Each output frame is made from a window of low-res frames: the target frame first (the multi-image
contract's reference), then its neighbours in any order. For every neighbour a small dilated CNN
predicts a dense flow to the target from the pair (learned alignment: satellite video drifts slowly
but cars and trucks move), the neighbour is warped by it, encoded together with the target and its
difference to it, and given a learned per-pixel confidence. Neighbour features are pooled by those
confidences (a set, so the order and the number of neighbours are free: 0 to any), joined to the
target's own features and a map of how much neighbour evidence each pixel had, and a residual stack
with a sub-pixel tail predicts the detail added to the bicubic upsampling of the target.

A window without usable neighbours (a 1-frame clip, the first frame after a scene cut, neighbours
marked not clear in ``masks``) gives exactly the network's single-image result: pooled features and
evidence are zero whether the neighbours are absent or masked. In training a share of neighbours is
dropped and some are replaced by frames of other samples (simulated scene cuts), so the network
learns to use the single-image path and to distrust frames that do not match.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from satsr.arrays import Array, like_input
from satsr.errors import OptionError
from satsr.models.base import Fuser, ModelCard
from satsr.models.layers import ResBlock, add_bicubic, conv3x3, damp_last_conv
from satsr.models.misr_layers import stack_tensors
from satsr.models.registry import register


def warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``x (N, C, h, w)`` sampled at ``pixel + flow`` (``flow (N, 2, h, w)``: dx, dy in pixels), bilinear,
    edge values outside."""
    n, _, h, w = x.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=x.device, dtype=flow.dtype),
                            torch.arange(w, device=x.device, dtype=flow.dtype), indexing="ij")
    gx = (xs[None] + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys[None] + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], -1)
    return F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="border", align_corners=True)


class FlowNet(nn.Module):
    """Dense flow ``(N, 2, h, w)`` from (target, neighbour) pairs: dilated convolutions (reach ~15 px),
    the last one zero so a fresh network does not move anything."""

    def __init__(self, bands: int, feats: int = 32) -> None:
        super().__init__()
        act = nn.LeakyReLU(0.1, inplace=True)
        self.body = nn.Sequential(
            nn.Conv2d(2 * bands, feats, 3, padding=1), act,
            nn.Conv2d(feats, feats, 3, padding=2, dilation=2), act,
            nn.Conv2d(feats, feats, 3, padding=4, dilation=4), act,
            nn.Conv2d(feats, feats, 3, padding=1), act,
            nn.Conv2d(feats, 2, 3, padding=1),
        )
        with torch.no_grad():
            self.body[-1].weight.zero_()
            self.body[-1].bias.zero_()

    def forward(self, ref: torch.Tensor, nb: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([ref, nb], 1))


class WindowVSR(nn.Module):
    """``forward(frames (B, T, C, h, w), masks (B, T, h, w)) -> (sr (B, C, h*s, w*s), None)``, target first."""

    def __init__(self, scale: int = 4, bands: int = 3, feats: int = 48, n_blocks: int = 6, flow_feats: int = 32,
                 drop_neighbour: float = 0.15, fake_cut: float = 0.1) -> None:
        super().__init__()
        self.scale, self.bands = scale, bands
        self.drop_neighbour, self.fake_cut = drop_neighbour, fake_cut
        self.flow = FlowNet(bands, flow_feats)
        act = nn.LeakyReLU(0.1, inplace=True)
        self.encode_nb = nn.Sequential(conv3x3(3 * bands, feats), act, conv3x3(feats, feats))
        self.confidence = nn.Sequential(conv3x3(3 * bands, 16), act, conv3x3(16, 1))
        self.encode_ref = nn.Sequential(conv3x3(bands, feats), act, conv3x3(feats, feats))
        self.join = nn.Conv2d(2 * feats + 1, feats, 1)
        self.body = nn.Sequential(*[ResBlock(feats) for _ in range(n_blocks)], conv3x3(feats, feats))
        self.tail = nn.Sequential(conv3x3(feats, bands * scale * scale), nn.PixelShuffle(scale))
        damp_last_conv(self.tail)

    def _train_masks(self, frames: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training only: drop neighbours and swap some for another sample's frame (a scene cut)."""
        b, t = frames.shape[:2]
        if t < 2:
            return frames, masks
        g = torch.rand(b, t, device=frames.device)
        keep = (g >= self.drop_neighbour) | (torch.arange(t, device=frames.device) == 0)
        masks = masks & keep[:, :, None, None]
        if b > 1 and self.fake_cut > 0:
            cut = torch.rand(b, t, device=frames.device) < self.fake_cut
            cut[:, 0] = False
            other = frames.roll(1, 0)
            frames = torch.where(cut[:, :, None, None, None], other, frames)
        return frames, masks

    def forward(self, frames: torch.Tensor, masks: torch.Tensor | None = None) -> tuple[torch.Tensor, None]:
        x = frames.float()
        b, t, c, h, w = x.shape
        m = torch.ones(b, t, h, w, dtype=torch.bool, device=x.device) if masks is None else masks.bool()
        if self.training:
            x, m = self._train_masks(x, m)
        ref = x[:, 0]
        fr = self.encode_ref(ref)
        if t > 1:
            nb = x[:, 1:].reshape(b * (t - 1), c, h, w)
            rr = ref[:, None].expand(b, t - 1, c, h, w).reshape(b * (t - 1), c, h, w)
            flow = self.flow(rr, nb).float()
            aligned = warp(nb, flow)
            valid = warp(m[:, 1:].reshape(b * (t - 1), 1, h, w).float(), flow) > 0.999
            inp = torch.cat([aligned.to(rr.dtype), rr, (aligned - rr).abs().to(rr.dtype)], 1)
            feats = self.encode_nb(inp)
            wgt = torch.sigmoid(self.confidence(inp).float()) * valid.float()  # (B*(T-1), 1, h, w)
            feats = feats.reshape(b, t - 1, -1, h, w)
            wgt = wgt.reshape(b, t - 1, 1, h, w)
            total = wgt.sum(1)
            pooled = (feats.float() * wgt).sum(1) / total.clamp_min(1e-6)
            evidence = total / (t - 1)
        else:
            pooled = fr.new_zeros(fr.shape).float()
            evidence = fr.new_zeros(b, 1, h, w).float()
        f = self.join(torch.cat([fr, pooled.to(fr.dtype), evidence.to(fr.dtype)], 1))
        y = self.tail(f + self.body(f))
        return add_bicubic(y, ref, self.scale), None


def _reach(n_blocks: int = 6, **_: object) -> int:
    """Low-res px one output pixel depends on (each side): flow (~10) + warp + encoders, join, body, tail."""
    return 10 + 2 + 2 + 2 * n_blocks + 2 + 2 + 2


class VideoFuser(Fuser):
    """Runs a ``WindowVSR`` as a multi-image model on one window ``(T, C, h, w)``, target first.

    Frames larger than ``tile`` low-res px are processed in overlapping tiles with ``context`` px of
    real neighbours each side (the network's reach), so the output equals the whole-frame result.
    """

    def __init__(self, net: WindowVSR, name: str, scale: int, card: ModelCard | None = None,
                 device: str | torch.device = "cpu", tile: int = 192) -> None:
        self.net = net.eval().to(device)
        self.name, self.scale, self.scales, self.card = name, scale, (scale,), card
        self.device = torch.device(device)
        self.bands = (net.bands,)
        self.tile = int(tile)
        self.context = _reach(len(net.body) - 1)

    @torch.inference_mode()
    def fuse_with_uncertainty(self, frames: Array, masks: Array | None = None) -> tuple[Array, None]:
        x, m = stack_tensors(frames, masks, self.device)
        t, c, h, w = x.shape
        if c != self.net.bands:
            raise OptionError(f"{self.describe()} takes frames of {self.net.bands} band(s), got {c}")
            m = (m.to(self.device) > 0).reshape(t, h, w)
        s = self.scale
        out = torch.empty(c, h * s, w * s, device=self.device)
        step, ctx = self.tile, self.context
        for y0 in range(0, h, step):
            for x0 in range(0, w, step):
                y1, x1 = min(y0 + step, h), min(x0 + step, w)
                a0, b0, a1, b1 = max(y0 - ctx, 0), max(x0 - ctx, 0), min(y1 + ctx, h), min(x1 + ctx, w)
                y, _ = self.net(x[None, :, :, a0:a1, b0:b1], m[None, :, a0:a1, b0:b1])
                out[:, y0 * s:y1 * s, x0 * s:x1 * s] = y[0, :, (y0 - a0) * s:(y1 - a0) * s, (x0 - b0) * s:(x1 - b0) * s]
        return like_input(out, frames), None


def wrap_video(net: WindowVSR, *, name: str, scale: int, card: ModelCard | None = None, device: str = "cpu",
               **options: object) -> VideoFuser:
    """The registry's wrapper: a built (and loaded) ``WindowVSR`` as a multi-image model."""
    options = {k: v for k, v in options.items() if k not in ("margin", "bands", "per_band")}
    return VideoFuser(net, name=name, scale=scale, card=card, device=device, **options)  # type: ignore[arg-type]


@register("swvsr", kind="misr", neural=True, scales=(2, 3, 4), wrap=wrap_video,
          defaults={"feats": 48, "n_blocks": 6},
          description="sliding-window video SR: learned flow alignment of each neighbour, confidence-pooled "
                      "features, residual over bicubic of the target frame (satsr video)",
          paper="window-based video SR in the spirit of EDVR/TDAN and satellite-video networks (MSDTGP, DDRN)")
def build_swvsr(scale: int = 4, bands: int = 3, **kw: object) -> WindowVSR:
    return WindowVSR(scale=scale, bands=bands, **kw)  # type: ignore[arg-type]


__all__ = ["VideoFuser", "WindowVSR", "warp"]
