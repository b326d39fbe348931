"""Resampling kernels: MATLAB-compatible ``imresize`` (bicubic, bilinear, nearest, lanczos3).

The SR literature makes its low-resolution inputs with MATLAB's ``imresize(x, 1/s, 'bicubic')``
(anti-aliased cubic kernel, a = -0.5, symmetric borders). Neither scipy nor scikit-image reproduce it
exactly, so it is written here once, as separable resampling taps: numpy arrays by polyphase shifted
slices (a few multiply-adds per sample, one thread: the classical upscalers, the tile engine, the
degradations that make evaluation pairs), torch tensors by the same taps in torch (differentiable, any
device: training). ``resize_matrix`` is the dense reference both are tested against.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np
import torch

from satsr.arrays import Array

# ----------------------------------------------------------------------------- kernels


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))


def _lanczos3(x: np.ndarray) -> np.ndarray:
    return np.sinc(x) * np.sinc(x / 3) * (np.abs(x) < 3)


def _triangle(x: np.ndarray) -> np.ndarray:
    return np.clip(1 - np.abs(x), 0, None)


def _box(x: np.ndarray) -> np.ndarray:
    return ((x >= -0.5) & (x < 0.5)).astype(np.float64)


KERNELS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], float]] = {
    # name: (kernel, support width in input pixels at scale 1)
    "nearest": (_box, 1.0),
    "bilinear": (_triangle, 2.0),
    "bicubic": (_cubic, 4.0),
    "lanczos": (_lanczos3, 6.0),
}


def _raw_taps(n_in: int, n_out: int, kernel: str, antialias: bool,
              map_scale: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Unmirrored 1-based input indices and normalised weights, each ``(n_out, P)`` (MATLAB's
    ``contributions``): output pixel ``i`` maps to ``u = i / s + 0.5 (1 - 1/s)``; shrinking with
    anti-aliasing stretches the kernel by ``1/s``. ``s`` is ``n_out / n_in`` unless ``map_scale`` gives it
    (a window of a larger image at a fractional scale, whose sizes do not carry the exact ratio)."""
    scale = n_out / n_in if map_scale is None else float(map_scale)
    func, width = KERNELS[kernel]
    i = np.arange(1, n_out + 1, dtype=np.float64)
    u = i / scale + 0.5 * (1 - 1 / scale)
    if kernel == "nearest":  # MATLAB nearest: no anti-aliasing, the nearest input centre
        return np.floor(u + 0.5).astype(np.int64)[:, None], np.ones((n_out, 1))
    if scale < 1 and antialias:
        k = lambda x: scale * func(scale * x)  # noqa: E731
        width = width / scale
    else:
        k = func
    left = np.floor(u - width / 2)
    p = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(p)[None, :]
    w = k(u[:, None] - idx)
    return idx.astype(np.int64), w / w.sum(1, keepdims=True)


@lru_cache(maxsize=256)
def resize_taps(
    n_in: int, n_out: int, kernel: str = "bicubic", antialias: bool = True, map_scale: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB ``imresize`` contributions along one axis: 0-based ``(indices, weights)``, ``(n_out, P)``.

    Borders are mirrored (symmetric padding: ..., 2, 1, 1, 2, ..., n, n, n-1, ...), so indices are
    always inside ``[0, n_in)``.
    """
    idx, w = _raw_taps(n_in, n_out, kernel, antialias, map_scale)
    mirror = np.concatenate([np.arange(n_in), np.arange(n_in)[::-1]])
    idx0 = mirror[np.mod(idx - 1, 2 * n_in)]
    keep = np.abs(w).sum(0) > 0  # drop taps that are zero for every output pixel
    return idx0[:, keep], w[:, keep]


@dataclass(frozen=True)
class PhasePlan:
    """A resize along one axis as a rational polyphase filter: output ``i = p * j + r`` is
    ``sum_k kern[r, k] * padded[start[r] + q * j + k]``, where ``padded`` holds the input positions
    ``lo .. lo + length - 1`` (0-based, mirrored at the borders like ``resize_taps``)."""

    p: int  # phases (output period)
    q: int  # input step per period
    lo: int  # first (unmirrored, 0-based) input position any output reads
    length: int  # positions read: lo .. lo + length - 1
    start: tuple[int, ...]  # per phase, offset into the padded signal
    kern: np.ndarray  # (p, taps) float64


def _as_ratio(n_in: int, n_out: int, map_scale: float | None) -> Fraction:
    """The output/input ratio p/q of a resize: exact from the sizes, or recovered from ``map_scale`` (a
    fractional scale with a denominator up to 64, passed as a float)."""
    if map_scale is None:
        return Fraction(n_out, n_in)
    return Fraction(map_scale).limit_denominator(4096)


@lru_cache(maxsize=512)
def phase_plan(n_in: int, n_out: int, kernel: str, antialias: bool,
               map_scale: float | None = None) -> PhasePlan | None:
    """The polyphase form of ``resize_taps`` when its taps repeat every ``p`` outputs (a rational ratio
    p/q with few phases), else None (gathered taps are used). The taps are MATLAB's, unchanged: they are
    only regrouped, so the result equals the dense ``resize_matrix`` product up to float rounding."""
    ratio = _as_ratio(n_in, n_out, map_scale)
    p, q = ratio.numerator, ratio.denominator
    if p > 64 or p > n_out:
        return None
    idx, w = _raw_taps(n_in, n_out, kernel, antialias, map_scale)  # 1-based, unmirrored
    idx = idx - 1
    # periodic: output i + p reads the same weights q inputs further on (float rounding in the
    # coordinate map could break this near a kernel edge; then the taps are gathered instead)
    if n_out > p and (np.any(idx[p:] != idx[:-p] + q) or not np.allclose(w[p:], w[:-p], rtol=0, atol=1e-12)):
        return None
    lo, hi = int(idx.min()), int(idx.max())
    starts = tuple(int(idx[r, 0]) - lo for r in range(p))
    return PhasePlan(p, q, lo, hi - lo + 1, starts, w[:p].copy())


def _mirror(n_in: int, lo: int, length: int) -> np.ndarray:
    """0-based input index of positions ``lo .. lo + length - 1`` under symmetric borders."""
    mirror = np.concatenate([np.arange(n_in), np.arange(n_in)[::-1]])
    return mirror[np.mod(np.arange(lo, lo + length), 2 * n_in)]


def _along(axis: int, ndim: int, sl: slice | np.ndarray) -> tuple[slice | np.ndarray, ...]:
    index: list[slice | np.ndarray] = [slice(None)] * ndim
    index[axis] = sl
    return tuple(index)


# Elements of input + output per cache block of ``_resize_axis_np`` (a few hundred kB: the passes over
# one block stay in the CPU cache; 3-4x faster than whole-array passes, measured on a 576 px tile)
_BLOCK = 1 << 17


def _resize_axis_np(a: np.ndarray, axis: int, n_out: int, kernel: str, antialias: bool,
                    map_scale: float | None) -> np.ndarray:
    """Resize numpy ``a`` along ``axis`` to ``n_out`` samples: polyphase shifted (strided) slices, a few
    multiply-adds per sample, in ``a``'s float type, block by block across another axis so the passes
    stay in cache. Written by hand because no library offers MATLAB's taps with its borders (scipy's
    ``zoom``/``correlate1d`` use other kernels or grids); numpy ufuncs run on one thread, which keeps the
    classical path predictable on a loaded machine, where torch's thread pool stalls on short ops."""
    ndim = a.ndim
    axis = axis % ndim
    shape = list(a.shape)
    shape[axis] = n_out
    out = np.empty(shape, dtype=a.dtype)
    # block along the last axis (or the one before it when resampling the last)
    across = ndim - 1 if axis != ndim - 1 else ndim - 2
    if across < 0 or a.size + out.size <= _BLOCK:
        _resize_block(a, axis, out, kernel, antialias, map_scale)
        return out
    per = (a.shape[axis] + n_out) * int(np.prod([a.shape[d] for d in range(ndim) if d not in (axis, across)]))
    step = max(16, _BLOCK // max(per, 1) // 16 * 16)
    for b0 in range(0, a.shape[across], step):
        sel = _along(across, ndim, slice(b0, b0 + step))
        _resize_block(a[sel], axis, out[sel], kernel, antialias, map_scale)
    return out


def _resize_block(a: np.ndarray, axis: int, out: np.ndarray, kernel: str, antialias: bool,
                  map_scale: float | None) -> None:
    """``_resize_axis_np`` on one block, into ``out``."""
    n_in, n_out = a.shape[axis], out.shape[axis]
    ndim = a.ndim
    plan = phase_plan(n_in, n_out, kernel, antialias, map_scale)
    if plan is None:  # gathered taps: one pass per tap column
        idx, w = resize_taps(n_in, n_out, kernel, antialias, map_scale)
        bshape = [1] * ndim
        bshape[axis] = n_out
        wt = w.astype(a.dtype)
        np.multiply(np.take(a, idx[:, 0], axis=axis), wt[:, 0].reshape(bshape), out=out)
        for k in range(1, idx.shape[1]):
            out += np.take(a, idx[:, k], axis=axis) * wt[:, k].reshape(bshape)
        return
    padded = np.take(a, _mirror(n_in, plan.lo, plan.length), axis=axis)
    kern = plan.kern.astype(a.dtype)
    scratch: np.ndarray | None = None
    for r in range(plan.p):
        count = len(range(r, n_out, plan.p))
        if count == 0:
            continue
        acc = out[_along(axis, ndim, slice(r, None, plan.p))]
        span = plan.q * (count - 1) + 1
        first = True
        for k in np.flatnonzero(kern[r]):
            s0 = plan.start[r] + int(k)
            src = padded[_along(axis, ndim, slice(s0, s0 + span, plan.q))]
            if first:
                np.multiply(src, kern[r, k], out=acc)
                first = False
                continue
            if scratch is None or scratch.shape != acc.shape:
                scratch = np.empty(acc.shape, dtype=a.dtype)
            np.multiply(src, kern[r, k], out=scratch)
            acc += scratch
        if first:
            acc[...] = 0


def resize_matrix(n_in: int, n_out: int, kernel: str = "bicubic", antialias: bool = True,
                  map_scale: float | None = None) -> np.ndarray:
    """Dense ``(n_out, n_in)`` matrix form of ``resize_taps`` (for small sizes and for tests)."""
    idx, w = resize_taps(n_in, n_out, kernel, antialias, map_scale)
    m = np.zeros((n_out, n_in))
    np.add.at(m, (np.repeat(np.arange(n_out), idx.shape[1]), idx.ravel()), w.ravel())
    return m


@lru_cache(maxsize=256)
def _cached_tensors(n_in: int, n_out: int, kernel: str, antialias: bool, dtype: torch.dtype,
                    dense: bool, map_scale: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    if dense:
        m = torch.from_numpy(resize_matrix(n_in, n_out, kernel, antialias, map_scale)).to(dtype)
        return m, m
    idx, w = resize_taps(n_in, n_out, kernel, antialias, map_scale)
    return torch.from_numpy(idx), torch.from_numpy(w).to(dtype)


# Below this many input samples a dense matmul beats the taps for torch tensors (measured on CPU).
_DENSE_LIMIT = 96


def _resize_last(t: torch.Tensor, n_out: int, kernel: str, antialias: bool,
                 map_scale: float | None = None) -> torch.Tensor:
    """Resize a tensor along its last axis (differentiable, any device): small inputs by a dense
    matrix, larger ones by their polyphase taps (shifted slices) or gathered taps."""
    n_in = t.shape[-1]
    if n_in <= _DENSE_LIMIT:
        m, _ = _cached_tensors(n_in, n_out, kernel, antialias, t.dtype, True, map_scale)
        return torch.matmul(t, m.to(t.device).transpose(0, 1))
    plan = phase_plan(n_in, n_out, kernel, antialias, map_scale)
    if plan is None:
        idx, w = _cached_tensors(n_in, n_out, kernel, antialias, t.dtype, False, map_scale)
        return (t[..., idx.to(t.device)] * w.to(t.device)).sum(-1)
    padded = t[..., torch.from_numpy(_mirror(n_in, plan.lo, plan.length)).to(t.device)]
    out = t.new_empty((*t.shape[:-1], n_out))
    for r in range(plan.p):
        count = len(range(r, n_out, plan.p))
        span = plan.q * (count - 1) + 1
        terms = [padded[..., plan.start[r] + int(k):plan.start[r] + int(k) + span:plan.q] * float(plan.kern[r, k])
                 for k in np.flatnonzero(plan.kern[r])]
        out[..., r::plan.p] = torch.stack(terms).sum(0) if terms else 0.0
    return out


def imresize(x: Array, out_hw: tuple[int, int] | None = None, scale: float | None = None,
             kernel: str = "bicubic", antialias: bool = True, map_scale: float | None = None) -> Array:
    """MATLAB-compatible ``imresize`` of ``(..., H, W)`` arrays (numpy or torch, float).

    Give either ``out_hw`` or ``scale`` (output size = ``ceil(H * scale)`` as in MATLAB).
    ``map_scale`` fixes the output-to-input coordinate mapping (default: the size ratio per axis): a
    window of a larger image resized by a fractional scale then lands on the whole image's grid.
    Differentiable for torch inputs. Separable: columns then rows.
    """
    h, w = x.shape[-2:]
    if out_hw is None:
        if scale is None:
            raise ValueError("give out_hw or scale")
        out_hw = (int(math.ceil(h * scale)), int(math.ceil(w * scale)))
    oh, ow = out_hw
    if not isinstance(x, torch.Tensor):
        # numpy: float64 stays float64 (32-bit integer pixels are carried exactly, ``satsr.masking``),
        # anything else is computed in float32
        a = np.asarray(x)
        a = a if a.dtype in (np.float32, np.float64) else a.astype(np.float32)
        y = _resize_axis_np(a, -1, ow, kernel, antialias, map_scale)
        return _resize_axis_np(y, -2, oh, kernel, antialias, map_scale)
    t = x if x.is_floating_point() else x.float()
    calc = t if t.dtype == torch.float64 else t.float()
    y = _resize_last(calc, ow, kernel, antialias, map_scale)
    y = _resize_last(y.transpose(-1, -2), oh, kernel, antialias, map_scale).transpose(-1, -2)
    return y.to(t.dtype)


def downsample_bicubic(x: Array, scale: int) -> Array:
    """The SR benchmark degradation: anti-aliased MATLAB bicubic by ``1/scale``.

    The input is cropped to a multiple of ``scale`` first (as the benchmarks do).
    """
    h, w = x.shape[-2:]
    x = x[..., : h - h % scale, : w - w % scale]
    return imresize(x, (x.shape[-2] // scale, x.shape[-1] // scale), kernel="bicubic", antialias=True)


def crop_to_multiple(x: Array, scale: int) -> Array:
    h, w = x.shape[-2:]
    return x[..., : h - h % scale, : w - w % scale]
