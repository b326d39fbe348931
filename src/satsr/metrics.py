"""Image quality metrics for super-resolution, on numpy arrays and torch tensors.

Every metric takes ``(..., H, W)`` arrays: the leading axes (bands, or batch x bands) are a stack of
2-D images, each scored on its own and then averaged (``per_band=True`` keeps the per-image values).
The second image is the reference. ``mask`` (True = valid, broadcastable to the images) and non-finite
pixels are ignored; ``border`` px are cut from each side first, as the SR literature does.

numpy inputs give python floats (float64 arithmetic); torch inputs give tensors that keep the autograd
graph, so the same functions serve as training losses. The numpy SSIM *is* scikit-image's
``structural_similarity``; the torch SSIM is a hand-written copy of it (scikit-image is not
differentiable) and is tested against it.

PROBA-V (Kelvins challenge 2019): ``cpsnr``/``cmse`` follow the challenge's definition exactly (values
divided by 65535, SR cropped by 3 px, best of the 49 HR shifts, brightness bias removed over clear
pixels); a scene's score is ``norm / cPSNR`` (``probav_score``), the dataset score their mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from skimage.metrics import structural_similarity

Array = np.ndarray | torch.Tensor
Result = Any  # float | np.ndarray (numpy inputs), torch.Tensor (torch inputs)

_MIN_MSE = 1e-20  # identical images: a finite, very high PSNR rather than inf
PROBAV_VALUE_SCALE = 65535.0


# ----------------------------------------------------------------------------- plumbing


def _is_torch(*xs: object) -> bool:
    return any(isinstance(x, torch.Tensor) for x in xs)


def _crop(x: Array | None, border: int) -> Array | None:
    if x is None or border <= 0:
        return x
    return x[..., border:-border, border:-border]


def _prepare_np(x: Array, y: Array, mask: Array | None,
                border: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float64 images of shape (N, H, W) and their validity mask (mask & finite)."""
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if xa.shape != ya.shape:
        raise ValueError(f"image shapes differ: {xa.shape} vs {ya.shape}")
    if xa.ndim < 2:
        raise ValueError(f"expected (..., H, W) images, got shape {xa.shape}")
    valid = np.isfinite(xa) & np.isfinite(ya)
    if mask is not None:
        valid &= np.broadcast_to(np.asarray(mask, dtype=bool), xa.shape)
    xa, ya, valid = (_crop(a, border) for a in (xa, ya, valid))
    h, w = xa.shape[-2:]
    return xa.reshape(-1, h, w), ya.reshape(-1, h, w), valid.reshape(-1, h, w)


def _prepare_torch(x: Array, y: Array, mask: Array | None,
                   border: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Float tensors of shape (N, H, W) and their validity mask; numpy partners are converted."""
    ref = x if isinstance(x, torch.Tensor) else y
    assert isinstance(ref, torch.Tensor)
    dtype = ref.dtype if ref.is_floating_point() else torch.float32

    def conv(a: Array) -> torch.Tensor:
        t = a if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a))
        return t.to(ref.device, dtype)

    xt, yt = conv(x), conv(y)
    if xt.shape != yt.shape:
        raise ValueError(f"image shapes differ: {tuple(xt.shape)} vs {tuple(yt.shape)}")
    if xt.ndim < 2:
        raise ValueError(f"expected (..., H, W) images, got shape {tuple(xt.shape)}")
    valid = torch.isfinite(xt.detach()) & torch.isfinite(yt.detach())
    if mask is not None:
        m = mask if isinstance(mask, torch.Tensor) else torch.as_tensor(np.asarray(mask, dtype=bool))
        valid = valid & m.to(ref.device, torch.bool).expand(xt.shape)
    xt, yt, valid = (_crop(a, border) for a in (xt, yt, valid))  # type: ignore[misc]
    h, w = xt.shape[-2:]
    return xt.reshape(-1, h, w), yt.reshape(-1, h, w), valid.reshape(-1, h, w)


def _lead_shape(x: Array) -> tuple[int, ...]:
    return tuple(x.shape[:-2])


def _reduce(values: Array, lead: tuple[int, ...], per_band: bool) -> Result:
    """Per-image values (N,) -> their mean (NaN images ignored) or the leading-axes array."""
    if isinstance(values, torch.Tensor):
        if per_band:
            return values.reshape(lead)
        finite = ~torch.isnan(values)
        if not bool(finite.any()):
            return values.sum() * float("nan")
        return values[finite].mean()
    values = np.asarray(values, dtype=np.float64)
    if per_band:
        return values.reshape(lead)
    finite = ~np.isnan(values)
    return float(values[finite].mean()) if finite.any() else float("nan")


def _masked_mse(x: Array, y: Array, valid: Array) -> Array:
    """Per-image mean squared error over valid pixels, (N,); NaN where an image has none."""
    if isinstance(x, torch.Tensor):
        d = torch.where(valid, x - y, torch.zeros((), dtype=x.dtype, device=x.device))
        n = valid.sum((-2, -1)).to(x.dtype)
        return (d * d).sum((-2, -1)) / n  # 0/0 -> NaN for empty images
    d = np.where(valid, x - y, 0.0)
    n = valid.sum((-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (d * d).sum((-2, -1)) / n


# ----------------------------------------------------------------------------- PSNR, RMSE


def psnr(x: Array, y: Array, data_range: float, border: int = 0, mask: Array | None = None,
         per_band: bool = False) -> Result:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)``, per 2-D image then averaged.

    ``y`` is the reference. Identical images give a large finite value (MSE floored at 1e-20).
    """
    lead = _lead_shape(x)
    if _is_torch(x, y, mask):
        xt, yt, v = _prepare_torch(x, y, mask, border)
        mse = _masked_mse(xt, yt, v).clamp_min(_MIN_MSE)
        return _reduce(10 * torch.log10(data_range**2 / mse), lead, per_band)
    xa, ya, va = _prepare_np(x, y, mask, border)
    mse = np.maximum(_masked_mse(xa, ya, va), _MIN_MSE)
    return _reduce(10 * np.log10(data_range**2 / mse), lead, per_band)


def rmse(x: Array, y: Array, border: int = 0, mask: Array | None = None, per_band: bool = False) -> Result:
    """Root mean squared error (in the images' units), per 2-D image then averaged."""
    lead = _lead_shape(x)
    if _is_torch(x, y, mask):
        xt, yt, v = _prepare_torch(x, y, mask, border)
        return _reduce(torch.sqrt(_masked_mse(xt, yt, v)), lead, per_band)
    xa, ya, va = _prepare_np(x, y, mask, border)
    return _reduce(np.sqrt(_masked_mse(xa, ya, va)), lead, per_band)


# ----------------------------------------------------------------------------- SSIM


def _gauss_radius(sigma: float) -> int:
    """scikit-image's SSIM window: truncate 3.5 sigma, radius as scipy.ndimage rounds it (5 -> 11 taps)."""
    return int(3.5 * sigma + 0.5)


def _ssim_map_torch(x: torch.Tensor, y: torch.Tensor, data_range: float, sigma: float) -> torch.Tensor:
    """SSIM map of (N, H, W) images over the window interior, (N, H - 2r, W - 2r).

    Written by hand because scikit-image is not differentiable. It equals scikit-image's map
    (Gaussian weights, population covariance, K1 = 0.01, K2 = 0.03) on the pixels scikit-image
    averages: those at least r px from the border, where the window needs no padding, so a
    'valid' convolution reproduces it exactly whatever padding scikit-image uses.
    """
    r = _gauss_radius(sigma)
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=x.dtype, device=x.device) / sigma) ** 2)
    k = k / k.sum()
    kx, ky = k.view(1, 1, 1, -1), k.view(1, 1, -1, 1)

    def blur(a: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(a.unsqueeze(1), kx), ky).squeeze(1)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    ux, uy = blur(x), blur(y)
    vx = blur(x * x) - ux * ux
    vy = blur(y * y) - uy * uy
    vxy = blur(x * y) - ux * uy
    return ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))


def _ssim_np(x: np.ndarray, y: np.ndarray, valid: np.ndarray, data_range: float, sigma: float) -> np.ndarray:
    out = np.full(x.shape[0], np.nan)
    r = _gauss_radius(sigma)
    for i in range(x.shape[0]):
        v = valid[i]
        if v.all():
            out[i] = structural_similarity(x[i], y[i], data_range=data_range, gaussian_weights=True,
                                           sigma=sigma, use_sample_covariance=False)
            continue
        if not v.any():
            continue
        # Invalid pixels take the reference's values so they add no error, then the SSIM map is
        # averaged over the valid pixels of scikit-image's window interior.
        yi = np.nan_to_num(y[i])
        xi = np.where(v, x[i], yi)
        _, smap = structural_similarity(xi, yi, data_range=data_range, gaussian_weights=True, sigma=sigma,
                                        use_sample_covariance=False, full=True)
        inner = v[r:-r, r:-r] if r else v
        vals = (smap[r:-r, r:-r] if r else smap)[inner]
        if vals.size:
            out[i] = vals.mean()
    return out


def _ssim_torch(x: torch.Tensor, y: torch.Tensor, valid: torch.Tensor, data_range: float,
                sigma: float) -> torch.Tensor:
    r = _gauss_radius(sigma)
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    yf = torch.where(valid, y, y.detach().nan_to_num(0.0))
    xf = torch.where(valid, x, yf)  # invalid pixels: the reference's value (no error)
    smap = _ssim_map_torch(xf, yf, data_range, sigma)
    inner = valid[:, r:valid.shape[-2] - r, r:valid.shape[-1] - r]
    w = inner.to(x.dtype)
    n = w.sum((-2, -1))
    return torch.where(inner, smap, zero).sum((-2, -1)) / n


def ssim(x: Array, y: Array, data_range: float, border: int = 0, mask: Array | None = None,
         per_band: bool = False, sigma: float = 1.5) -> Result:
    """Structural similarity (Gaussian window sigma 1.5, 11 taps), per 2-D image then averaged.

    Identical to ``skimage.metrics.structural_similarity(x, y, data_range=..., gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False)``. With a mask, invalid pixels are replaced by the
    reference's values and the SSIM map is averaged over the valid pixels only.
    """
    lead = _lead_shape(x)
    if _is_torch(x, y, mask):
        xt, yt, v = _prepare_torch(x, y, mask, border)
        return _reduce(_ssim_torch(xt, yt, v, data_range, sigma), lead, per_band)
    xa, ya, va = _prepare_np(x, y, mask, border)
    return _reduce(_ssim_np(xa, ya, va, data_range, sigma), lead, per_band)


# ----------------------------------------------------------------------------- spectral metrics


def sam(x: Array, y: Array, border: int = 0, mask: Array | None = None) -> Result:
    """Mean spectral angle in degrees between ``(..., bands, H, W)`` images (bands on axis -3).

    Uses Kahan's ``2 atan2(|a - b|, |a + b|)`` of the unit spectra (accurate near 0, finite
    gradients); pixels whose spectrum is all zero in either image, masked or non-finite are ignored.
    Scale-invariant: SAM(x, 2x) = 0.
    """
    if x.ndim < 3:
        raise ValueError(f"SAM needs a band axis: expected (..., bands, H, W), got shape {tuple(x.shape)}")
    if _is_torch(x, y, mask):
        xt, yt, v = _prepare_torch(x, y, mask, border)
        shape = (-1, *_crop(x, border).shape[-3:])  # type: ignore[union-attr]
        xt, yt, v = xt.reshape(shape), yt.reshape(shape), v.reshape(shape)
        vp = v.all(-3)
        zero = torch.zeros((), dtype=xt.dtype, device=xt.device)
        xt, yt = torch.where(v, xt, zero), torch.where(v, yt, zero)
        nx = torch.linalg.vector_norm(xt, dim=-3, keepdim=True)
        ny = torch.linalg.vector_norm(yt, dim=-3, keepdim=True)
        vp = vp & (nx.detach()[..., 0, :, :] > 0) & (ny.detach()[..., 0, :, :] > 0)
        one = torch.ones((), dtype=xt.dtype, device=xt.device)
        a = xt / torch.where(nx > 0, nx, one)
        b = yt / torch.where(ny > 0, ny, one)
        diff, summ = torch.linalg.vector_norm(a - b, dim=-3), torch.linalg.vector_norm(a + b, dim=-3)
        ang = 2 * torch.atan2(diff, summ)
        ang = torch.where(vp, ang, zero)
        return torch.rad2deg(ang.sum() / vp.sum().to(xt.dtype))
    xa, ya, va = _prepare_np(x, y, mask, border)
    shape = (-1, *_crop(np.asarray(x), border).shape[-3:])
    xa, ya, va = xa.reshape(shape), ya.reshape(shape), va.reshape(shape)
    xa, ya = np.where(va, xa, 0.0), np.where(va, ya, 0.0)
    nx = np.linalg.norm(xa, axis=-3, keepdims=True)
    ny = np.linalg.norm(ya, axis=-3, keepdims=True)
    vp = va.all(-3) & (nx[..., 0, :, :] > 0) & (ny[..., 0, :, :] > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        a, b = xa / nx, ya / ny
    ang = 2 * np.arctan2(np.linalg.norm(a - b, axis=-3), np.linalg.norm(a + b, axis=-3))
    return float(np.degrees(ang[vp].mean())) if vp.any() else float("nan")


def ergas(x: Array, y: Array, scale: float, border: int = 0, mask: Array | None = None) -> Result:
    """ERGAS (Wald 2002): ``100 / scale * sqrt(mean_b (RMSE_b / mean(y_b))^2)``; lower is better.

    ``scale`` is the resolution ratio (low-res pixel size / high-res pixel size, e.g. 4), ``y`` the
    reference, bands on axis -3 (a 2-D image is one band). Batches ``(N, bands, H, W)`` are averaged.
    """
    bands = x.shape[-3] if x.ndim >= 3 else 1
    if _is_torch(x, y, mask):
        xt, yt, v = _prepare_torch(x, y, mask, border)
        mse = _masked_mse(xt, yt, v)
        zero = torch.zeros((), dtype=yt.dtype, device=yt.device)
        mu = torch.where(v, yt, zero).sum((-2, -1)) / v.sum((-2, -1)).to(yt.dtype)
        rel = (mse / mu**2).reshape(-1, bands)
        return (100.0 / scale * torch.sqrt(rel.mean(-1))).mean()
    xa, ya, va = _prepare_np(x, y, mask, border)
    mse = _masked_mse(xa, ya, va)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.where(va, ya, 0.0).sum((-2, -1)) / va.sum((-2, -1))
        rel = (mse / mu**2).reshape(-1, bands)
    return float(np.mean(100.0 / scale * np.sqrt(rel.mean(-1))))


# ----------------------------------------------------------------------------- PROBA-V


def _probav_shapes(sr: Array, hr: Array, border: int) -> tuple[int, int]:
    h, w = hr.shape[-2:]
    if tuple(sr.shape[-2:]) != (h, w):
        raise ValueError(f"SR {tuple(sr.shape[-2:])} and HR {(h, w)} sizes differ")
    if h <= 2 * border or w <= 2 * border:
        raise ValueError(f"images of {(h, w)} are too small for a {border}-px border")
    return h - 2 * border, w - 2 * border


def _probav_tensors(sr: Array, hr: Array, hr_mask: Array | None,
                    value_scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """SR and HR as float tensors divided by ``value_scale`` (on the device and in the float dtype of the
    first tensor given), and the HR mask as a bool tensor of HR's shape (all True when None)."""
    ref = sr if isinstance(sr, torch.Tensor) else hr
    dtype = ref.dtype if ref.is_floating_point() else torch.float32
    s = torch.as_tensor(sr).to(ref.device, dtype) / value_scale
    h = torch.as_tensor(hr).to(ref.device, dtype) / value_scale
    m = (torch.ones(h.shape, dtype=torch.bool, device=ref.device) if hr_mask is None
         else torch.as_tensor(hr_mask).to(ref.device, torch.bool).expand(h.shape))
    return s, h, m


def cmse(sr: Array, hr: Array, hr_mask: Array | None = None, border: int = 3,
         value_scale: float = PROBAV_VALUE_SCALE) -> Array:
    """The challenge's clear MSE for every shift: ``(..., 2*border+1, 2*border+1)`` values.

    Entry ``[u, v]`` compares the SR cropped by ``border`` px on each side with ``HR[u:u+h', v:v+w']``
    over the clear pixels of that HR crop: ``b = mean(HR - SR)``, ``cMSE = mean((HR - SR - b)^2)``.
    Values are divided by ``value_scale`` first (65535: PROBA-V's uint16 range). NaN where a crop has
    no clear pixel.
    """
    ch, cw = _probav_shapes(sr, hr, border)
    n = 2 * border + 1
    if _is_torch(sr, hr, hr_mask):
        s, h_, m = _probav_tensors(sr, hr, hr_mask, value_scale)
        s = s[..., border:border + ch, border:border + cw]
        zero = torch.zeros((), dtype=s.dtype, device=s.device)
        out = []
        for u in range(n):
            for v in range(n):
                mc = m[..., u:u + ch, v:v + cw]
                d = torch.where(mc, h_[..., u:u + ch, v:v + cw] - s, zero)
                cnt = mc.sum((-2, -1)).to(s.dtype)
                b = d.sum((-2, -1)) / cnt
                e = torch.where(mc, d - b[..., None, None], zero)
                out.append((e * e).sum((-2, -1)) / cnt)
        return torch.stack(out, -1).reshape(*out[0].shape, n, n)
    s = np.asarray(sr, np.float64) / value_scale
    h_ = np.asarray(hr, np.float64) / value_scale
    m = np.ones(h_.shape, bool) if hr_mask is None else np.broadcast_to(np.asarray(hr_mask, bool), h_.shape)
    s = s[..., border:border + ch, border:border + cw]
    res = np.empty((*h_.shape[:-2], n, n))
    for u in range(n):
        for v in range(n):
            mc = m[..., u:u + ch, v:v + cw]
            d = np.where(mc, h_[..., u:u + ch, v:v + cw] - s, 0.0)
            cnt = mc.sum((-2, -1))
            with np.errstate(invalid="ignore", divide="ignore"):
                b = d.sum((-2, -1)) / cnt
                e = np.where(mc, d - b[..., None, None], 0.0)
                res[..., u, v] = (e * e).sum((-2, -1)) / cnt
    return res


def cpsnr(sr: Array, hr: Array, hr_mask: Array | None = None, border: int = 3,
          value_scale: float = PROBAV_VALUE_SCALE, per_band: bool = False) -> Result:
    """PROBA-V clear PSNR: ``-10 log10(min over shifts of cMSE)`` (see ``cmse``), per image then averaged.

    ``sr``/``hr`` are ``(..., H, W)`` in digital numbers (uint16 range), ``hr_mask`` the HR status mask
    (True = clear). Invariant to a constant brightness offset of the SR and to its integer shifts of
    up to ``border`` px.
    """
    lead = tuple(hr.shape[:-2])
    c = cmse(sr, hr, hr_mask, border, value_scale)
    if isinstance(c, torch.Tensor):
        flat = c.reshape(*c.shape[:-2], -1)
        best = torch.nan_to_num(flat, nan=float("inf")).amin(-1)
        return _reduce((-10 * torch.log10(best.clamp_min(_MIN_MSE))).reshape(-1), lead, per_band)
    flat = c.reshape(*c.shape[:-2], -1)
    best = np.nanmin(flat, -1) if np.isfinite(flat).any() else np.full(flat.shape[:-1], np.nan)
    return _reduce((-10 * np.log10(np.maximum(best, _MIN_MSE))).reshape(-1), lead, per_band)


def cssim(sr: Array, hr: Array, hr_mask: Array | None = None, border: int = 3,
          value_scale: float = PROBAV_VALUE_SCALE, data_range: float = 1.0, per_band: bool = False) -> Result:
    """PROBA-V clear SSIM: the best over the same shifts as ``cpsnr`` of the SSIM between the HR crop
    and the brightness-corrected SR crop (``SR + b``), over clear pixels (see ``ssim`` with ``mask``).

    Values are divided by ``value_scale`` and SSIM uses ``data_range`` (1.0, as the literature's
    cSSIM on normalised PROBA-V images).
    """
    lead = tuple(hr.shape[:-2])
    _probav_shapes(sr, hr, border)
    ch, cw = hr.shape[-2] - 2 * border, hr.shape[-1] - 2 * border
    n = 2 * border + 1
    if _is_torch(sr, hr, hr_mask):
        s, h_, m = _probav_tensors(sr, hr, hr_mask, value_scale)
        s = s[..., border:border + ch, border:border + cw].reshape(-1, ch, cw)
        h_, m = h_.reshape(-1, *h_.shape[-2:]), m.reshape(-1, *m.shape[-2:])
        zero = torch.zeros((), dtype=s.dtype, device=s.device)
        vals = []
        for u in range(n):
            for v in range(n):
                hc, mc = h_[:, u:u + ch, v:v + cw], m[:, u:u + ch, v:v + cw]
                b = torch.where(mc, hc - s, zero).sum((-2, -1)) / mc.sum((-2, -1)).to(s.dtype)
                vals.append(_ssim_torch(s + b[:, None, None], hc, mc, data_range, 1.5))
        best = torch.nan_to_num(torch.stack(vals, -1), nan=-float("inf")).amax(-1)
        return _reduce(best, lead, per_band)
    s = np.asarray(sr, np.float64) / value_scale
    h_ = np.asarray(hr, np.float64) / value_scale
    m = np.ones(h_.shape, bool) if hr_mask is None else np.broadcast_to(np.asarray(hr_mask, bool), h_.shape)
    s = s[..., border:border + ch, border:border + cw].reshape(-1, ch, cw)
    h_, m = h_.reshape(-1, *h_.shape[-2:]), m.reshape(-1, *m.shape[-2:])
    best = np.full(s.shape[0], np.nan)
    for u in range(n):
        for v in range(n):
            hc, mc = h_[:, u:u + ch, v:v + cw], m[:, u:u + ch, v:v + cw]
            with np.errstate(invalid="ignore", divide="ignore"):
                b = np.where(mc, hc - s, 0.0).sum((-2, -1)) / mc.sum((-2, -1))
            val = _ssim_np(s + b[:, None, None], hc, mc, data_range, 1.5)
            best = np.fmax(best, val)
    return _reduce(best, lead, per_band)


def hf_power_ratio(x: Array, y: Array, low: float = 0.25, high: float = 0.5) -> float:
    """Sharpness relative to a reference: the power of ``x`` in the top octave of the radial spectrum
    (``low`` to ``high`` cycles per pixel: half the Nyquist frequency up to Nyquist) over the power of
    ``y`` there, averaged over bands. 1.0 = as much fine detail as the truth; bicubic and PSNR-trained
    models are below 1 (they average plausible detail away), adversarial models near or above it.

    Both images are Hann-windowed (the same window) so their borders add no spurious high frequencies.
    A perception measure that needs no pretrained network; it says nothing about whether the detail is
    in the right place (pair it with PSNR or the opensr-test correctness shares).
    """
    a = np.asarray(x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x, np.float64)
    b = np.asarray(y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else y, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    a, b = a.reshape(-1, *a.shape[-2:]), b.reshape(-1, *b.shape[-2:])
    h, w = a.shape[-2:]
    win = np.outer(np.hanning(h), np.hanning(w))
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :]
    band = (np.hypot(fy, fx) >= low) & (np.hypot(fy, fx) <= high)
    ratios = []
    for xa, ya in zip(a, b, strict=True):
        pa = np.abs(np.fft.rfft2((xa - xa.mean()) * win)) ** 2
        pb = np.abs(np.fft.rfft2((ya - ya.mean()) * win)) ** 2
        denom = float(pb[band].sum())
        ratios.append(float(pa[band].sum()) / denom if denom > 0 else float("nan"))
    return float(np.nanmean(ratios))


def probav_score(cpsnr_value: float, norm: float) -> float:
    """A scene's challenge score: ``norm / cPSNR`` (1.0 = the official baseline; lower is better)."""
    return float(norm) / float(cpsnr_value)


__all__ = [
    "PROBAV_VALUE_SCALE", "cmse", "cpsnr", "cssim", "ergas", "hf_power_ratio", "probav_score", "psnr", "rmse", "sam",
    "ssim",
]
