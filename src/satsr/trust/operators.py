"""The degradation a model inverts, as a linear operator, and the exact LR-consistency projection.

Every degradation satsr trains and evaluates with is linear and separable: ``D(X) = A X B^T`` per
band, with one small banded matrix per axis (``A``: rows are the anti-aliased MATLAB bicubic taps,
or the Wald Gaussian MTF sampled at block centres). That makes three things exact and cheap:

* ``project(sr, lr)``: the closest image to ``sr`` (least squares) whose degradation equals ``lr``,
  ``sr + D^T (D D^T)^{-1} (lr - D sr)``. Because ``D D^T = (A A^T) kron (B B^T)``, the inverse is
  two banded Cholesky solves, one per axis. With invalid LR pixels the constraint is kept only on
  valid ones and the small normal system is solved by conjugate gradients.
* ``supported(sr)``: ``D^+ D sr``, the part of ``sr`` the LR image determines; ``sr - supported(sr)``
  lies in the null space of ``D``: detail the sensor could not have seen at LR resolution.
* ``consistency_rmse(sr, lr)``: how far ``D(sr)`` is from ``lr``.

The matrices reproduce ``satsr.ops.resize.downsample_bicubic`` and ``satsr.ops.filters.wald_degrade`` exactly (symmetric
borders for bicubic; reflected, or replicated for tiny images, for the Gaussian), tested against them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from satsr.errors import OptionError
from satsr.models.base import SingleImageModel
from satsr.ops.filters import gaussian_kernel1d, wald_sigma
from satsr.ops.resize import resize_matrix

KINDS = ("bicubic", "wald", "gaussian")


@dataclass(frozen=True)
class Degradation:
    """How an LR image is made from an HR one: ``kind`` at integer ``scale``.

    ``bicubic``: MATLAB ``imresize(x, 1/s)`` (anti-aliased cubic, the SR benchmark convention);
    ``wald``: Gaussian MTF with gain ``nyquist_gain`` at the LR Nyquist, sampled at block centres;
    ``gaussian``: Gaussian blur of ``sigma`` HR px, sampled at ``s // 2 :: s`` (satsr's training option).
    """

    kind: str
    scale: int
    nyquist_gain: float = 0.3
    sigma: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise OptionError(f"degradation {self.kind!r} is not supported; choose one of {', '.join(KINDS)}")
        if int(self.scale) < 1:
            raise OptionError(f"scale must be a positive integer, got {self.scale}")

    def describe(self) -> str:
        if self.kind == "gaussian":
            return f"gaussian (sigma {self.sigma:g} HR px) x1/{self.scale}"
        return f"{self.kind} x1/{self.scale}"


def degradation_for(upscaler: SingleImageModel, kind: str | None = None) -> Degradation:
    """The degradation ``upscaler`` was trained to invert: ``kind`` when given (not "auto"), else
    its model card's ``training.config.degradation`` (bicubic for classical models and cards
    without one)."""
    scale = int(upscaler.scale)
    if kind not in (None, "auto"):
        return Degradation(str(kind), scale)
    card = upscaler.card
    deg = ((card.training or {}).get("config") or {}).get("degradation") if card is not None else None
    if not deg:
        return Degradation("bicubic", scale)
    sigma = deg.get("sigma", 0.0)
    if isinstance(sigma, list | tuple):  # a training range: its middle is the best single guess
        sigma = 0.5 * (float(sigma[0]) + float(sigma[1]))
    return Degradation(str(deg.get("kind", "bicubic")), scale, sigma=float(sigma or 0.0))


# ----------------------------------------------------------------------------- per-axis operators


def _gaussian_axis(n: int, scale: int, sigma: float, shift: float, start: int, reflect: bool) -> np.ndarray:
    """Dense ``(n // scale, n)``: ``satsr.ops.filters.gaussian_blur`` along one axis, sampled at
    ``start::scale`` (same taps, same reflect / replicate border)."""
    m = n // scale
    taps = gaussian_kernel1d(sigma, shift=shift)
    r = (taps.size - 1) // 2
    mat = np.zeros((m, n))
    for i in range(m):
        j = start + i * scale
        idx = j + np.arange(-r, r + 1)
        if reflect:
            idx = np.abs(idx)
            idx = np.where(idx > n - 1, 2 * (n - 1) - idx, idx)
        else:
            idx = np.clip(idx, 0, n - 1)
        np.add.at(mat[i], idx, taps)
    return mat


def _radius(deg: Degradation) -> int:
    """Half-width (HR px) of a Gaussian degradation's taps; decides reflect vs replicate borders."""
    if deg.kind == "wald":
        sigma, shift = wald_sigma(deg.scale, deg.nyquist_gain), 0.5 if deg.scale % 2 == 0 else 0.0
    else:
        sigma, shift = deg.sigma, 0.0
    return int(math.ceil(3 * sigma + abs(shift))) if sigma > 0 else 0


@dataclass(frozen=True)
class AxisOperator:
    """``A`` (sparse, ``m x n``), ``A^T`` and a banded Cholesky factor of ``A A^T``."""

    a: sp.csr_matrix
    at: sp.csr_matrix
    gram: sp.csr_matrix
    chol: np.ndarray  # upper banded form for scipy.linalg.cho_solve_banded

    @property
    def n_out(self) -> int:
        return self.a.shape[0]

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """``(A A^T)^{-1} rhs`` for ``rhs`` of shape ``(m, k)``."""
        return scipy.linalg.cho_solve_banded((self.chol, False), rhs, check_finite=False)


@lru_cache(maxsize=64)
def axis_operator(deg: Degradation, n: int, reflect: bool = True) -> AxisOperator:
    """The degradation along one axis of ``n`` HR px (``n`` a multiple of the scale)."""
    s = deg.scale
    if n % s or n < s:
        raise ValueError(f"axis of {n} px is not a positive multiple of the scale {s}")
    if deg.kind == "bicubic":
        dense = resize_matrix(n, n // s, "bicubic", True)
    elif deg.kind == "wald":
        shift = 0.5 if s % 2 == 0 else 0.0
        dense = _gaussian_axis(n, s, wald_sigma(s, deg.nyquist_gain), shift, s // 2, reflect)
    else:
        dense = _gaussian_axis(n, s, deg.sigma, 0.0, s // 2, reflect) if deg.sigma > 0 else \
            np.eye(n)[s // 2::s]
    dense[np.abs(dense) < 1e-15] = 0.0
    a = sp.csr_matrix(dense)
    gram_dense = dense @ dense.T
    gram_dense[np.abs(gram_dense) < 1e-15] = 0.0
    rows, cols = np.nonzero(gram_dense)
    u = int(np.max(np.abs(rows - cols))) if rows.size else 0
    m = gram_dense.shape[0]
    banded = np.zeros((u + 1, m))
    for k in range(u + 1):  # upper form: banded[u - k, j] = G[j - k, j]
        banded[u - k, k:] = np.diagonal(gram_dense, k)
    chol = scipy.linalg.cholesky_banded(banded, lower=False)
    return AxisOperator(a=a, at=sp.csr_matrix(dense.T), gram=sp.csr_matrix(gram_dense), chol=chol)


def _along(x: np.ndarray, axis: int, fn: Any) -> np.ndarray:
    """Apply ``fn`` (``(n, k) -> (m, k)``) to ``x`` along ``axis``."""
    moved = np.moveaxis(x, axis, 0)
    flat = moved.reshape(moved.shape[0], -1)
    out = np.asarray(fn(flat))
    return np.moveaxis(out.reshape(out.shape[0], *moved.shape[1:]), 0, axis)


# ----------------------------------------------------------------------------- the 2-D operator


class Operator:
    """``D`` for HR images of ``(h, w)`` px: ``down`` = D, ``adjoint`` = D^T, ``pinv`` = D^+."""

    def __init__(self, deg: Degradation, hr_shape: tuple[int, int]) -> None:
        h, w = (int(v) for v in hr_shape)
        s = deg.scale
        if h % s or w % s or h < s or w < s:
            raise ValueError(f"HR size {h}x{w} is not a positive multiple of the scale {s}")
        self.deg = deg
        self.hr_shape = (h, w)
        self.lr_shape = (h // s, w // s)
        # gaussian_blur reflects when the image is larger than the kernel radius, else replicates
        reflect = deg.kind == "bicubic" or min(h, w) > _radius(deg)
        self.rows = axis_operator(deg, h, reflect)
        self.cols = axis_operator(deg, w, reflect)

    def down(self, x: np.ndarray) -> np.ndarray:
        """``D x`` for ``(..., h, w)`` -> ``(..., h/s, w/s)`` (float64)."""
        y = _along(np.asarray(x, np.float64), -1, self.cols.a.dot)
        return _along(y, -2, self.rows.a.dot)

    def adjoint(self, y: np.ndarray) -> np.ndarray:
        """``D^T y`` for ``(..., h/s, w/s)`` -> ``(..., h, w)``."""
        x = _along(np.asarray(y, np.float64), -1, self.cols.at.dot)
        return _along(x, -2, self.rows.at.dot)

    def gram_solve(self, y: np.ndarray) -> np.ndarray:
        """``(D D^T)^{-1} y`` (two banded solves)."""
        z = _along(np.asarray(y, np.float64), -1, self.cols.solve)
        return _along(z, -2, self.rows.solve)

    def gram(self, y: np.ndarray) -> np.ndarray:
        """``D D^T y``."""
        z = _along(np.asarray(y, np.float64), -1, self.cols.gram.dot)
        return _along(z, -2, self.rows.gram.dot)

    def pinv(self, y: np.ndarray) -> np.ndarray:
        """``D^+ y = D^T (D D^T)^{-1} y``: the minimum-norm HR image whose degradation is ``y``."""
        return self.adjoint(self.gram_solve(y))


@lru_cache(maxsize=32)
def operator(deg: Degradation, hr_shape: tuple[int, int]) -> Operator:
    return Operator(deg, hr_shape)


def _crop(x: np.ndarray, scale: int) -> np.ndarray:
    h, w = x.shape[-2:]
    return x[..., : h - h % scale, : w - w % scale]


def downsample(x: np.ndarray, deg: Degradation) -> np.ndarray:
    """``D x`` (cropped to a multiple of the scale first, as the degradations do), float64."""
    x = _crop(np.asarray(x), deg.scale)
    return operator(deg, tuple(x.shape[-2:])).down(x)


def _check_pair(sr: np.ndarray, lr: np.ndarray, scale: int) -> None:
    if sr.shape[:-2] != lr.shape[:-2] or sr.shape[-2] != lr.shape[-2] * scale or \
            sr.shape[-1] != lr.shape[-1] * scale:
        raise ValueError(f"SR {sr.shape} is not LR {lr.shape} upscaled by {scale}")


def _masked_solve(op: Operator, rhs: np.ndarray, valid: np.ndarray, tol: float = 1e-20,
                  max_iter: int = 500) -> np.ndarray:
    """Solve ``M (D D^T) M lam = M rhs`` on valid entries (``lam`` = 0 elsewhere) by conjugate
    gradients, every leading index an independent system. ``D D^T`` is well conditioned (its
    per-axis factors have condition ~2), so this converges in a few dozen iterations."""
    mask = valid.astype(np.float64)
    b = rhs * mask
    lead = b.shape[:-2]
    axes = (-2, -1)
    lam = np.zeros_like(b)
    r = b.copy()
    p = r.copy()
    rr = (r * r).sum(axes)
    stop = tol * np.maximum((b * b).sum(axes), 1e-300)
    for _ in range(max_iter):
        if np.all(rr <= stop):
            break
        q = op.gram(p) * mask
        pq = (p * q).sum(axes)
        alpha = np.where(pq > 0, rr / np.where(pq > 0, pq, 1.0), 0.0).reshape(*lead, 1, 1)
        lam += alpha * p
        r -= alpha * q
        rr_new = (r * r).sum(axes)
        beta = np.where(rr > 0, rr_new / np.where(rr > 0, rr, 1.0), 0.0).reshape(*lead, 1, 1)
        p = r + beta * p
        rr = rr_new
    return lam


def project(sr: np.ndarray, lr: np.ndarray, deg: Degradation, valid: np.ndarray | None = None,
            bounds: tuple[float, float] | None = None, rounds: int = 30, tol: float = 0.25) -> np.ndarray:
    """The image closest to ``sr`` (least squares) whose degradation equals ``lr``.

    ``sr`` ``(..., H, W)``, ``lr`` ``(..., H/s, W/s)``. ``valid`` (same shape as ``lr``, True =
    valid) keeps the constraint on valid LR pixels only. ``bounds`` (lo, hi) alternates the
    projection with clipping to the value range (projections onto convex sets) until no value
    leaves the range by more than ``tol`` (a quarter of an integer step by default) or ``rounds``
    projections were made, and ends with a clip, so integer outputs are not pushed out of range;
    the remaining inconsistency is then only where the range cannot (or barely can) hold a
    consistent image, e.g. next to saturated pixels. Returns float64.
    """
    sr64 = np.asarray(sr, np.float64)
    lr64 = np.asarray(lr, np.float64)
    _check_pair(sr64, lr64, deg.scale)
    op = operator(deg, tuple(sr64.shape[-2:]))
    full = valid is None or bool(np.all(valid))

    def once(x: np.ndarray) -> np.ndarray:
        resid = lr64 - op.down(x)
        if full:
            return x + op.pinv(resid)
        return x + op.adjoint(_masked_solve(op, resid, np.broadcast_to(valid, resid.shape)))

    out = once(sr64)
    if bounds is not None:
        lo, hi = bounds
        for _ in range(max(0, rounds - 1)):
            if out.min() >= lo - tol and out.max() <= hi + tol:
                break
            out = once(np.clip(out, lo, hi))
        out = np.clip(out, lo, hi)
    return out


def supported(sr: np.ndarray, deg: Degradation) -> np.ndarray:
    """``D^+ D sr``: the component of ``sr`` that its own LR image determines (float64)."""
    sr64 = np.asarray(sr, np.float64)
    op = operator(deg, tuple(sr64.shape[-2:]))
    return op.pinv(op.down(sr64))


def consistency_rmse(sr: np.ndarray, lr: np.ndarray, deg: Degradation, border: int = 0,
                     valid: np.ndarray | None = None) -> float:
    """RMSE of ``D(sr) - lr`` over (valid) LR pixels, ``border`` LR px excluded on each side.

    Non-finite values of ``sr`` (nodata) are excluded too: they make the LR pixels they touch NaN.
    """
    sr64 = np.asarray(sr, np.float64)
    lr64 = np.asarray(lr, np.float64)
    _check_pair(sr64, lr64, deg.scale)
    diff = operator(deg, tuple(sr64.shape[-2:])).down(sr64) - lr64
    keep = np.isfinite(diff)
    if valid is not None:
        keep &= np.broadcast_to(valid, diff.shape)
    if border > 0:
        edge = np.zeros(diff.shape[-2:], bool)
        edge[border:-border, border:-border] = True
        keep &= edge
    return float(np.sqrt(np.mean(diff[keep] ** 2))) if keep.any() else float("nan")
