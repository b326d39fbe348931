"""The opensr-test benchmark's metrics (v1.3.3, "nd" distance) on user arrays.

opensr-test (Aybar et al. 2024) judges a super-resolved image against its LR input and an HR
reference in three groups. Definitions follow the package's defaults (``Config()``), re-expressed
here so satsr needs none of its heavy dependencies; ``tests/test_opensr_metrics.py`` pins the
values and BENCHMARKS.md records a side-by-side run with the package itself.

Inputs: ``lr`` ``(C, h, w)``, ``sr`` and ``hr`` ``(C, H, W)``, ``H = s h`` with integer ``s``, all
divided by ``value_scale`` (reflectance: 10000 for Sentinel-2 L1C). A ``border`` of 16 HR px
(``16 // s`` LR px) is cut first. ``LR_up`` is ``LR`` upsampled to the HR size and ``SR_down`` is
``SR`` downsampled to the LR size, both by torch's anti-aliased bilinear interpolation.

* consistency: ``reflectance`` = mean over pixels of the band-mean ``|LR - SR_down|``; ``spectral``
  = mean per-pixel spectral angle (degrees) between ``LR`` and ``SR_down``; ``spatial`` = length
  (LR px) of the phase-correlation shift (1/50 px) registering ``LR`` onto ``SR_down`` on the mean
  of the RGB bands, NaN when it exceeds 5 px.
* synthesis: ``SR_harm`` = ``SR`` histogram-matched to ``HR`` band by band, then shifted onto
  ``HR`` by phase correlation of the band means (bilinear, edge replicated; shifts over 5 px are
  ignored); ``synthesis`` = mean ``|LR_up - SR_harm|``: how much high-frequency detail SR adds.
* correctness: ``d(x, y)`` = band mean of ``|x - y| / |x + y + 1e-8|``; ``d_ref = d(LR_up, HR)``,
  ``d_im = d(SR_harm, HR)``, ``d_om = d(SR_harm, LR_up)``; pixels where any of the three exceeds
  the 75th percentile of ``d_ref`` are scored with ``D_im = d_im / d_ref``, ``D_om = d_om / d_ref``,
  ``H = D_im + D_om - 1``, ``IM = D_im + D_om (1 - e^{-g H})``, ``OM = D_om + D_im (1 - e^{-g H})``,
  ``HA = e^{-g D_im D_om}`` (``g = 0.05``); ``p = softmin(IM, OM, HA)`` at temperature 0.25, and
  ``improvement``, ``omission``, ``hallucination`` are the means of ``p`` (they sum to 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

BORDER = 16
EPS = 1e-8
GAMMA = 0.05
TEMPERATURE = 0.25
PERCENTILE = 75
MAX_SHIFT = 5.0
UPSAMPLE = 50


@dataclass
class OpensrMetrics:
    """opensr-test metrics of one SR image (see the module docstring)."""

    reflectance: float
    spectral: float
    spatial: float
    synthesis: float
    improvement: float
    omission: float
    hallucination: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def bilinear_resize(x: np.ndarray, factor: float) -> np.ndarray:
    """torch's anti-aliased bilinear resize of ``(C, h, w)`` by ``factor`` (in ``x``'s float type)."""
    t = torch.from_numpy(np.ascontiguousarray(x))[None]
    y = F.interpolate(t, scale_factor=factor, mode="bilinear", antialias=True)
    return y[0].numpy()


def nd_distance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-pixel normalised difference ``|x - y| / |x + y + eps|``, averaged over bands (NaN-aware)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nanmean(np.abs(x - y) / np.abs(x + y + EPS), axis=0)


def spectral_angle(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-pixel angle (degrees) between the spectra of ``(C, H, W)`` images; NaN for zero spectra."""
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = (x * y).sum(0) / (np.linalg.norm(x, axis=0) * np.linalg.norm(y, axis=0))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def phase_shift(reference: np.ndarray, moving: np.ndarray) -> np.ndarray | None:
    """(row, col) shift registering ``moving`` onto ``reference`` (2-D), to 1/50 px; None on failure."""
    from skimage.registration import phase_cross_correlation

    try:
        shift, _, _ = phase_cross_correlation(reference, moving, upsample_factor=UPSAMPLE, space="real",
                                              disambiguate=False, overlap_ratio=0.3)
    except (ValueError, RuntimeError):
        return None
    return np.asarray(shift, np.float64)


def _shift_image(x: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``out[i] = x[i - shift]`` per band, bilinear with replicated edges (what opensr-test's
    OpenCV ``warpAffine`` does; equal to it within float32 rounding)."""
    from scipy import ndimage

    return np.stack([ndimage.shift(b, shift, order=1, mode="nearest") for b in x])


def harmonise(sr: np.ndarray, hr: np.ndarray) -> np.ndarray:
    """``SR_harm``: ``sr`` histogram-matched to ``hr`` per band, then aligned to it (shifts of at
    most 5 px, found by phase correlation of the band means)."""
    from skimage.exposure import match_histograms

    matched = match_histograms(sr, hr, channel_axis=0)
    shift = phase_shift(hr.mean(0), matched.mean(0))
    if shift is None or np.hypot(*shift) > MAX_SHIFT:
        return matched
    return _shift_image(matched, shift)


def _softmin(stack: np.ndarray, temperature: float) -> np.ndarray:
    e = np.exp(-stack / temperature)
    with np.errstate(invalid="ignore", divide="ignore"):
        return e / e.sum(0)


def correctness(lr_up: np.ndarray, sr_harm: np.ndarray, hr: np.ndarray,
                valid: np.ndarray | None = None) -> tuple[float, float, float]:
    """(improvement, omission, hallucination): the means of the softmin class scores (over the ``valid``
    pixels only when a ``(H, W)`` mask is given)."""
    d_ref = nd_distance(lr_up, hr)
    d_im = nd_distance(sr_harm, hr)
    d_om = nd_distance(sr_harm, lr_up)
    if valid is not None:
        d_ref, d_im, d_om = d_ref[valid], d_im[valid], d_om[valid]
    flat = np.sort(d_ref.ravel())
    k = int(PERCENTILE / 100 * flat.size)  # the k-th smallest value (1-based), as torch.kthvalue
    thr = flat[max(k, 1) - 1]
    keep = (d_ref > thr) | (d_im > thr) | (d_om > thr)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        rel_im = d_im[keep] / d_ref[keep]
        rel_om = d_om[keep] / d_ref[keep]
        h = rel_im + rel_om - 1
        damp = 1 - np.exp(-GAMMA * h)
        scores = np.stack([rel_im + rel_om * damp, rel_om + rel_im * damp, np.exp(-GAMMA * rel_im * rel_om)])
        p = _softmin(scores, TEMPERATURE)
    im, om, ha = (float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for v in p)
    return im, om, ha


def opensr_metrics(lr: np.ndarray, sr: np.ndarray, hr: np.ndarray, value_scale: float = 1.0,
                   border: int = BORDER, rgb_bands: Sequence[int] = (0, 1, 2)) -> OpensrMetrics:
    """opensr-test's consistency, synthesis and correctness metrics of ``sr`` (module docstring).

    ``rgb_bands`` (0-based) are used for the spatial shift when there are at least 3 bands.
    A ``border`` that is not a multiple of the scale is rounded down to one (opensr-test itself
    fails on such sizes).
    """
    # float32 like the benchmark's tensors: its 1/50-px shift estimates depend on the rounding
    lr, sr, hr = (np.asarray(np.asarray(a, np.float64) / value_scale, np.float32) for a in (lr, sr, hr))
    if lr.ndim != 3 or sr.shape != hr.shape or sr.ndim != 3 or lr.shape[0] != sr.shape[0]:
        raise ValueError(f"expected LR (C, h, w) and SR, HR (C, H, W); got {lr.shape}, {sr.shape}, {hr.shape}")
    ratio = sr.shape[-1] / lr.shape[-1]
    s = int(round(ratio))
    if abs(ratio - s) > 1e-9 or sr.shape[-2] != lr.shape[-2] * s:
        raise ValueError(f"HR {sr.shape[-2:]} is not an integer multiple of LR {lr.shape[-2:]}")
    b_lr = border // s
    b_hr = b_lr * s
    if b_lr:
        lr = lr[:, b_lr:-b_lr, b_lr:-b_lr]
        sr = sr[:, b_hr:-b_hr, b_hr:-b_hr]
        hr = hr[:, b_hr:-b_hr, b_hr:-b_hr]
    if min(lr.shape[-2:]) < 2:
        raise ValueError(f"images too small for a {border}-px border")
    lr_up = bilinear_resize(lr, s)
    sr_down = bilinear_resize(sr, 1 / s)
    rgb = list(rgb_bands) if lr.shape[0] >= 3 else [0]
    shift = phase_shift(sr_down[rgb].mean(0), lr[rgb].mean(0))
    spatial = float(np.hypot(*shift)) if shift is not None else float("nan")
    if spatial > MAX_SHIFT:
        spatial = float("nan")
    sr_harm = harmonise(sr, hr).astype(np.float64)
    lr, hr, lr_up, sr_down = (a.astype(np.float64) for a in (lr, hr, lr_up, sr_down))

    with np.errstate(invalid="ignore"):
        reflectance = float(np.nanmean(np.nanmean(np.abs(lr - sr_down), axis=0)))
        spectral = float(np.nanmean(spectral_angle(lr, sr_down)))
    synthesis = float(np.nanmean(np.nanmean(np.abs(lr_up - sr_harm), axis=0)))
    im, om, ha = correctness(lr_up, sr_harm, hr)
    return OpensrMetrics(reflectance=reflectance, spectral=spectral, spatial=spatial, synthesis=synthesis,
                         improvement=im, omission=om, hallucination=ha)
