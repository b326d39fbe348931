"""Hyperspectral + finer image fusion (guide = multispectral, panchromatic or RGB; low-res = a cube of
any band count): ``hpi-hs`` (classical) and ``hsnet-zs`` (learned on the scene itself).

Real pairs of a hyperspectral cube and a finer image are rarely registered to a fraction of a pixel,
and hyperspectral instruments are not even registered with themselves: EO-1 Hyperion's VNIR and SWIR
detectors see the ground about half a pixel apart. A detail-injection method that ignores this paints
the guide's edges beside the cube's (on the Hyperion + ALI pair: +2.6 dB over bicubic instead of +7).

``hpi-hs`` is HPI (``satsr.models.guided_classical``) generalised to cubes:

1. the guide's position relative to each band of the cube is estimated from the data on the low-res
   grid: for a shift ``d`` of the guide (HR px), every band is regressed on the Wald-degraded shifted
   guide bands (least squares with intercept: the spectral response estimated from the scene); the
   residual is minimised over a coarse grid of shifts for all bands together, then on a finer grid
   around it for each band (parabolic refinement), and the per-band shifts are smoothed along the
   spectrum (running median of 5 bands);
2. each band gets the detail of the guide moved by its own shift, weighted by its regression::

       out_c = up(lowres_c) + sum_k w_kc * (G_k(d_c) - up(degrade(G_k(d_c))))

The shifts and weights are fitted once per scene (``fit``), so tiles agree with the whole image.

``hsnet-zs`` adds a small CNN correction fitted on the scene at run time (zero-shot, no shipped
weights, so it works for any guide and band count): the scene reduced by the ratio (guide and cube
Wald-degraded) is fused by ``hpi-hs`` with the shifts scaled down, and the CNN learns, in the cube's
principal-component subspace, what that fusion misses with respect to the cube itself; it is then
applied at full resolution on top of ``hpi-hs``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from satsr.arrays import Array, as_float64, like_input
from satsr.models.base import GuidedUpscaler
from satsr.models.guided_classical import RATIOS, check_shapes, global_fit, hpi_sharpen
from satsr.models.registry import register
from satsr.ops.filters import wald_degrade

QUANTUM = 0.05  # HR px: bands whose shifts round to the same multiple share one shifted guide


def cubic_taps(t: float, a: float = -0.5) -> np.ndarray:
    """Keys cubic-convolution weights of the samples at offsets -1, 0, 1, 2 for a position ``t`` in [0, 1)."""
    def k(x: float) -> float:
        x = abs(x)
        if x <= 1:
            return (a + 2) * x**3 - (a + 3) * x**2 + 1
        if x < 2:
            return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
        return 0.0

    return np.array([k(t + 1), k(t), k(1 - t), k(2 - t)])


def shifted(x: torch.Tensor, dy: float, dx: float) -> torch.Tensor:
    """``x (..., H, W)`` resampled at ``(row + dy, col + dx)`` by cubic convolution, edges replicated.

    Hand-written rather than ``scipy.ndimage.shift``: its spline prefilter reaches the whole image, so a
    tile would differ from the whole; four taps keep the tile engine's margin exact."""
    out = x
    for axis, d in ((-2, dy), (-1, dx)):
        if abs(d) < 1e-9:
            continue
        f = math.floor(d)
        taps = cubic_taps(d - f)
        n = out.shape[axis]
        idx = torch.arange(n, device=x.device)
        acc = None
        for j, wgt in enumerate(taps):
            if wgt == 0:
                continue
            src = (idx + f - 1 + j).clamp(0, n - 1)
            term = out.index_select(axis, src) * float(wgt)
            acc = term if acc is None else acc + term
        assert acc is not None
        out = acc
    return out


class _Registration:
    """The regression residuals of every band for any shift of the guide (step 1 of the module
    docstring), by normal equations (the guide has few bands: solving them is cheap)."""

    def __init__(self, guide: torch.Tensor, lowres: torch.Tensor, ratio: int) -> None:
        self.guide, self.ratio = guide, ratio
        h, w = lowres.shape[-2:]
        self.hw = (h, w)
        self.b = min(2, (min(h, w) - 2) // 2)  # leave out the borders the blur and the shift invent
        lo = lowres[:, self.b:h - self.b, self.b:w - self.b].reshape(lowres.shape[0], -1)
        self.lo = lo
        self.lo_sq = (lo * lo).sum(1)

    def residuals(self, shift: tuple[float, float]) -> torch.Tensor:
        """Per-band sum of squared residuals ``(c,)`` of the regression on the guide moved by ``shift``."""
        h, w, b = *self.hw, self.b
        g = wald_degrade(shifted(self.guide, *shift), self.ratio)[..., b:h - b, b:w - b]
        a = torch.cat([g.reshape(g.shape[0], -1), torch.ones(1, g.shape[-1] * g.shape[-2], dtype=g.dtype)])
        ata = a @ a.T
        atb = a @ self.lo.T
        ridge = 1e-10 * torch.diagonal(ata).mean() * torch.eye(len(ata), dtype=ata.dtype)
        sol = torch.linalg.solve(ata + ridge, atb)
        return self.lo_sq - (sol * atb).sum(0)


def _parabola(left: float, mid: float, right: float) -> float:
    """Offset (in steps, within +-0.5) of the minimum of the parabola through three equally spaced values."""
    den = left - 2 * mid + right
    return float(np.clip(0.5 * (left - right) / den, -0.5, 0.5)) if den > 0 else 0.0


def estimate_shifts(guide: torch.Tensor, lowres: torch.Tensor, ratio: int, reach: float | None = None,
                    fine: float = 0.1, smooth: int = 5) -> np.ndarray:
    """Per-band shift ``(c, 2)`` (dy, dx in HR px) that best registers the guide to each band (step 1 of
    the module docstring): all bands together on grids of 0.5 then 0.25 px over +-``reach`` (default half
    a low-res pixel plus one HR pixel), then each band on a 7 x 7 grid of ``fine`` px around that."""
    reg = _Registration(as_float64(guide), as_float64(lowres), ratio)
    reach = ratio / 2 + 1 if reach is None else reach
    best = (0.0, 0.0)
    for step, span in ((0.5, reach), (0.25, 0.5)):
        grid = np.arange(-span, span + 1e-9, step)
        cands = [(best[0] + dy, best[1] + dx) for dy in grid for dx in grid]
        costs = [float(reg.residuals(cand).sum()) for cand in cands]
        best = cands[int(np.argmin(costs))]
    offsets = np.arange(-3, 4) * fine
    table = torch.stack([torch.stack([reg.residuals((best[0] + oy, best[1] + ox)) for ox in offsets])
                         for oy in offsets]).numpy()  # (7, 7, c)
    c = lowres.shape[0]
    out = np.zeros((c, 2))
    for band in range(c):
        t = table[:, :, band]
        iy, ix = np.unravel_index(int(np.argmin(t)), t.shape)
        sy = _parabola(t[iy - 1, ix], t[iy, ix], t[iy + 1, ix]) if 0 < iy < len(offsets) - 1 else 0.0
        sx = _parabola(t[iy, ix - 1], t[iy, ix], t[iy, ix + 1]) if 0 < ix < len(offsets) - 1 else 0.0
        out[band] = (best[0] + (iy - 3 + sy) * fine, best[1] + (ix - 3 + sx) * fine)
    if smooth > 1 and c >= smooth:  # neighbouring bands sit on the same detector: a running median
        half = smooth // 2
        padded = np.pad(out, ((half, half), (0, 0)), mode="edge")
        out = np.stack([np.median(padded[i:i + smooth], axis=0) for i in range(c)])
    return out


class HPIHS(GuidedUpscaler):
    """HPI with a per-band registration of the guide (see the module docstring)."""

    name = "hpi-hs"
    ratios = RATIOS

    def __init__(self, ratio: int, radius: int = 0, eps: float = 1e-4, reach: float | None = None) -> None:
        self.ratio = int(ratio)
        self.radius = int(radius)
        self.eps = float(eps)
        self.reach = reach
        self.shifts: np.ndarray | None = None  # (c, 2) HR px, set by fit
        self.weights: torch.Tensor | None = None  # (1, g, c) global regression of the shifted guide
        self.gvar: torch.Tensor | None = None
        # low-res context: the shift (reach + 2 taps, in LR px), the Wald blur, bicubic and the local window
        self.margin = self.radius + 8 + math.ceil(((reach or ratio / 2 + 1) + 2) / ratio)

    def fit(self, pairs: list[tuple[Array, Array]] | None) -> None:
        """Estimate the shifts on the largest window and the weights on all of them; None clears them."""
        if not pairs:
            self.shifts = self.weights = self.gvar = None
            return
        pairs64 = [(as_float64(g), as_float64(x)) for g, x in pairs]
        guide, lowres = max(pairs64, key=lambda p: p[1].shape[-1] * p[1].shape[-2])
        self.fit_with_shifts(pairs64, estimate_shifts(guide, lowres, self.ratio, self.reach))

    def fit_with_shifts(self, pairs: Sequence[tuple[torch.Tensor, torch.Tensor]], shifts: np.ndarray) -> None:
        """Fix the shifts and fit the global regression of each band on its shifted, degraded guide."""
        self.shifts = np.asarray(shifts, np.float64)
        c = pairs[0][1].shape[0]
        g = pairs[0][0].shape[0]
        weights = torch.zeros(1, g, c, dtype=torch.float64)
        gvars = []
        for (dy, dx), idx in self.groups(c):
            parts_g, parts_l = [], []
            for guide, lowres in pairs:
                h, w = lowres.shape[-2:]
                gl = wald_degrade(shifted(guide, dy, dx), self.ratio)[..., :h, :w]
                parts_g.append(gl.reshape(g, -1))
                parts_l.append(lowres[idx].reshape(len(idx), -1))
            wk, gv = global_fit(torch.cat(parts_g, 1)[None, :, None], torch.cat(parts_l, 1)[None, :, None])
            weights[0, :, idx] = wk[0]
            gvars.append(gv)
        self.weights = weights
        self.gvar = torch.stack(gvars).mean(0)

    def groups(self, c: int) -> list[tuple[tuple[float, float], list[int]]]:
        """Bands sharing one (quantised) shift: ``[((dy, dx), band indices), ...]``."""
        if self.shifts is None:
            return [((0.0, 0.0), list(range(c)))]
        q = np.round(self.shifts / QUANTUM) * QUANTUM
        out: dict[tuple[float, float], list[int]] = {}
        for band, (dy, dx) in enumerate(q):
            out.setdefault((float(dy), float(dx)), []).append(band)
        return list(out.items())

    def sharpen(self, guide: torch.Tensor, lowres: torch.Tensor) -> torch.Tensor:
        """float64 ``(c, H, W)`` from float64 ``guide (g, H, W)`` and ``lowres (c, h, w)``."""
        if self.shifts is None or self.shifts.shape[0] != lowres.shape[0]:
            self.fit([(guide, lowres)])  # not fitted on a scene (or another cube): fit on this input
        assert self.weights is not None and self.gvar is not None
        out = torch.empty(lowres.shape[0], *guide.shape[-2:], dtype=torch.float64)
        for (dy, dx), idx in self.groups(lowres.shape[0]):
            prior = (self.weights[:, :, idx], self.gvar)
            out[idx] = hpi_sharpen(shifted(guide, dy, dx)[None], lowres[idx][None], self.ratio, self.radius,
                                   self.eps, prior=prior)[0]
        return out

    def __call__(self, guide: Array, lowres: Array) -> Array:
        check_shapes(guide, lowres, self.ratio)
        return like_input(self.sharpen(as_float64(guide), as_float64(lowres)).float(), lowres)


class ZeroShotFusion(HPIHS):
    """``hpi-hs`` plus a CNN correction fitted on the scene reduced by the ratio (module docstring)."""

    name = "hsnet-zs"

    def __init__(self, ratio: int, components: int = 16, feats: int = 32, steps: int = 150, lr: float = 1e-3,
                 seed: int = 0, reach: float | None = None, kernel: int = 1) -> None:
        super().__init__(ratio, reach=reach)
        self.components, self.feats, self.steps, self.lr, self.seed = components, feats, steps, lr, seed
        self.kernel = kernel
        self.margin += kernel  # three convolutions at HR (1x1 by default): < 1 LR px each side per 3x3
        self.net: nn.Sequential | None = None
        self.alpha = 1.0  # share of the correction applied (set by fit)
        self.basis: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # mean (c,1), E (c,k), sd
        self.gstats: tuple[torch.Tensor, torch.Tensor] | None = None

    def fit(self, pairs: list[tuple[Array, Array]] | None) -> None:
        super().fit(pairs)
        if not pairs:
            self.net = self.basis = self.gstats = None
            return
        guide, lowres = max(((as_float64(g), as_float64(x)) for g, x in pairs),
                            key=lambda p: p[1].shape[-1] * p[1].shape[-2])
        self._fit_net(guide, lowres)
        self.alpha = 1.0
        if self.net is not None:  # how much of the correction the observed cube supports (see `consistent_share`)
            base = HPIHS.sharpen(self, guide, lowres)
            self.alpha = consistent_share(base, self.correction(guide, base), lowres, self.ratio)

    def _fit_net(self, guide: torch.Tensor, lowres: torch.Tensor) -> None:
        r = self.ratio
        c = lowres.shape[0]
        flat = lowres.reshape(c, -1)
        mu = flat.mean(1, keepdim=True)
        k = max(1, min(self.components, c, flat.shape[1] - 1))
        u = torch.linalg.svd(flat - mu, full_matrices=False)[0][:, :k]
        sd = (flat - mu).std().clamp_min(1e-12)
        self.basis = (mu, u, sd)
        gf = guide.reshape(guide.shape[0], -1)
        self.gstats = (gf.mean(1)[:, None, None], gf.std(1).clamp_min(1e-12)[:, None, None])
        h, w = (lowres.shape[-2] // r) * r, (lowres.shape[-1] // r) * r
        if h < 2 * r or w < 2 * r:  # too small to reduce: no correction
            self.net = None
            return
        target = lowres[:, :h, :w]
        g_red = wald_degrade(guide[:, :h * r, :w * r], r)[..., :h, :w]
        lo_red = wald_degrade(target, r)
        reduced = HPIHS(r, reach=self.reach)
        assert self.shifts is not None
        reduced.fit_with_shifts([(g_red, lo_red)], self.shifts / r)
        base = reduced.sharpen(g_red, lo_red)
        x_in = self._features(g_red, base)
        y = (u.T @ (target - base).reshape(c, -1) / sd).reshape(1, k, h, w).float()
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            kk, pad = self.kernel, self.kernel // 2
            net = nn.Sequential(nn.Conv2d(x_in.shape[1], self.feats, kk, padding=pad), nn.ReLU(),
                                nn.Conv2d(self.feats, self.feats, kk, padding=pad), nn.ReLU(),
                                nn.Conv2d(self.feats, k, kk, padding=pad))
            with torch.no_grad():
                net[-1].weight.mul_(0.1)
                net[-1].bias.zero_()
            opt = torch.optim.Adam(net.parameters(), lr=self.lr)
            with torch.enable_grad():
                for _ in range(self.steps):
                    loss = (net(x_in) - y).abs().mean()
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
        self.net = net.eval()

    def _features(self, guide: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        """Network input: the standardised guide and the base's subspace coefficients, ``(1, g + k, H, W)``."""
        assert self.basis is not None and self.gstats is not None
        mu, u, sd = self.basis
        coeffs = (u.T @ (base.reshape(base.shape[0], -1) - mu) / sd).reshape(u.shape[1], *base.shape[-2:])
        g = (guide - self.gstats[0]) / self.gstats[1]
        return torch.cat([g, coeffs])[None].float()

    def correction(self, guide: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        """The network's correction of ``base`` (float64, the cube's units)."""
        assert self.net is not None and self.basis is not None
        _, u, sd = self.basis
        with torch.no_grad():
            res = self.net(self._features(guide, base))[0].double()
        return (u @ res.reshape(u.shape[1], -1) * sd).reshape(base.shape)

    def sharpen(self, guide: torch.Tensor, lowres: torch.Tensor) -> torch.Tensor:
        if self.shifts is None or self.shifts.shape[0] != lowres.shape[0]:
            self.fit([(guide, lowres)])
        base = super().sharpen(guide, lowres)
        if self.net is None or self.basis is None or self.alpha == 0:
            return base
        return base + self.alpha * self.correction(guide, base)


def consistent_share(base: torch.Tensor, corr: torch.Tensor, lowres: torch.Tensor, ratio: int) -> float:
    """The share ``a`` in [0, 1] of a correction that best keeps ``base + a * corr`` consistent with the
    observed low-res cube (least squares of the Wald-degraded result against it). A correction learned
    at reduced resolution may not transfer to full resolution; whatever of it the observation
    contradicts is scaled away, so the learned step cannot undo what the classical one got right."""
    h, w = lowres.shape[-2:]
    d_corr = wald_degrade(corr, ratio)[..., :h, :w]
    miss = lowres - wald_degrade(base, ratio)[..., :h, :w]
    den = float((d_corr * d_corr).sum())
    return float(np.clip(float((miss * d_corr).sum()) / den, 0.0, 1.0)) if den > 0 else 0.0


@register("hpi-hs", kind="guided", neural=False, scales=RATIOS, margin=12,
          description="HPI for hyperspectral cubes: per-band sub-pixel registration of the guide and "
                      "spectral regression estimated from the scene (HS + MS/PAN/RGB fusion)",
          paper="in the spirit of Simoes et al. 2015 (HySure: the relative response estimated from the data) "
                "and regression-based detail injection (Aiazzi et al. 2007)")
def build_hpi_hs(scale: int, radius: int = 0, eps: float = 1e-4, reach: float | None = None,
                 **_: object) -> HPIHS:
    return HPIHS(scale, radius=radius, eps=eps, reach=reach)


@register("hsnet-zs", kind="guided", neural=False, scales=RATIOS, margin=14,
          description="hpi-hs plus a small CNN fitted on the scene itself at reduced resolution (zero-shot "
                      "learned HS fusion, no shipped weights)",
          paper="in the spirit of zero-shot HS/MS fusion (Fu et al. 2019; Z-PNN, Ciotola et al. 2022)")
def build_hsnet_zs(scale: int, components: int = 16, feats: int = 32, steps: int = 150, seed: int = 0,
                   reach: float | None = None, kernel: int = 1, **_: object) -> ZeroShotFusion:
    return ZeroShotFusion(scale, components=components, feats=feats, steps=steps, seed=seed, reach=reach,
                          kernel=kernel)


__all__ = ["HPIHS", "ZeroShotFusion", "cubic_taps", "estimate_shifts", "shifted"]
