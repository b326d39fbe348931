"""Resampling kernels: MATLAB-compatible ``imresize`` (bicubic, bilinear, nearest, lanczos3).

The SR literature makes its low-resolution inputs with MATLAB's ``imresize(x, 1/s, 'bicubic')``
(anti-aliased cubic kernel, a = -0.5, symmetric borders). Neither scipy nor scikit-image reproduce it
exactly, so it is written here once, as separable resampling taps applied with torch (fast on CPU,
differentiable, usable on numpy arrays too). The classical upscalers and the degradations that make
training and evaluation pairs both use it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch

from satsr.arrays import Array, like_input

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


@lru_cache(maxsize=256)
def _polyphase(n_in: int, n_out: int, kernel: str, antialias: bool) -> tuple[int, int, int, np.ndarray] | None:
    """For an integer ratio, the resize is a convolution: returns (pad, start, stride, kernels).

    Upsampling by s: s phase kernels (one output channel each, interleaved afterwards).
    Downsampling by s: one kernel applied with stride s. ``None`` when the ratio is not an integer
    or the input is too short for single-reflection padding.
    """
    if n_out % n_in == 0:
        s, up = n_out // n_in, True
    elif n_in % n_out == 0:
        s, up = n_in // n_out, False
    else:
        return None
    idx, w = _raw_taps(n_in, n_out, kernel, antialias)
    p = idx.shape[1]
    pad = p + s + 2
    if pad >= n_in:
        return None
    if up:
        starts = idx[:s, 0] + pad - 1  # 0-based start in the padded signal for j = 0, per phase
        lo = int(starts.min())
        length = int((starts - lo).max()) + p
        kern = np.zeros((s, length))
        for r in range(s):
            kern[r, starts[r] - lo : starts[r] - lo + p] = w[r]
        return pad, lo, 1, kern
    start = int(idx[0, 0] + pad - 1)
    return pad, start, s, w[:1].copy()


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


# Below this many input samples a dense matmul beats the convolution (measured on CPU).
_DENSE_LIMIT = 96


def _symmetric_pad(t: torch.Tensor, pad: int) -> torch.Tensor:
    return torch.cat([t[..., :pad].flip(-1), t, t[..., -pad:].flip(-1)], dim=-1)


def _resize_last(t: torch.Tensor, n_out: int, kernel: str, antialias: bool,
                 map_scale: float | None = None) -> torch.Tensor:
    """Resize along the last axis. Integer ratios run as 1-D convolutions (O(taps) per sample);
    small inputs use a dense matrix; other ratios gather their taps."""
    n_in = t.shape[-1]
    if n_in <= _DENSE_LIMIT:
        m, _ = _cached_tensors(n_in, n_out, kernel, antialias, t.dtype, True, map_scale)
        return torch.matmul(t, m.to(t.device).transpose(0, 1))
    poly = _polyphase(n_in, n_out, kernel, antialias) if map_scale is None else None
    if poly is None:
        idx, w = _cached_tensors(n_in, n_out, kernel, antialias, t.dtype, False, map_scale)
        return (t[..., idx.to(t.device)] * w.to(t.device)).sum(-1)
    pad, start, stride, kern = poly
    lead = t.shape[:-1]
    x = _symmetric_pad(t.reshape(-1, n_in), pad)[..., start:]
    k = torch.from_numpy(kern).to(t.device, t.dtype)  # (phases, length)
    # windows as a strided view, then one matmul with the phase kernels (faster than conv1d here)
    win = x.unfold(-1, k.shape[1], stride)
    # upsampling (stride 1): one column per phase, interleaved by the reshape
    y = (win[:, : n_in if stride == 1 else n_out] @ k.T).reshape(-1, n_out)
    return y.reshape(*lead, n_out)


def imresize(x: Array, out_hw: tuple[int, int] | None = None, scale: float | None = None,
             kernel: str = "bicubic", antialias: bool = True, map_scale: float | None = None) -> Array:
    """MATLAB-compatible ``imresize`` of ``(..., H, W)`` arrays (numpy or torch, float).

    Give either ``out_hw`` or ``scale`` (output size = ``ceil(H * scale)`` as in MATLAB).
    ``map_scale`` fixes the output-to-input coordinate mapping (default: the size ratio per axis): a
    window of a larger image resized by a fractional scale then lands on the whole image's grid.
    Differentiable for torch inputs. Separable: columns then rows.
    """
    # float64 numpy stays float64 (32-bit integer pixels are carried exactly, ``satsr.masking``)
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))
    if not t.is_floating_point():
        t = t.float()
    h, w = t.shape[-2:]
    if out_hw is None:
        if scale is None:
            raise ValueError("give out_hw or scale")
        out_hw = (int(math.ceil(h * scale)), int(math.ceil(w * scale)))
    oh, ow = out_hw
    calc = t if t.dtype == torch.float64 else t.float()
    y = _resize_last(calc, ow, kernel, antialias, map_scale)
    y = _resize_last(y.transpose(-1, -2), oh, kernel, antialias, map_scale).transpose(-1, -2)
    y = y.to(t.dtype)
    return y if isinstance(x, torch.Tensor) else like_input(y, x, keep_float64=True)


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
