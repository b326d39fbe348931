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
from satsr.ops.spans import Scale, as_scale, out_index

SCALES = tuple(range(2, 9))

# Input pixels of context each kernel needs on each side (support radius, rounded up, plus one).
MARGINS = {"nearest": 1, "bilinear": 2, "bicubic": 3, "lanczos": 4}


class ResizeUpscaler(Upscaler):
    """Upscales ``(bands, h, w)`` by an integer factor with one interpolation kernel."""

    scales = SCALES
    bands = None
    # working memory of one call per output pixel and band, the output included: the output, the
    # half-resized intermediate, the input's private and mirrored copies; measured 4.6-12.5 B in float32,
    # 9-25 B in float64, the most for small windows at x2 (tests/test_tile_memory.py)
    bytes_per_pixel = 26.0
    # tiles past this size (input px) make no kernel faster: per tile it is a few array calls, and the
    # 32 px context adds under 20 % of cheap work, so ``choose_tile`` stops there and a whole scene runs in
    # less memory (BENCHMARKS.md, issue 18: 10000 x 10000 x2 under 1 GB at full speed)
    ample_tile = 768

    def __init__(self, kernel: str, scale: Scale) -> None:
        if kernel not in MARGINS:
            raise ValueError(f"unknown kernel {kernel!r}")
        self.name = kernel
        self.kernel = kernel
        self.scale = as_scale(scale)
        self.margin = MARGINS[kernel]

    def __call__(self, x: Array) -> Array:
        if x.ndim != 3:
            raise ValueError(f"expected (bands, h, w), got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        if isinstance(self.scale, int):
            return imresize(x, out_hw=(h * self.scale, w * self.scale), kernel=self.kernel)
        return self.call_sized(x, None, (out_index(h, self.scale), out_index(w, self.scale)))

    def call_sized(self, x: Array, valid: Array | None, out_hw: tuple[int, int]) -> Array:
        """Any scale: the kernel evaluated on the whole image's grid (``map_scale``), so windows agree."""
        return imresize(x, out_hw=out_hw, kernel=self.kernel, map_scale=float(self.scale))


DESCRIPTIONS = {
    "nearest": "nearest neighbour (pixel replication)",
    "bilinear": "bilinear interpolation (triangle kernel)",
    "bicubic": "bicubic interpolation, MATLAB kernel (a = -0.5)",
    "lanczos": "Lanczos-3 windowed sinc interpolation",
}


def _factory(kernel: str) -> Callable[..., ResizeUpscaler]:
    def build(scale: Scale, **_: object) -> ResizeUpscaler:
        return ResizeUpscaler(kernel, scale)

    return build


for _kernel, _text in DESCRIPTIONS.items():
    register(_kernel, kind="sisr", neural=False, scales=SCALES, margin=MARGINS[_kernel], description=_text,
             continuous=(1.0, 8.0))(_factory(_kernel))
