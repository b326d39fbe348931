"""The revisit simulator: a PROBA-V-like multi-image stack made from one real image (training data).

What the real data look like (measured on the PROBA-V LR-only and test scenes, never on the scenes with HR):
* frames of one site differ by sub-pixel shifts (std ~0.1-0.4 LR px, up to ~1 px), by a global
  brightness/contrast change of ~5-10 % and by local changes (haze, vegetation, BRDF): after a
  gain/offset fit, a frame still differs from the stack's median by ~5-30 % of the scene's std,
  and some frames (other dates, undetected haze) by 40-90 %;
* LR frames are smoother than a plain 3x3 aggregation of a 100 m image: their spectrum matches a
  3-px box (the 300 m detector footprint) convolved with a Gaussian of sigma ~0.6-1.4 HR px;
* noise is ~30-90 DN (14-bit); clouds/shadows and no-data (65535) are flagged by QM, not always
  tightly; values are 14-bit (0-16383) in uint16 PNGs.
The HR target is the same scene seen once, with its own small blur and noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from satsr.arrays import Array, to_tensor
from satsr.ops.filters import gaussian_blur


@dataclass
class RevisitParams:
    """Knobs of ``simulate_revisits``; ranges ``(lo, hi)`` are drawn uniformly per stack.

    Units: shifts in LR pixels, PSF widths in HR pixels, radiometry in DN of the 14-bit scale.
    Setting a range to ``(0, 0)`` (or a probability to 0) switches that effect off.
    """

    n_frames: tuple[int, int] = (9, 35)
    shift_std: tuple[float, float] = (0.15, 0.5)  # per-frame random shift std (LR px)
    max_shift: float = 1.5  # shifts are clipped to this (LR px)
    psf_box: float = 3.0  # detector footprint width (HR px); 0 = Gaussian only
    psf_sigma: tuple[float, float] = (0.6, 1.4)  # extra Gaussian blur of LR frames (HR px)
    psf_jitter: float = 0.1  # relative per-frame change of the PSF sigma
    hr_sigma: tuple[float, float] = (0.3, 0.7)  # blur of the HR target (HR px)
    noise: tuple[float, float] = (15.0, 70.0)  # LR read noise std (DN)
    shot: tuple[float, float] = (0.0, 0.5)  # signal-dependent noise: std += shot * sqrt(value)
    hr_noise: tuple[float, float] = (10.0, 50.0)  # HR noise std (DN)
    gain_std: tuple[float, float] = (0.02, 0.08)  # per-frame gain spread
    offset_std: float = 0.02  # per-frame offset spread (fraction of the mean)
    change: tuple[float, float] = (0.03, 0.3)  # std of per-frame local changes, in units of the scene std
    outlier_prob: float = 0.15  # chance that a frame changed much more (another season, haze)
    outlier_factor: tuple[float, float] = (2.0, 4.0)  # how much more
    clear_frac: tuple[float, float] = (0.2, 0.7)  # fraction of frames with no cloud at all
    cloud_cover: tuple[float, float] = (0.02, 0.7)  # cover of a cloudy frame
    shadow_prob: float = 0.5  # chance a cloudy frame also has shadows
    fill_prob: float = 0.05  # chance of a no-data wedge (value ``fill_value``)
    qm_leak_prob: float = 0.25  # chance that thin cloud edges are not flagged in QM
    sm_prob: float = 0.3  # chance the HR status mask has unknown blobs
    max_value: float = 16383.0
    fill_value: float = 65535.0
    quantize: bool = True


@dataclass
class RevisitStack:
    """A simulated stack: frames ``lr (T, C, h, w)`` with clear masks ``qm (T, h, w)``, the HR target
    ``hr (C, H, W)`` with its status mask ``sm (H, W)``; ``shifts (T, 2)`` are the (dy, dx) LR-pixel
    translations of each frame's content relative to the HR grid. Frames are ordered by clearance."""

    lr: torch.Tensor
    qm: torch.Tensor
    hr: torch.Tensor
    sm: torch.Tensor
    shifts: torch.Tensor


def uniform(rng: np.random.Generator, rng_range: tuple[float, float]) -> float:
    lo, hi = rng_range
    return float(lo) if hi <= lo else float(rng.uniform(lo, hi))


def box_gauss_psf(x: np.ndarray, box: float, sigma: float) -> np.ndarray:
    """Continuous PSF ``box(width) * Gaussian(sigma)`` evaluated at ``x`` (unnormalised samples)."""
    from scipy.special import erf

    if box <= 0:
        s = max(sigma, 1e-3)
        return np.exp(-0.5 * (x / s) ** 2)
    if sigma <= 1e-3:
        return ((x >= -box / 2) & (x < box / 2)).astype(np.float64)
    r = math.sqrt(2.0) * sigma
    return 0.5 * (erf((x + box / 2) / r) - erf((x - box / 2) / r))


def psf_margin(params: RevisitParams, scale: int = 3) -> int:
    """HR pixels of scene needed around the target so that every shifted, blurred frame is exact."""
    sig = max(params.psf_sigma) * (1 + params.psf_jitter)
    return int(math.ceil(params.max_shift * scale + params.psf_box / 2 + 3.5 * sig)) + 1


def sample_frames(scene: torch.Tensor, shifts: np.ndarray, sigmas: np.ndarray, scale: int, box: float,
                  margin: int) -> torch.Tensor:
    """Shift, blur and decimate ``scene (C, H + 2m, W + 2m)`` into ``(T, C, H/s, W/s)`` frames.

    Each frame samples the scene, seen through a ``box * Gaussian`` PSF, at the centres of the
    ``scale x scale`` blocks of the target grid moved by its shift; the PSF is sampled at the shifted
    offsets, so sub-pixel shifts need no interpolation of the image. Separable strided convolutions,
    one group per frame.
    """
    c, hs, ws = scene.shape
    h, w = (hs - 2 * margin) // scale, (ws - 2 * margin) // scale
    t = len(shifts)
    radius = margin - 1
    taps = np.arange(-radius, radius + 1, dtype=np.float64)
    ky = np.stack([box_gauss_psf(taps + scale * shifts[i, 0], box, sigmas[i]) for i in range(t)])
    kx = np.stack([box_gauss_psf(taps + scale * shifts[i, 1], box, sigmas[i]) for i in range(t)])
    ky /= ky.sum(1, keepdims=True)
    kx /= kx.sum(1, keepdims=True)
    x = scene.to(torch.float64)
    start = margin + scale // 2 - radius
    # rows: out[i] = sum_j ky[j] * scene[start + scale * i + j]
    rows = x[:, start : start + scale * (h - 1) + 2 * radius + 1, :]  # (C, rows, W')
    rows = rows.reshape(1, c, rows.shape[1], rows.shape[2]).repeat(1, t, 1, 1)  # frame-major groups
    wy = torch.from_numpy(ky).repeat_interleave(c, 0).view(t * c, 1, -1, 1)
    y = torch.nn.functional.conv2d(rows, wy, stride=(scale, 1), groups=t * c)
    cols = y[..., start : start + scale * (w - 1) + 2 * radius + 1]
    wx = torch.from_numpy(kx).repeat_interleave(c, 0).view(t * c, 1, 1, -1)
    y = torch.nn.functional.conv2d(cols, wx, stride=(1, scale), groups=t * c)
    return y.view(t, c, h, w).float()


def smooth_field(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-std random field smoothed by a Gaussian of about ``sigma`` pixels.

    Broad fields are made on a coarse grid and interpolated up (the simulator needs hundreds per
    batch, and a large-kernel filter at full size dominated its run time).
    """
    from scipy.ndimage import gaussian_filter

    f = max(1.0, sigma / 1.5)
    ch, cw = (int(math.ceil(n / f)) + 3 for n in shape)
    coarse = gaussian_filter(rng.standard_normal((ch, cw)), sigma / f, mode="wrap")
    if f > 1:
        t = torch.from_numpy(coarse)[None, None]
        up = torch.nn.functional.interpolate(t, scale_factor=f, mode="bilinear", align_corners=False)[0, 0]
        coarse = up.numpy()
    out = coarse[: shape[0], : shape[1]]
    return (out - out.mean()) / (out.std() + 1e-12)


def cloud_layer(shape: tuple[int, int], cover: float, rng: np.random.Generator) -> np.ndarray:
    """Cloud opacity in [0, 1] covering about ``cover`` of the frame, with soft edges.

    A mix of smooth scales gives both big decks and small popcorn clouds (both seen in PROBA-V QMs).
    """
    h, w = shape
    big = smooth_field(shape, rng.uniform(3, 12), rng)
    small = smooth_field(shape, rng.uniform(0.8, 2.5), rng)
    mix = rng.uniform(0, 1)
    f = (1 - mix) * big + mix * small
    thr = np.quantile(f, 1 - cover)
    edge = rng.uniform(0.2, 0.8)  # softness of the edges, in field std units
    return np.clip((f - thr) / edge, 0, 1)


def fill_wedge(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A straight-edged no-data region (swath edge), as seen in some PROBA-V frames."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    angle = rng.uniform(0, 2 * np.pi)
    d = np.cos(angle) * (xx - w / 2) + np.sin(angle) * (yy - h / 2)
    return d > np.quantile(d, 1 - rng.uniform(0.05, 0.5))


def simulate_revisits(scene: Array, scale: int = 3, params: RevisitParams | None = None,
                      rng: np.random.Generator | int | None = None,
                      n_frames: int | None = None) -> RevisitStack:
    """Turn one real image into a PROBA-V-like revisit stack (see ``RevisitParams``).

    ``scene``: ``(C, H + 2m, W + 2m)`` or ``(H + 2m, W + 2m)`` in DN of the 14-bit scale, with
    ``m = psf_margin(params, scale)`` and ``H, W`` multiples of ``scale``; the HR target is the centre
    ``(H, W)``. Frames get their own shift, PSF, gain/offset drift, smooth changes and noise; cloudy
    frames get clouds (bright), shadows (dark) and no-data wedges (``fill_value``), flagged in QM with
    a dilated mask that sometimes misses thin edges. Returns frames ordered by clearance.
    """
    from scipy.ndimage import binary_dilation
    from scipy.ndimage import shift as nd_shift

    p = params or RevisitParams()
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    x = to_tensor(scene).to(torch.float64)
    if x.ndim == 2:
        x = x[None]
    m = psf_margin(p, scale)
    hs, ws = x.shape[-2:]
    H, W = hs - 2 * m, ws - 2 * m
    if H <= 0 or W <= 0 or H % scale or W % scale:
        raise ValueError(f"scene {tuple(x.shape)} needs a margin of {m} px around a target whose sides are "
                         f"multiples of {scale}")
    h, w = H // scale, W // scale
    t = int(n_frames) if n_frames is not None else int(rng.integers(p.n_frames[0], p.n_frames[1] + 1))

    # geometry: a common offset (the HR is another acquisition) plus per-frame jitter
    common = rng.uniform(-0.5, 0.5, 2)
    shifts = np.clip(common + rng.normal(0, uniform(rng, p.shift_std), (t, 2)), -p.max_shift, p.max_shift)
    base_sigma = uniform(rng, p.psf_sigma)
    sigmas = base_sigma * (1 + p.psf_jitter * rng.uniform(-1, 1, t))
    lr = sample_frames(x, shifts, sigmas, scale, p.psf_box, m).to(torch.float64)  # (T, C, h, w)

    # radiometry: gain/offset drift and local changes (smooth fields at random scales, additive in
    # units of the scene's contrast; a few frames change much more than the rest)
    mean = float(lr.mean())
    std = float(lr.std())
    gain_std = uniform(rng, p.gain_std)
    change = uniform(rng, p.change)
    for i in range(t):
        g = 1 + gain_std * rng.standard_normal()
        o = p.offset_std * mean * rng.standard_normal()
        lr[i] = lr[i] * g + o
        if change > 0:
            amp = change * rng.uniform(0.5, 1.2)
            if rng.random() < p.outlier_prob:
                amp *= uniform(rng, p.outlier_factor)
            sig = math.exp(rng.uniform(math.log(1.0), math.log(12.0)))
            lr[i] = lr[i] + amp * std * torch.from_numpy(smooth_field((h, w), sig, rng))
    noise, shot = uniform(rng, p.noise), uniform(rng, p.shot)
    if noise > 0 or shot > 0:
        std = noise + shot * lr.clamp(min=0).sqrt()
        lr = lr + std * torch.from_numpy(rng.standard_normal(lr.shape))
    lr = lr.clamp(0, p.max_value)

    # clouds, shadows, no-data; QM marks what the (imperfect) cloud detector flags
    qm = np.ones((t, h, w), bool)
    n_clear = int(round(uniform(rng, p.clear_frac) * t))
    cloudy = rng.permutation(t)[: t - n_clear] if p.cloud_cover[1] > 0 else []
    lr_np = lr.numpy()
    for i in cloudy:
        lo, hi = p.cloud_cover
        cover = lo + (hi - lo) * rng.random() ** 2  # mostly small clouds, sometimes big decks
        alpha = cloud_layer((h, w), max(cover, 1e-3), rng)
        bright = rng.uniform(0.45, 1.0) * p.max_value
        flagged = alpha > (rng.uniform(0.1, 0.4) if rng.random() < p.qm_leak_prob else 0.0)
        lr_np[i] = lr_np[i] * (1 - alpha) + bright * alpha
        if rng.random() < p.shadow_prob:
            off = rng.uniform(-4, 4, 2)
            shadow = np.clip(nd_shift(alpha, off, order=1, mode="constant"), 0, 1) * (1 - alpha)
            lr_np[i] = lr_np[i] * (1 - rng.uniform(0.3, 0.6) * shadow)
            flagged |= shadow > 0.3
        grow = int(rng.integers(0, 3))
        qm[i] = ~(binary_dilation(flagged, iterations=grow) if grow else flagged)
    for i in range(t):
        if rng.random() < p.fill_prob:
            wedge = fill_wedge((h, w), rng)
            lr_np[i][:, wedge] = p.fill_value
            qm[i] &= ~wedge
    lr = torch.from_numpy(lr_np)
    if p.quantize:
        lr = lr.round()

    # HR target: the same scene once, lightly blurred, with its own noise; unknown blobs in SM
    hr = gaussian_blur(x, uniform(rng, p.hr_sigma))[:, m : m + H, m : m + W]
    hr_noise = uniform(rng, p.hr_noise)
    if hr_noise > 0:
        hr = hr + hr_noise * torch.from_numpy(rng.standard_normal(hr.shape))
    hr = hr.clamp(0, p.max_value)
    if p.quantize:
        hr = hr.round()
    sm = np.ones((H, W), bool)
    if rng.random() < p.sm_prob:
        sm = cloud_layer((H, W), rng.uniform(0.01, 0.15), rng) <= 0

    order = np.argsort(-qm.reshape(t, -1).mean(1), kind="stable")
    return RevisitStack(
        lr=lr[order].float(), qm=torch.from_numpy(qm[order]), hr=hr.float(), sm=torch.from_numpy(sm),
        shifts=torch.from_numpy(shifts[order]).float(),
    )


def scene_to_dn(img: Array, mean: float, cv: float, max_value: float = 16383.0) -> torch.Tensor:
    """Rescale a real image to a PROBA-V-like 14-bit scene with the given mean and contrast.

    Real PROBA-V LR frames have a coefficient of variation of ~0.1-0.25; sources (TOA DN of Landsat,
    Sentinel-2 reflectance, 8-bit aerial photos) have arbitrary offsets, so the image is standardised
    and re-expressed as ``mean * (1 + cv * z)``, clipped to the valid range.
    """
    x = to_tensor(img).to(torch.float64)
    z = (x - x.mean()) / (x.std() + 1e-9)
    return (mean * (1 + cv * z)).clamp(0.02 * mean, max_value).float()
