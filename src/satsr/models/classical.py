"""Classical upscalers: nearest, bilinear, bicubic, lanczos (MATLAB ``imresize`` kernels).

They implement the same ``Upscaler`` contract as the networks, so they are the baselines of every
comparison and the default when no trained weights exist. Resampling is separable with symmetric
borders (``satsr.ops.resize.imresize``); ``margin`` is the kernel's reach in input pixels, enough for
tiled output to equal whole-image output.
"""

from __future__ import annotations

from collections.abc import Callable

from satsr.arrays import Array
from satsr.models.base import Upscaler
from satsr.models.registry import register
from satsr.ops.resize import imresize

SCALES = tuple(range(2, 9))

# Input pixels of context each kernel needs on each side (support radius, rounded up, plus one).
MARGINS = {"nearest": 1, "bilinear": 2, "bicubic": 3, "lanczos": 4}


class ResizeUpscaler(Upscaler):
    """Upscales ``(bands, h, w)`` by an integer factor with one interpolation kernel."""

    scales = SCALES
    bands = None

    def __init__(self, kernel: str, scale: int) -> None:
        if kernel not in MARGINS:
            raise ValueError(f"unknown kernel {kernel!r}")
        self.name = kernel
        self.kernel = kernel
        self.scale = int(scale)
        self.margin = MARGINS[kernel]

    def __call__(self, x: Array) -> Array:
        if x.ndim != 3:
            raise ValueError(f"expected (bands, h, w), got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        return imresize(x, out_hw=(h * self.scale, w * self.scale), kernel=self.kernel)


DESCRIPTIONS = {
    "nearest": "nearest neighbour (pixel replication)",
    "bilinear": "bilinear interpolation (triangle kernel)",
    "bicubic": "bicubic interpolation, MATLAB kernel (a = -0.5)",
    "lanczos": "Lanczos-3 windowed sinc interpolation",
}


def _factory(kernel: str) -> Callable[..., ResizeUpscaler]:
    def build(scale: int, **_: object) -> ResizeUpscaler:
        return ResizeUpscaler(kernel, scale)

    return build


for _kernel, _text in DESCRIPTIONS.items():
    register(_kernel, kind="sisr", neural=False, scales=SCALES, margin=MARGINS[_kernel], description=_text)(
        _factory(_kernel))
