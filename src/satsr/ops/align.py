"""Aligning a real reference from a finer sensor with a low-res image: co-registration and radiometry.

``align_reference`` takes the reference already resampled onto the SR grid of the low-res image (the
LR grid with pixel size / scale) and (1) reduces it to the LR grid with the Wald MTF (the multispectral
convention, ``satsr.ops.filters.wald_degrade``), (2) registers that to the LR sub-pixel (band mean;
phase correlation refined by least squares with a gain and offset, ``satsr.ops.registration``) and
applies the shift, times the scale, to the reference at SR resolution (cubic spline), (3) harmonises
it per band to the LR's radiometry: gain and offset by least squares between the shifted reference
reduced to the LR grid and the LR over pixels valid in both, or histogram matching to the bicubic
upscaled LR. Used by ``satsr evaluate real`` and to cut real training pairs (``satsr.data.real_pairs``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from satsr.errors import InputError, OptionError
from satsr.masking import fill_invalid, upscale_mask
from satsr.ops.filters import wald_degrade
from satsr.ops.registration import Registration, apply_shift, refine_shift, register, shift_mask
from satsr.ops.resize import imresize
from satsr.ops.spans import axis_spans, feather_weights

HARMONISATIONS = ("linear", "histogram")


@dataclass
class Aligned:
    """The reference on the SR grid, aligned and harmonised to the LR, and how that was done."""

    values: np.ndarray  # (C, H, W) float64
    valid: np.ndarray  # (H, W) bool
    registration: Registration
    gain: list[float]
    offset: list[float]


def reduce_to_lr(values: np.ndarray, valid: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """``(C, H, W)`` on the SR grid -> the LR grid (Wald MTF); an LR pixel is valid when every SR pixel
    within the blur's reach was."""
    filled = fill_invalid(values, np.broadcast_to(valid, values.shape)) if not valid.all() else values
    low = np.asarray(wald_degrade(np.asarray(filled, np.float64), scale), np.float64)
    h, w = low.shape[-2:]
    blocks = valid[: h * scale, : w * scale].reshape(h, scale, w, scale).all((1, 3))
    return low, ndimage.binary_erosion(blocks, iterations=1, border_value=0)


def _fit_linear(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least squares ``y ~ gain * x + offset``."""
    a = np.vstack([x, np.ones_like(x)]).T
    (gain, offset), *_ = np.linalg.lstsq(a, y, rcond=None)
    return float(gain), float(offset)


def align_reference(lr: np.ndarray, lr_valid: np.ndarray, ref: np.ndarray, ref_valid: np.ndarray, scale: int,
                    harmonise: str = "linear", prior: tuple[float, float] | None = None,
                    max_deviation: float = 0.75) -> Aligned:
    """Co-register ``ref`` (on the SR grid of ``lr``) to ``lr`` sub-pixel and harmonise it per band.

    ``lr`` ``(C, h, w)``, ``lr_valid`` ``(h, w)``; ``ref`` ``(C, h*s, w*s)``, ``ref_valid`` ``(h*s, w*s)``.
    With a ``prior`` shift (LR px, e.g. a whole scene's), the shift is refined from it by least squares
    and the prior is kept when the refinement moves more than ``max_deviation`` LR px away (a small block
    with little texture must not drift by whole pixels).
    """
    if harmonise not in HARMONISATIONS:
        raise OptionError(f"harmonise {harmonise!r}: choose one of {', '.join(HARMONISATIONS)}")
    low, low_valid = reduce_to_lr(ref, ref_valid, scale)
    both = lr_valid & low_valid
    if both.sum() < 64:
        raise InputError("the reference and the LR share fewer than 64 valid LR pixels; they must overlap")
    if prior is None:
        reg = register(lr.mean(0), low.mean(0), lr_valid, low_valid, refine=True)
    else:
        reg = refine_shift(lr.mean(0), low.mean(0), prior, lr_valid, low_valid)
        if np.hypot(reg.shift[0] - prior[0], reg.shift[1] - prior[1]) > max_deviation:
            reg = Registration(shift=(float(prior[0]), float(prior[1])), overlap=reg.overlap)
    shift_hr = (reg.shift[0] * scale, reg.shift[1] * scale)
    filled = fill_invalid(ref, np.broadcast_to(ref_valid, ref.shape)) if not ref_valid.all() else ref
    moved = apply_shift(filled, shift_hr)
    moved_valid = shift_mask(ref_valid, shift_hr)
    low, low_valid = reduce_to_lr(moved, moved_valid, scale)
    both = lr_valid & low_valid
    gains, offsets = [], []
    out = np.empty_like(moved)
    for b in range(ref.shape[0]):
        if harmonise == "linear":
            g, o = _fit_linear(low[b][both], lr[b][both])
            out[b] = g * moved[b] + o
        else:
            from skimage.exposure import match_histograms

            target = np.asarray(imresize(lr[b], scale=scale, kernel="bicubic"), np.float64)
            keep = moved_valid & upscale_mask(lr_valid, scale)
            out[b] = moved[b]
            out[b][keep] = match_histograms(moved[b][keep], target[keep])
            g, o = _fit_linear(moved[b][keep], out[b][keep])
        gains.append(round(g, 6))
        offsets.append(round(o, 6))
    return Aligned(out, moved_valid, reg, gains, offsets)


@dataclass
class BlockAlignment:
    """A reference aligned block by block: the blended result and each block's shift (LR px)."""

    values: np.ndarray  # (C, H, W)
    valid: np.ndarray  # (H, W)
    shifts: list[tuple[float, float]]
    gains: list[list[float]]


def align_blocks(lr: np.ndarray, lr_valid: np.ndarray, ref: np.ndarray, ref_valid: np.ndarray, scale: int,
                 block: int = 64, overlap: int = 16, harmonise: str = "linear") -> BlockAlignment:
    """``align_reference`` on overlapping blocks of ``block`` LR px, blended with weights that sum to one.

    Real cross-sensor misregistration and illumination differences vary across a scene (relief, view
    and sun angles), so one shift and one gain per band fit a large area poorly. Each block gets its
    own; neighbours overlap by ``overlap`` LR px and are blended with linear ramps, so the aligned
    reference has no seams. Each block's shift is refined from the whole window's (``prior``). A block
    that cannot be aligned (too little overlap) is left invalid.
    """
    c, h, w = lr.shape
    s = scale
    prior = align_reference(lr, lr_valid, ref, ref_valid, s, harmonise).registration.shift
    rows, cols = axis_spans(h, block, overlap), axis_spans(w, block, overlap)
    wr, wc = feather_weights(rows, s), feather_weights(cols, s)
    out = np.zeros((c, h * s, w * s))
    weight = np.zeros((h * s, w * s))
    shifts: list[tuple[float, float]] = []
    gains: list[list[float]] = []
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            hr = (slice(r0 * s, r1 * s), slice(c0 * s, c1 * s))
            try:
                a = align_reference(lr[:, r0:r1, c0:c1], lr_valid[r0:r1, c0:c1], ref[:, hr[0], hr[1]],
                                    ref_valid[hr], s, harmonise, prior=prior)
            except InputError:
                continue
            wgt = (wr[i][:, None] * wc[j][None, :]) * a.valid
            out[:, hr[0], hr[1]] += a.values * wgt
            weight[hr] += wgt
            shifts.append(a.registration.shift)
            gains.append(a.gain)
    valid = weight > 0.5  # most of the blend comes from blocks that aligned the pixel
    values = np.divide(out, weight, out=np.zeros_like(out), where=weight > 0)
    return BlockAlignment(values, valid, shifts, gains)
