"""Classical guided super-resolution: the bicubic floor and HPI (regression-based detail injection).

Both implement ``GuidedUpscaler``: ``(guide (g, H, W), lowres (c, h, w)) -> (c, H, W)`` with
``H = h * ratio``. Values may be in any unit (DN, reflectance); nothing here depends on the scale.

``hpi`` (high-pass injection) transfers the guide's spatial detail into each low-res band with
weights fitted on the scene itself, in the spirit of ATPRK / GS / regression pan-sharpening:

1. degrade the guide to the low-res grid with the Wald-protocol MTF (``satsr.ops.filters.wald_degrade``);
2. regress every low-res band on the degraded guide bands (least squares with intercept), once for
   the whole input (global weights) and in sliding ``(2 radius + 1)^2`` windows (local weights, a
   ridge pulling them towards the global ones, strength ``eps`` x the guide's global variance);
3. upsample the local weights bicubically and add the guide's missing detail::

       out_c = up(lowres_c) + sum_k w_kc * (guide_k - up(degrade(guide_k)))

A low-res band that is an exact linear combination of the degraded guide bands is then reproduced
exactly at high resolution (both regressions find the true weights). The defaults (``radius=2``,
``eps=1e-4``) were chosen under the Wald protocol on the training scene (Sentinel-2 T33UUU, ratios 2
and 6), never on an evaluation scene. The registry names are
``guided-bicubic`` and ``hpi``; ``satsr sharpen --model bicubic`` resolves to ``guided-bicubic``
(``registry.resolve_name``), since ``bicubic`` is already the single-image upscaler.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from satsr.arrays import Array, as_float64, like_input, to_tensor
from satsr.models.base import GuidedUpscaler
from satsr.models.registry import register
from satsr.ops.filters import wald_degrade
from satsr.ops.resize import imresize

RATIOS = tuple(range(2, 9))


def check_shapes(guide: Array, lowres: Array, ratio: int) -> None:
    """``ValueError`` unless ``guide`` is ``(g, H, W)``, ``lowres`` ``(c, h, w)`` and ``H = ratio * h``."""
    if guide.ndim != 3 or lowres.ndim != 3:
        raise ValueError(f"expected guide (g, H, W) and lowres (c, h, w), got {tuple(guide.shape)} and "
                         f"{tuple(lowres.shape)}")
    h, w = lowres.shape[-2:]
    if tuple(guide.shape[-2:]) != (h * ratio, w * ratio):
        raise ValueError(f"guide {tuple(guide.shape[-2:])} is not {ratio} x lowres {(h, w)}")


def upsample(x: torch.Tensor, ratio: int) -> torch.Tensor:
    """MATLAB-bicubic upsampling of ``(..., h, w)`` by an integer ratio (the floor of every method)."""
    return imresize(x, (x.shape[-2] * ratio, x.shape[-1] * ratio), kernel="bicubic")


def _box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over ``(2 radius + 1)^2`` windows of ``(N, C, h, w)``, mirrored borders, same size out."""
    if radius <= 0:
        return x
    mode = "reflect" if min(x.shape[-2:]) > radius else "replicate"
    k = 2 * radius + 1
    xp = F.pad(x, (radius, radius, radius, radius), mode=mode)
    # separable box filter
    xp = F.avg_pool2d(xp, (k, 1), stride=1)
    return F.avg_pool2d(xp, (1, k), stride=1)


Prior = tuple[torch.Tensor, torch.Tensor]  # global weights (N, g, c) and guide variance (N,)


def global_fit(guide_lr: torch.Tensor, lowres: torch.Tensor) -> Prior:
    """Least squares with intercept of each low-res band on the degraded guide bands, per sample.

    ``guide_lr (N, g, h, w)`` and ``lowres (N, c, h, w)`` on the same grid (float64). Returns the
    weights ``(N, g, c)`` and the mean variance of the guide bands ``(N,)`` (the ridge's unit).
    """
    n, g = guide_lr.shape[:2]
    c = lowres.shape[1]
    gf = guide_lr.reshape(n, g, -1)
    lf = lowres.reshape(n, c, -1)
    gc = gf - gf.mean(-1, keepdim=True)
    lc = lf - lf.mean(-1, keepdim=True)
    cgg = gc @ gc.transpose(1, 2) / gf.shape[-1]  # (N, g, g)
    cgl = gc @ lc.transpose(1, 2) / gf.shape[-1]  # (N, g, c)
    gvar = torch.diagonal(cgg, dim1=1, dim2=2).mean(-1).clamp_min(1e-30)  # (N,)
    eye = torch.eye(g, dtype=gf.dtype, device=gf.device)
    tiny = (1e-10 * gvar)[:, None, None] * eye  # keeps a constant guide band solvable
    return torch.linalg.solve(cgg + tiny, cgl), gvar


def hpi_prior(pairs: list[tuple[torch.Tensor, torch.Tensor]], ratio: int) -> Prior:
    """The global regression of HPI fitted once on several ``(guide (g, H, W), lowres (c, h, w))``
    windows of a scene (pooled), so that every tile of that scene shares it: ``(1, g, c)``, ``(1,)``.
    """
    g_parts, l_parts = [], []
    for guide, lowres in pairs:
        h, w = lowres.shape[-2:]
        g_lr = torch.cat([wald_degrade(band[None].double(), ratio) for band in guide])  # band by band: memory
        g_parts.append(g_lr[..., :h, :w].reshape(guide.shape[0], -1))
        l_parts.append(lowres.double().reshape(lowres.shape[0], -1))
    G = torch.cat(g_parts, 1)[None, :, None]  # (1, g, 1, P)
    L = torch.cat(l_parts, 1)[None, :, None]
    return global_fit(G, L)


def hpi_sharpen(guide: torch.Tensor, lowres: torch.Tensor, ratio: int, radius: int = 2,
                eps: float = 1e-4, prior: Prior | None = None) -> torch.Tensor:
    """HPI on batched tensors: ``guide (N, g, H, W)``, ``lowres (N, c, h, w)`` -> ``(N, c, H, W)``.

    Computed in float64 (the regressions are normal equations). ``radius=0`` gives the purely
    global regression. ``prior`` replaces the global regression fitted on this input (tiles of one
    scene then agree). Returns the input's dtype.
    """
    out_dtype = lowres.dtype
    G = guide.double()
    L = lowres.double()
    n, g = G.shape[:2]
    c = L.shape[1]
    # one guide band at a time: the blur's intermediate buffers scale with the bands blurred at once
    G_lr = torch.cat([wald_degrade(G[:, i:i + 1], ratio) for i in range(g)], 1)
    h, w = L.shape[-2:]
    G_lr = G_lr[..., :h, :w]
    eye = torch.eye(g, dtype=G.dtype, device=G.device)
    if prior is None:
        w_glob, gvar = global_fit(G_lr, L)
    else:
        w_glob = prior[0].to(G).expand(n, g, c)
        gvar = prior[1].to(G).expand(n)

    if radius > 0:
        mg = _box_mean(G_lr, radius)  # (N, g, h, w)
        ml = _box_mean(L, radius)
        pairs = G_lr[:, :, None] * G_lr[:, None, :]  # (N, g, g, h, w)
        cov = _box_mean(pairs.reshape(n, g * g, h, w), radius).reshape(n, g, g, h, w)
        cov = cov - mg[:, :, None] * mg[:, None, :]
        cross = G_lr[:, :, None] * L[:, None, :]  # (N, g, c, h, w)
        cgl_loc = _box_mean(cross.reshape(n, g * c, h, w), radius).reshape(n, g, c, h, w)
        cgl_loc = cgl_loc - mg[:, :, None] * ml[:, None, :]
        lam = (eps * gvar + 1e-10 * gvar)[:, None, None, None, None]
        a = (cov + lam * eye[None, :, :, None, None]).permute(0, 3, 4, 1, 2)  # (N, h, w, g, g)
        b = (cgl_loc + lam * w_glob[:, :, :, None, None]).permute(0, 3, 4, 1, 2)  # (N, h, w, g, c)
        weights = torch.linalg.solve(a, b).permute(0, 3, 4, 1, 2)  # (N, g, c, h, w)
    else:
        weights = w_glob[:, :, :, None, None].expand(n, g, c, h, w)

    detail = G - upsample(G_lr, ratio)  # (N, g, H, W)
    out = upsample(L, ratio)
    for k in range(c):  # one band at a time keeps the high-res weight maps small
        wk = upsample(weights[:, :, k].contiguous(), ratio) if radius > 0 else weights[:, :, k, :1, :1]
        out[:, k] += (wk * detail).sum(1)
    return out.to(out_dtype)


class GuidedBicubic(GuidedUpscaler):
    """Bicubic upsampling of the low-res bands; the guide is ignored. The floor every method must beat."""

    name = "guided-bicubic"
    ratios = RATIOS
    margin = 3

    def __init__(self, ratio: int) -> None:
        self.ratio = int(ratio)

    def __call__(self, guide: Array, lowres: Array) -> Array:
        check_shapes(guide, lowres, self.ratio)
        return like_input(upsample(to_tensor(lowres), self.ratio), lowres)


class HPI(GuidedUpscaler):
    """High-pass detail injection with per-band regression weights fitted on the input scene."""

    name = "hpi"
    ratios = RATIOS

    def __init__(self, ratio: int, radius: int = 2, eps: float = 1e-4) -> None:
        self.ratio = int(ratio)
        self.radius = int(radius)
        self.eps = float(eps)
        # low-res context for a tile to match the whole image: the local window, the bicubic
        # upsampling of the weights (2 px) and the Wald blur (about 3 sigma / ratio low-res px)
        self.margin = self.radius + 6
        self.prior: Prior | None = None

    def fit(self, pairs: list[tuple[Array, Array]] | None) -> None:
        """Fix the global regression from windows of the whole scene (see ``hpi_prior``); None clears it."""
        if not pairs:
            self.prior = None
            return
        self.prior = hpi_prior([(as_float64(g), as_float64(x)) for g, x in pairs], self.ratio)

    def __call__(self, guide: Array, lowres: Array) -> Array:
        check_shapes(guide, lowres, self.ratio)
        y = hpi_sharpen(as_float64(guide)[None], as_float64(lowres)[None], self.ratio, self.radius, self.eps,
                        prior=self.prior)[0].float()
        return like_input(y, lowres)


@register("guided-bicubic", kind="guided", neural=False, scales=RATIOS, margin=3,
          description="bicubic upsampling of the low-res bands (guided floor; `sharpen --model bicubic`)")
def build_guided_bicubic(scale: int, **_: object) -> GuidedBicubic:
    return GuidedBicubic(scale)


@register("hpi", kind="guided", neural=False, scales=RATIOS, margin=8,
          description="high-pass detail injection, local + global regression on the scene (ATPRK/GS-like)",
          paper="in the spirit of Wang et al. 2016 (ATPRK) and Aiazzi et al. 2007 (GS/MTF-GLP regression)")
def build_hpi(scale: int, radius: int = 2, eps: float = 1e-4, **_: object) -> HPI:
    return HPI(scale, radius=radius, eps=eps)


__all__ = ["HPI", "GuidedBicubic", "check_shapes", "global_fit", "hpi_prior", "hpi_sharpen", "upsample"]
