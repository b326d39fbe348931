"""Side-by-side figures of panels that were already computed (any source: single-image models,
fusers, trust maps), all shown with one display stretch taken from a reference panel so brightness
differences are real. Matplotlib runs on the Agg backend (no display needed) and writes the PNG.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from satsr.errors import OptionError
from satsr.io.files import atomic_path


@dataclass
class Panel:
    """One image of a comparison: ``image`` ``(bands, H, W)`` in data units, shown under ``title``.

    ``metrics`` (e.g. ``{"PSNR": 27.1, "SSIM": 0.81}``) are appended to the title. ``upscale``
    > 1 enlarges the image by pixel replication first (an LR panel shown on the HR grid).
    """

    title: str
    image: np.ndarray
    metrics: dict[str, float] = field(default_factory=dict)
    upscale: int = 1
    cmap: str | None = None  # a per-pixel map: its band mean shown with this colormap over ``vrange``
    vrange: tuple[float, float] = (0.0, 1.0)

    def on_grid(self) -> np.ndarray:
        img = np.asarray(self.image, np.float64)
        if img.ndim == 2:
            img = img[None]
        if self.upscale > 1:
            img = np.repeat(np.repeat(img, self.upscale, -2), self.upscale, -1)
        return img


def display_bands(count: int, bands: Sequence[int] | None = None) -> list[int]:
    """0-based bands to show: the given 1-based ones (1 or 3), else RGB = first three, else band 1."""
    if bands is not None:
        chosen = [int(b) for b in bands]
        if len(chosen) not in (1, 3):
            raise OptionError(f"--bands: give 1 band (grey) or 3 (red,green,blue), got {len(chosen)}")
        bad = [b for b in chosen if not 1 <= b <= count]
        if bad:
            raise OptionError(f"--bands: band {bad[0]} is out of range; the image has {count} bands")
        return [b - 1 for b in chosen]
    return [0, 1, 2] if count >= 3 else [0]


def stretch_limits(image: np.ndarray, percentiles: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray]:
    """Per-band display limits ``(lo, hi)``: the given percentiles of the finite values, or the
    8-bit range when ``percentiles`` is None. Pixels that are 0 in every band (the usual fill
    around a scene) are left out, so a black border does not wash the stretch out."""
    b = image.shape[0]
    if percentiles is None:
        return np.zeros(b), np.full(b, 255.0)
    lo, hi = np.empty(b), np.empty(b)
    data = (image != 0).any(0)
    for k in range(b):
        v = image[k][np.isfinite(image[k]) & data]
        lo[k], hi[k] = np.percentile(v, percentiles) if v.size else (0.0, 1.0)
        if hi[k] <= lo[k]:
            hi[k] = lo[k] + 1.0
    return lo, hi


def to_display(image: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``(bands, H, W)`` -> ``(H, W)`` or ``(H, W, 3)`` floats in 0..1 for ``imshow``."""
    out = (image - lo[:, None, None]) / (hi - lo)[:, None, None]
    out = np.clip(np.nan_to_num(out, nan=0.0), 0, 1)
    return out[0] if out.shape[0] == 1 else np.moveaxis(out, 0, -1)


def crop_box(shape: tuple[int, int], crop: Sequence[int] | None, size: int) -> tuple[int, int, int, int]:
    """``(row, col, height, width)`` of the zoom: given ``(row, col, size)`` or the centred square."""
    h, w = shape
    if crop is None:
        s = min(size, h, w)
        return (h - s) // 2, (w - s) // 2, s, s
    if len(crop) != 3:
        raise OptionError("--crop: give ROW,COL,SIZE in output (HR) pixels")
    r, c, s = (int(v) for v in crop)
    if s < 32 or r < 0 or c < 0 or r + s > h or c + s > w:
        raise OptionError(f"--crop {r},{c},{s}: must lie inside the {w}x{h} output and be at least 32 px")
    return r, c, s, s


def comparison_figure(panels: Sequence[Panel], out: str | os.PathLike[str] | BinaryIO,
                      crop: Sequence[int] | None = None,
                      zoom: int = 192, bands: Sequence[int] | None = None,
                      percentiles: tuple[float, float] | None = (2.0, 98.0), reference: int = -1,
                      title: str | None = None, dpi: int = 120,
                      limits: tuple[np.ndarray, np.ndarray] | None = None) -> Path | BinaryIO:
    """Draw ``panels`` side by side on the same crop and save a PNG (to a path, or to a binary stream).

    Panels must share the output grid (``on_grid()`` shape). ``crop`` is ``(row, col, size)`` in
    grid pixels (default: the centred ``zoom`` square); ``bands`` the 1-based display bands (1 or 3);
    ``percentiles`` the display stretch computed on panel ``reference`` (the last one, usually HR
    or the best estimate) and applied to all, or None to show 0..255 as is (8-bit data);
    ``limits`` (per displayed band ``lo``, ``hi``) overrides both, e.g. a stretch of the whole scene.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if not panels:
        raise ValueError("no panels to draw")
    grids = [p.on_grid() for p in panels]
    shape = grids[0].shape
    for p, g in zip(panels, grids, strict=True):
        if g.shape[-2:] != shape[-2:] or (g.shape[0] != shape[0] and p.cmap is None):
            raise ValueError(f"panel {p.title!r} is {g.shape}, the first panel {shape}")
    sel = display_bands(shape[0], bands)
    r, c, hh, ww = crop_box(shape[-2:], crop, zoom)
    crops = [g[:, r:r + hh, c:c + ww] if p.cmap else g[sel, r:r + hh, c:c + ww] for p, g in zip(panels, grids,
                                                                                             strict=True)]
    ref = reference % len(panels)
    if panels[ref].cmap is not None:  # the stretch comes from an image, never from a map
        ref = max(i for i, p in enumerate(panels) if p.cmap is None)
    lo, hi = limits if limits is not None else stretch_limits(crops[ref], percentiles)
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.6), squeeze=False)
    for ax, p, im in zip(axes[0], panels, crops, strict=True):
        if p.cmap is not None:
            ax.imshow(np.nan_to_num(im.mean(0)), cmap=p.cmap, vmin=p.vrange[0], vmax=p.vrange[1],
                      interpolation="nearest")
        else:
            disp = to_display(im, lo, hi)
            ax.imshow(disp, cmap="gray" if disp.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
        text = p.title
        if p.metrics:
            text += "\n" + "  ".join(f"{k} {v:.4g}" if abs(v) < 100 else f"{k} {v:.2f}" for k, v in p.metrics.items())
        ax.set_title(text, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
        fig.tight_layout(rect=(0, 0, 1, 0.92))
    else:
        fig.tight_layout()
    if hasattr(out, "write"):  # a stream, e.g. an HTML report's inline image
        fig.savefig(out, dpi=dpi, format="png")
        plt.close(fig)
        return out  # type: ignore[return-value]
    out_path = Path(out)  # type: ignore[arg-type]
    try:
        with atomic_path(out_path) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    finally:
        plt.close(fig)
    return out_path


__all__ = ["Panel", "comparison_figure", "display_bands", "stretch_limits", "to_display"]
