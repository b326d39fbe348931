"""Per-pixel trust maps and the wrapper that runs a model with them through the tiling engine.

* Uncertainty: the spread (population standard deviation, in data units) of the prediction under
  the 8 flips/rotations of the input (test-time augmentation). A model that truly understood the
  scene would give the same answer for a rotated view; where the 8 answers disagree, the output
  is a guess. Classical interpolators are exactly equivariant, so their map is zero.
* Hallucination: the share of local detail energy that the LR image cannot support. With ``D`` the
  model's degradation, ``p = D^+ D sr`` is the part of ``sr`` its own LR image determines and
  ``n = sr - p`` the part the sensor could not have seen at LR resolution (the null space of ``D``).
  With ``G`` a Gaussian window of ``scale`` HR px (one LR pixel's footprint),

      h = G[n^2] / (G[n^2] + G[(p - G[p])^2] + floor^2)        in [0, 1)

  0: all local detail is backed by the LR; 0.5: as much invented detail as supported detail;
  near 1: detail painted where the LR is flat. ``floor`` (data units, RMS) is detail too faint to
  matter (the noise/quantisation level), so flat areas read 0 rather than 0/0.

``TrustUpscaler`` wraps any single-image ``Upscaler``: optionally projects its output onto the LR
(``satsr.trust.operators.project``) and appends the maps as extra band groups, so
``satsr.tiling.run_tiled`` computes everything per tile with the tile's context, blended like the
image itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from satsr.models.base import FitProgress, SingleImageModel, Upscaler
from satsr.ops.geometry import dihedral, undo_dihedral
from satsr.trust.operators import Degradation, degradation_for, project, supported

# Extra LR px of context around a tile for the projection and maps: the correction D^+ r decays
# by ~10x per LR px (bicubic x4, faster at x2), so 16 px keep tiled == whole to ~1e-8 of the signal.
TRUST_CONTEXT = 16


def tta_predictions(upscaler: SingleImageModel, x: np.ndarray, transforms: Sequence[int] = range(8)) -> np.ndarray:
    """``(len(transforms), C, H, W)``: the model's prediction (data units, float64) for each transformed
    view, mapped back."""
    return np.stack([undo_dihedral(upscaler.apply(dihedral(x, k), None, np.float64), k) for k in transforms])


def tta_std(upscaler: SingleImageModel, x: np.ndarray) -> np.ndarray:
    """Per-pixel standard deviation of the 8 test-time-augmented predictions (data units)."""
    return tta_predictions(upscaler, x).std(0)


def local_mean(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian local mean over the last two axes (mirror borders, 3 sigma)."""
    sig = [0.0] * (x.ndim - 2) + [sigma, sigma]
    return ndimage.gaussian_filter(np.asarray(x, np.float64), sig, mode="mirror", truncate=3.0)


def hallucination_map(sr: np.ndarray, deg: Degradation, floor: float) -> np.ndarray:
    """Per-pixel share (0..1) of local detail energy in ``sr`` that its LR cannot support (module doc)."""
    sr64 = np.asarray(sr, np.float64)
    p = supported(sr64, deg)
    n = sr64 - p
    sigma = float(deg.scale)
    e_null = local_mean(n * n, sigma)
    detail = p - local_mean(p, sigma)
    e_supp = local_mean(detail * detail, sigma)
    return e_null / (e_null + e_supp + float(floor) ** 2)


def default_floor(dtype: str | np.dtype | None, value_scale: float = 1.0) -> float:
    """Detail floor (data units) for the hallucination map: 1 DN for integer data (the
    quantisation step), else 1e-3 of the model's value scale (e.g. 0.001 reflectance)."""
    if dtype is not None and np.issubdtype(np.dtype(dtype), np.integer):
        return 1.0
    return 1e-3 * float(value_scale or 1.0)


@dataclass
class TrustOptions:
    """What ``TrustUpscaler`` adds to a model's output."""

    consistency: bool = False
    uncertainty: bool = False
    hallucination: bool = False
    degradation: str | None = None  # None/"auto": from the model card
    bounds: tuple[float, float] | None = None  # output value range (integer outputs), data units
    floor: float = 1.0  # hallucination detail floor, data units

    @property
    def any(self) -> bool:
        return self.consistency or self.uncertainty or self.hallucination


class TrustUpscaler(Upscaler):
    """An ``Upscaler`` plus LR-consistency and trust maps, for ``run_tiled``.

    Works in data units (``value_scale`` is 1: the wrapped model's own scaling is applied inside),
    and returns ``output_groups`` images stacked on the band axis: the (projected) image, then the
    uncertainty map if asked, then the hallucination map if asked.
    """

    def __init__(self, base: SingleImageModel, options: TrustOptions) -> None:
        self.base = base
        self.options = options
        self.name = base.name
        self.scale = int(base.scale)
        self.scales = (self.scale,)
        self.bands = base.bands
        self.card = base.card
        self.deg = degradation_for(base, options.degradation)
        extra = TRUST_CONTEXT if (options.consistency or options.hallucination) else 0
        self.margin = int(base.margin) + extra
        self.output_groups = 1 + int(options.uncertainty) + int(options.hallucination)

    @property
    def value_scale(self) -> float:
        return 1.0

    def describe(self) -> str:
        parts = [f"{self.name} x{self.scale}"]
        if self.options.consistency:
            parts.append(f"LR-consistent ({self.deg.describe()})")
        return ", ".join(parts)

    def __call__(self, x: Any) -> np.ndarray:
        return self.call_masked(np.asarray(x), None)

    def memory_bytes(self, bands: int, height: int, width: int) -> int:
        """The wrapped model's call, plus the float64 predictions kept for the maps (8 with uncertainty),
        their projections and the maps."""
        out_px = height * self.scale * width * self.scale
        members = 8 if self.options.uncertainty else 1
        return int(self.base.memory_bytes(bands, height, width)) + (2 * members + 4) * 8 * bands * out_px

    def fit(self, x: np.ndarray | None, valid: np.ndarray | None = None,
            progress: FitProgress | None = None) -> None:
        """The wrapped model's scene-level fit: its maps then describe the one fitted model."""
        self.base.fit(x, valid, progress)

    def call_masked(self, x: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
        """Image (+ maps) for one input window ``x`` ``(C, h, w)`` in data units."""
        opt = self.options
        x64 = np.asarray(x, np.float64)
        members = tta_predictions(self.base, x64, range(8) if opt.uncertainty else (0,))
        if opt.consistency:
            members = np.stack([project(m, x64, self.deg, valid=valid, bounds=opt.bounds) for m in members])
        sr = members[0]
        outs = [sr]
        if opt.uncertainty:
            outs.append(members.std(0))
        if opt.hallucination:
            outs.append(hallucination_map(sr, self.deg, opt.floor))
        return np.concatenate(outs, 0).astype(np.float32)


@dataclass
class TrustResult:
    """``trust_upscale`` output, float32 arrays ``(C, H, W)``, NaN where the input was nodata."""

    image: np.ndarray
    uncertainty: np.ndarray | None = None
    hallucination: np.ndarray | None = None


def trust_upscale(lr: np.ndarray, upscaler: Any, options: TrustOptions, *, tile: int | None = 512,
                  overlap: int = 32, nodata: float | None = None) -> TrustResult:
    """Run ``upscaler`` with ``options`` on a ``(C, h, w)`` array through the tiling engine."""
    from satsr.tiling import ArraySink, ArraySource, SplitSink, run_tiled

    wrapped = TrustUpscaler(upscaler, options)
    c, h, w = lr.shape
    s = wrapped.scale
    sinks = [ArraySink(c, h * s, w * s) for _ in range(wrapped.output_groups)]
    run_tiled(ArraySource(lr, nodata), wrapped, SplitSink(sinks, c), tile=tile, overlap=overlap)
    values = [k.values for k in sinks]
    result = TrustResult(image=values.pop(0))
    if options.uncertainty:
        result.uncertainty = values.pop(0)
    if options.hallucination:
        result.hallucination = values.pop(0)
    return result
