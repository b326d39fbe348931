"""DSen2-style guided super-resolution network (after Lanaras et al. 2018, "Super-resolution of
Sentinel-2 images: learning a globally applicable deep neural network").

The high-res guide bands and the bicubic-upsampled low-res bands are concatenated, passed through
a convolution, a stack of residual blocks (no batch norm, residual scaling 0.1 as in the paper) and
a final convolution that predicts a correction added to a base image:

* ``base="bicubic"``: the upsampled low-res bands, as in the paper;
* ``base="hpi"``: the HPI regression sharpening (``satsr.models.guided_classical``), also fed to the network,
  so it only learns what the scene-fitted linear model misses (a departure from the paper that
  helps with very little training data; recorded in the model card).

Two ways of applying it (``ModelCard.per_band``): joint (all target bands in and out at once, as in
DSen2: ``bands`` = number of low-res bands) or per band (``bands=1``: the network sees the guide and
one low-res band and is run for each band; used for the 60 m model, trained on many bands).
Sized for CPU training (a few res-blocks of 64-96 features). Inputs are DN / ``value_scale``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from satsr.arrays import Array, as_float64, like_input, to_tensor
from satsr.errors import OptionError
from satsr.models.base import GuidedUpscaler, ModelCard
from satsr.models.guided_classical import Prior, check_shapes, hpi_prior, hpi_sharpen, upsample
from satsr.models.layers import ResBlock, conv3x3, damp_last_conv
from satsr.models.registry import register

BASES = ("bicubic", "hpi")


class DSen2(nn.Module):
    """``forward(guide (N, g, H, W), lowres (N, c, h, w)) -> (N, c, H, W)`` with ``H = scale * h``."""

    def __init__(self, scale: int, bands: int = 6, guide_bands: int = 4, n_blocks: int = 6, feats: int = 64,
                 res_scale: float = 0.1, base: str = "bicubic", hpi_radius: int = 2, hpi_eps: float = 1e-4) -> None:
        super().__init__()
        if base not in BASES:
            raise ValueError(f"base must be one of {BASES}, got {base!r}")
        self.scale = scale
        self.bands = bands
        self.guide_bands = guide_bands
        self.base = base
        self.hpi_radius = hpi_radius
        self.hpi_eps = hpi_eps
        cin = guide_bands + bands * (2 if base == "hpi" else 1)
        self.head = nn.Sequential(conv3x3(cin, feats), nn.ReLU(inplace=True))
        self.body = nn.Sequential(*[ResBlock(feats, res_scale) for _ in range(n_blocks)])
        self.tail = conv3x3(feats, bands)
        damp_last_conv(self.tail)  # start at the base image
        self.hpi_prior: Prior | None = None  # set by DSen2Sharpener.fit (not a parameter)

    def base_image(self, guide: torch.Tensor, lowres: torch.Tensor,
                   base: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(upsampled low-res, base) in fp32, outside autocast and without gradients."""
        with torch.no_grad(), torch.autocast(guide.device.type, enabled=False):
            up = upsample(lowres.float(), self.scale)
            if self.base == "bicubic":
                base = up
            elif base is None:
                base = hpi_sharpen(guide.float(), lowres.float(), self.scale, self.hpi_radius,
                                   self.hpi_eps, prior=self.hpi_prior).float()
        return up, base.float()

    @property
    def reach(self) -> int:
        """High-res px of context one output pixel of the convolution stack depends on (each side)."""
        return 2 + 2 * len(self.body)

    def correction(self, guide: torch.Tensor, up: torch.Tensor, base: torch.Tensor, rows: int = 0) -> torch.Tensor:
        """The convolutions' output; ``rows > 0`` computes it in strips of that many rows plus ``reach``
        rows of context each side (same result, activation memory bounded by the strip)."""
        parts = [guide, up] if self.base == "bicubic" else [guide, up, base]
        x = torch.cat([p.to(guide.dtype) for p in parts], 1)
        H = x.shape[-2]
        if rows <= 0 or rows >= H:
            return self.tail(self.body(self.head(x)))
        out = []
        for r0 in range(0, H, rows):
            a, b = max(0, r0 - self.reach), min(H, r0 + rows + self.reach)
            y = self.tail(self.body(self.head(x[..., a:b, :])))
            out.append(y[..., r0 - a:min(r0 + rows, H) - a, :])
        return torch.cat(out, -2)

    def forward(self, guide: torch.Tensor, lowres: torch.Tensor, base: torch.Tensor | None = None) -> torch.Tensor:
        """Sharpen ``lowres`` with ``guide``; ``base`` may pass a precomputed HPI image (training on
        patches of a scene whose HPI was computed once on the whole scene, as at inference)."""
        up, base = self.base_image(guide, lowres, base)
        y = self.correction(guide, up, base)
        with torch.autocast(guide.device.type, enabled=False):
            return base + y.float()


def _margin(n_blocks: int = 6, scale: int = 2, base: str = "bicubic", hpi_radius: int = 2, **_: object) -> int:
    """Low-res context a tile needs: the conv stack's reach (2 + 2 n HR px), bicubic, HPI windows."""
    conv = math.ceil((2 + 2 * n_blocks) / scale)
    return conv + 3 + (hpi_radius + 6 if base == "hpi" else 0)


class DSen2Sharpener(GuidedUpscaler):
    """Runs a trained ``DSen2`` as a ``GuidedUpscaler`` (inputs already divided by ``value_scale``)."""

    def __init__(self, net: DSen2, name: str, ratio: int, card: ModelCard | None = None,
                 device: str | torch.device = "cpu", per_band: bool = False) -> None:
        self.net = net.eval().to(device)
        self.name = name
        self.ratio = int(ratio)
        self.ratios = (self.ratio,)
        self.card = card
        self.device = torch.device(device)
        self.per_band = per_band
        self.guide_bands = net.guide_bands
        self.bands = None if per_band else net.bands
        self.margin = _margin(n_blocks=len(net.body), scale=self.ratio, base=net.base, hpi_radius=net.hpi_radius)

    def fit(self, pairs: list[tuple[Array, Array]] | None) -> None:
        """Fix the HPI base's global regression from windows of the whole scene (tiles then agree);
        None clears it."""
        if self.net.base != "hpi" or not pairs:
            self.net.hpi_prior = None
            return
        w, gvar = hpi_prior([(as_float64(g), as_float64(x)) for g, x in pairs], self.ratio)
        if self.per_band:  # the net sees one band per sample: (1, g, c) -> (c, g, 1)
            w, gvar = w[0].T[:, :, None], gvar.expand(w.shape[-1])
        self.net.hpi_prior = (w, gvar)

    @torch.inference_mode()
    def __call__(self, guide: Array, lowres: Array) -> Array:
        check_shapes(guide, lowres, self.ratio)
        if guide.shape[0] != self.guide_bands:
            raise OptionError(f"{self.describe()} takes {self.guide_bands} guide bands, got {guide.shape[0]}")
        if self.bands is not None and lowres.shape[0] != self.bands:
            raise OptionError(f"{self.describe()} takes {self.bands} low-res bands, got {lowres.shape[0]}")
        g = to_tensor(guide, self.device)[None]
        x = to_tensor(lowres, self.device)[None]
        if self.per_band:  # one band at a time, the guide shared (batched)
            c = x.shape[1]
            g, x = g.expand(c, -1, -1, -1), x.transpose(0, 1)
        up, base = self.net.base_image(g, x)
        # strips keep the activations of big tiles small (about 10 MB per feature map and strip)
        rows = max(32, (1 << 18) // max(1, g.shape[0] * g.shape[-1]))
        y = base + self.net.correction(g, up, base, rows=rows).float()
        y = y[:, 0] if self.per_band else y[0]
        return like_input(y.float(), lowres)


def wrap_dsen2(net: DSen2, *, name: str, scale: int, card: ModelCard | None, device: str = "cpu",
               **_: object) -> DSen2Sharpener:
    """The registry's wrapper: a built (and loaded) network -> the ``GuidedUpscaler`` object."""
    per_band = card.per_band if card is not None else net.bands == 1
    return DSen2Sharpener(net, name=name, ratio=scale, card=card, device=device, per_band=per_band)


@register("dsen2", kind="guided", neural=True, scales=(2, 3, 4, 6), margin=_margin,
          defaults={"guide_bands": 4, "n_blocks": 6, "feats": 64}, wrap=wrap_dsen2,
          description="DSen2-style CNN: guide + upsampled low-res bands, res-blocks, residual over "
                      "bicubic/HPI (Sentinel-2 20 m and 60 m -> 10 m)",
          paper="Lanaras et al. 2018, Super-resolution of Sentinel-2 images: learning a globally applicable "
                "deep neural network")
def build_dsen2(scale: int, bands: int = 6, **kw: object) -> DSen2:
    return DSen2(scale=scale, bands=bands, **kw)  # type: ignore[arg-type]
