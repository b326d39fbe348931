"""Point-spread functions and the Wald protocol: Gaussian blur (MTF), block-centre sampling, noise.

``wald_degrade`` is the multispectral convention (a Gaussian whose response at the low-res Nyquist
frequency is 0.3, sampled at block centres), used to make training pairs, in the Wald evaluation and
inside the classical guided methods.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import torch

from satsr.arrays import Array, like_input, to_tensor
from satsr.ops.resize import crop_to_multiple, downsample_bicubic, imresize

DEGRADATIONS = ("bicubic", "wald")


def gaussian_kernel1d(sigma: float, radius: int | None = None, shift: float = 0.0) -> np.ndarray:
    """Normalised Gaussian taps at offsets ``-radius..radius``, evaluated at ``offset + shift``.

    ``shift=0.5`` gives the kernel whose output at pixel ``i`` is the blurred signal at ``i - 0.5``
    (between two pixels), used by ``wald_degrade`` for even ratios.
    """
    if sigma <= 0:
        return np.ones(1)
    radius = int(math.ceil(3 * sigma + abs(shift))) if radius is None else radius
    x = np.arange(-radius, radius + 1, dtype=np.float64) + shift
    k = np.exp(-0.5 * (x / sigma) ** 2)
    k[np.abs(x) > radius - abs(shift) + 1e-9] = 0.0  # keep the taps symmetric about the shifted centre
    return k / k.sum()


def gaussian_blur(x: Array, sigma: float, shift: float = 0.0) -> Array:
    """Separable Gaussian blur of ``(..., H, W)`` with reflected borders (numpy or torch).

    float64 input stays float64 (other types compute in float32). ``shift`` (pixels, both axes)
    evaluates the blurred image at ``i - shift`` instead of ``i``; see ``gaussian_kernel1d``.
    """
    if sigma <= 0:
        return x
    t = to_tensor(x) if not isinstance(x, torch.Tensor) else x
    dtype = torch.float64 if t.dtype == torch.float64 else torch.float32
    k = torch.from_numpy(gaussian_kernel1d(sigma, shift=shift)).to(t.device, dtype)
    r = (k.numel() - 1) // 2
    shape = t.shape
    y = t.reshape(-1, 1, *shape[-2:]).to(dtype)
    pad_mode = "reflect" if min(shape[-2:]) > r else "replicate"
    y = torch.nn.functional.pad(y, (r, r, r, r), mode=pad_mode)
    y = torch.nn.functional.conv2d(y, k.view(1, 1, 1, -1))
    y = torch.nn.functional.conv2d(y, k.view(1, 1, -1, 1))
    y = y.reshape(shape)
    return y if isinstance(x, torch.Tensor) else like_input(y, x, keep_float64=True)


def wald_sigma(ratio: int, nyquist_gain: float = 0.3) -> float:
    """Sigma (high-res px) of the Gaussian whose response at the low-res Nyquist frequency is ``gain``.

    A Gaussian's frequency response is exp(-2 pi^2 sigma^2 f^2); at f = 1 / (2 r) this equals the
    gain when sigma = r / pi * sqrt(-2 ln gain).
    """
    return ratio / math.pi * math.sqrt(-2.0 * math.log(nyquist_gain))


def wald_degrade(x: Array, ratio: int, nyquist_gain: float = 0.3) -> Array:
    """Wald-protocol degradation: Gaussian MTF blur, then sample the centre of each r x r block.

    The Gaussian's response at the low-res Nyquist frequency is ``nyquist_gain`` (``wald_sigma``).
    For even ``r`` the block centre falls between pixels: the blur is evaluated there directly
    (Gaussian taps at half-pixel offsets). Averaging the four central samples instead would add a
    2-tap box filter, lowering the gain at Nyquist to 0.3 * cos(pi / 2r) (0.21 at r = 2).
    float64 input is degraded in float64.
    """
    x = crop_to_multiple(x, ratio)
    c = ratio // 2
    shift = 0.5 if ratio % 2 == 0 else 0.0  # even r: value at c - 0.5 = (r - 1) / 2, the centre
    blurred = gaussian_blur(x, wald_sigma(ratio, nyquist_gain), shift=shift)
    return blurred[..., c::ratio, c::ratio]


def degrade(hr: np.ndarray, scale: int | Fraction, kind: str = "bicubic",
            eight_bit: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``hr`` cropped to a multiple of ``scale`` and its low-res version, both float32.

    ``bicubic``: MATLAB anti-aliased bicubic (the SR benchmark convention); ``wald``: the Wald
    protocol's Gaussian MTF (multispectral sensors). 8-bit data: the LR is rounded and clipped to
    0..255 as a saved LR image would be. A fractional scale p/q (bicubic only) crops the HR to a
    multiple of p, so the LR (HR x q / p) has whole pixels.
    """
    if kind not in DEGRADATIONS:
        raise ValueError(f"unknown degradation {kind!r}; use {' or '.join(DEGRADATIONS)}")
    if not isinstance(scale, int):
        if kind != "bicubic":
            raise ValueError(f"the {kind} degradation needs an integer scale, not {float(scale):g}")
        p, q = scale.numerator, scale.denominator
        hr_c = np.asarray(crop_to_multiple(hr, p), np.float32)
        lr = np.asarray(imresize(hr_c, (hr_c.shape[-2] * q // p, hr_c.shape[-1] * q // p), kernel="bicubic"),
                        np.float32)
        return hr_c, (np.clip(np.round(lr), 0, 255) if eight_bit else lr)
    hr_c = np.asarray(crop_to_multiple(hr, scale), np.float32)
    if kind == "wald":
        lr = np.asarray(wald_degrade(hr_c.astype(np.float64), scale), np.float32)
    else:
        lr = np.asarray(downsample_bicubic(hr_c, scale), np.float32)
    if eight_bit:
        lr = np.clip(np.round(lr), 0, 255)
    return hr_c, lr


def add_noise(x: torch.Tensor, sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Additive white Gaussian noise with standard deviation ``sigma`` (in the array's units)."""
    if sigma <= 0:
        return x
    return x + sigma * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
