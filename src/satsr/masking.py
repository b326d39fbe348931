"""Nodata and NaN handling around a model, and the pixel-type policy.

Models never see nodata: invalid pixels are replaced by their nearest valid neighbour before the
model runs (so a nodata value such as 0 cannot drag valid pixels towards it), and the upscaled
validity mask is put back afterwards. Finally values are cast into the output dtype, making sure a
valid pixel never lands on the nodata value by rounding.

Pixel types (``working_dtype``, the one place that decides): 8- and 16-bit integers and float16/32
are computed in float32, which holds every one of their values exactly; 32-bit integers and float64
are computed in float64 (exact for every int32/uint32 value, and float64 keeps its own precision and
range), so a classical resampler such as ``nearest`` returns them unchanged. 64-bit integers (beyond
2^53 float64 rounds them), complex and boolean data are refused with one clear error.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np

Nodata = float | Sequence[float | None] | None


def working_dtype(dtype: str | np.dtype) -> np.dtype:
    """The float type pixels of ``dtype`` are computed in (see the module docstring); ``ValueError``
    with a user-facing reason for types satsr cannot carry exactly."""
    dt = np.dtype(dtype)
    if (dt.kind in "ui" and dt.itemsize <= 2) or (dt.kind == "f" and dt.itemsize <= 4):
        return np.dtype(np.float32)
    if (dt.kind in "ui" and dt.itemsize == 4) or dt == np.float64:
        return np.dtype(np.float64)
    if dt.kind in "ui":
        raise ValueError(f"pixel type {dt} is not supported (values above 2^53 cannot be carried exactly); "
                         "convert to int32/uint32 or float64 first")
    raise ValueError(f"pixel type {dt} is not supported; convert to an integer or float type first")


def _per_band(nodata: Nodata, count: int) -> list[float | None]:
    """Broadcast a scalar or per-band nodata to one value per band."""
    if nodata is None or np.isscalar(nodata):
        return [nodata] * count  # type: ignore[list-item]
    values = list(nodata)  # type: ignore[arg-type]
    if len(values) != count:
        raise ValueError(f"got {len(values)} nodata values for {count} bands")
    return values


def valid_mask(data: np.ndarray, nodata: Nodata = None) -> np.ndarray:
    """Boolean ``(C, H, W)`` mask, True where a pixel is valid.

    A pixel is invalid in a band when it equals that band's nodata value or is not finite
    (NaN, inf), so float rasters without a declared nodata still get their NaN holes masked.
    """
    if data.ndim != 3:
        raise ValueError(f"expected (bands, h, w), got shape {data.shape}")
    floating = np.issubdtype(data.dtype, np.floating)
    valid = np.isfinite(data) if floating else np.ones(data.shape, dtype=bool)
    for b, nd in enumerate(_per_band(nodata, data.shape[0])):
        if nd is None or (isinstance(nd, float) and np.isnan(nd)):
            continue
        valid[b] &= data[b] != nd
    return valid


def fill_invalid(data: np.ndarray, valid: np.ndarray, empty_value: float = 0.0) -> np.ndarray:
    """Float copy of ``data`` (float64 stays float64, anything else becomes float32) with every invalid
    pixel set to its nearest valid pixel (per band).

    Uses the Euclidean distance transform's nearest-feature indices. A band with no valid pixel is
    set to ``empty_value``; its output is masked anyway. Bands sharing a mask share the transform.
    """
    out = np.array(data, dtype=np.float64 if data.dtype == np.float64 else np.float32, copy=True)
    last_mask: np.ndarray | None = None
    last_idx: tuple[np.ndarray, np.ndarray] | None = None
    for b in range(out.shape[0]):
        v = valid[b]
        if v.all():
            continue
        if not v.any():
            out[b] = empty_value
            continue
        if last_mask is None or last_idx is None or not np.array_equal(v, last_mask):
            from scipy import ndimage  # imported when used: ~0.3 s of every command's start-up

            idx = ndimage.distance_transform_edt(~v, return_distances=False, return_indices=True)
            last_mask, last_idx = v, (idx[0], idx[1])
        out[b] = out[b][last_idx]
    return out


def upscale_mask(mask: np.ndarray, scale: int | Fraction, out_hw: tuple[int, int] | None = None) -> np.ndarray:
    """Nearest-neighbour upscale of a ``(..., h, w)`` mask: output pixel ``j`` takes input pixel
    ``floor((j + 0.5) / scale)``; ``out_hw`` defaults to ``(h * scale, w * scale)`` (integer scales)."""
    if isinstance(scale, int) or float(scale).is_integer():
        s = int(scale)
        up = np.repeat(np.repeat(mask, s, axis=-2), s, axis=-1)
        return up if out_hw is None else up[..., : out_hw[0], : out_hw[1]]
    if out_hw is None:
        raise ValueError("a fractional scale needs the output size")
    p, q = Fraction(scale).numerator, Fraction(scale).denominator
    # floor((j + 0.5) / (p / q)) in integers: no rounding can move a pixel across a border
    rows = np.minimum((2 * np.arange(out_hw[0]) + 1) * q // (2 * p), mask.shape[-2] - 1)
    cols = np.minimum((2 * np.arange(out_hw[1]) + 1) * q // (2 * p), mask.shape[-1] - 1)
    return mask[..., rows[:, None], cols[None, :]]


def all_invalid(valid: np.ndarray) -> bool:
    """True when no pixel of any band is valid (the tile can be skipped)."""
    return not bool(valid.any())


def to_dtype(values: np.ndarray, dtype: str | np.dtype, nodata: Nodata = None) -> np.ndarray:
    """Cast float ``(C, H, W)`` ``values`` (NaN = invalid) into ``dtype``.

    Integer dtypes are rounded and clipped to their range. Invalid pixels get the band's nodata
    value (NaN for float output without one, 0 for integer output without one). A valid pixel that
    would equal nodata is nudged one step towards its true value, so the output nodata region is
    exactly the input's, upscaled.
    """
    if values.ndim != 3:
        raise ValueError(f"expected (bands, h, w), got shape {values.shape}")
    dt = np.dtype(dtype)
    invalid = np.isnan(values)
    integer = np.issubdtype(dt, np.integer)
    if integer:
        info = np.iinfo(dt)
        clipped = np.clip(values, info.min, info.max)
        if invalid.any():
            clipped[invalid] = 0
        out = np.rint(clipped, out=clipped).astype(dt)
    else:
        out = values.astype(dt)
    for b, nd in enumerate(_per_band(nodata, values.shape[0])):
        if nd is None or np.isnan(nd):
            continue
        band, bad = out[b], invalid[b]
        if integer:
            nd_val = int(nd)
            if not info.min <= nd_val <= info.max:
                continue
            clash = (band == nd_val) & ~bad
            if clash.any():
                if nd_val == info.min:
                    upward = np.ones(int(clash.sum()), dtype=bool)
                elif nd_val == info.max:
                    upward = np.zeros(int(clash.sum()), dtype=bool)
                else:
                    upward = values[b][clash] >= nd_val
                band[clash] = np.where(upward, nd_val + 1, nd_val - 1).astype(dt)
            band[bad] = nd_val
        else:
            clash = (band == nd) & ~bad
            if clash.any():
                band[clash] = np.nextafter(band[clash], dt.type(np.inf))
            band[bad] = nd
    return out
