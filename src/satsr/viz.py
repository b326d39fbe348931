"""Comparison figures: LR, bicubic, models and HR side by side on the same zoomed crop.

``comparison_figure`` draws panels that were already computed (any source: SISR models, MISR fusers,
...), all shown with one display stretch taken from a reference panel so brightness differences are
real. ``compare_sisr`` makes the panels from an HR image (degraded to LR first, metrics against HR
in the titles) or from an LR image alone. Matplotlib runs on the Agg backend (no display needed).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from satsr.errors import OptionError


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


def _crop_box(shape: tuple[int, int], crop: Sequence[int] | None, size: int) -> tuple[int, int, int, int]:
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


def comparison_figure(panels: Sequence[Panel], out: str | os.PathLike[str], crop: Sequence[int] | None = None,
                      zoom: int = 192, bands: Sequence[int] | None = None,
                      percentiles: tuple[float, float] | None = (2.0, 98.0), reference: int = -1,
                      title: str | None = None, dpi: int = 120,
                      limits: tuple[np.ndarray, np.ndarray] | None = None) -> Path:
    """Draw ``panels`` side by side on the same crop and save a PNG.

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
    r, c, hh, ww = _crop_box(shape[-2:], crop, zoom)
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
    out_path = Path(out)
    fig.savefig(out_path, dpi=dpi)
    plt.close(fig)
    return out_path


def _model_panels(lr: np.ndarray, scale: int, models: Sequence[str | Any], eight_bit: bool,
                  device: str) -> list[tuple[str, np.ndarray, Any]]:
    """Bicubic then each requested model on ``lr`` (no duplicates): (label, output in data units, model)."""
    from satsr.evaluate import sisr_upscaler, super_resolve

    names: list[str | Any] = ["bicubic"]
    for m in models:
        if not (isinstance(m, str) and m in names):
            names.append(m)
    out = []
    for m in names:
        label, up = sisr_upscaler(m, scale, lr.shape[0], device, "compare")
        out.append((label, super_resolve(up, lr, eight_bit), up))
    return out


def trust_panels(label: str, up: Any, lr: np.ndarray, unc_max: float | None = None) -> list[Panel]:
    """Uncertainty (8-flip spread, DN) and hallucination (0..1) panels of model ``up`` on ``lr``
    (``satsr.trust``), band means shown as heat maps; ``unc_max`` fixes the uncertainty colour range.
    The hallucination floor is 1 DN, or 0.001 for data in 0..2 (reflectance)."""
    from satsr.trust import TrustOptions, TrustUpscaler

    floor = 1.0 if float(np.nanmax(lr)) > 2.0 else 1e-3
    options = TrustOptions(uncertainty=True, hallucination=True, floor=floor)
    maps = TrustUpscaler(up, options).call_masked(np.asarray(lr, np.float32), None)
    c = lr.shape[0]
    unc, hal = maps[c:2 * c], maps[2 * c:]
    top = unc_max if unc_max is not None else max(float(np.percentile(unc.mean(0), 99)), 1e-6)
    return [Panel(f"{label}: uncertainty (0-{top:.3g} DN)", unc, cmap="magma", vrange=(0.0, top)),
            Panel(f"{label}: hallucination (0-1)", hal, cmap="viridis", vrange=(0.0, 1.0))]


def compare_sisr(out: str | os.PathLike[str], hr: str | os.PathLike[str] | None = None,
                 lr: str | os.PathLike[str] | None = None, scale: int = 4, models: Sequence[str | Any] = (),
                 crop: Sequence[int] | None = None, zoom: int = 192, bands: Sequence[int] | None = None,
                 stretch: bool | None = None, device: str = "cpu", context: int = 16,
                 trust: bool = False) -> Path:
    """Comparison figure for single-image SR.

    With ``hr``: the HR image is degraded (MATLAB bicubic, as in ``satsr evaluate sisr``) and LR
    (nearest-upscaled), bicubic, the models and HR are shown with PSNR/SSIM against HR (``scale`` px
    border excluded). With ``lr`` only: LR, bicubic and the models, without metrics. Only the
    zoomed area plus ``context`` LR px around it is processed, so big rasters are cheap.
    ``stretch``: 2-98 % percentile stretch; default on for anything but 8-bit data. ``trust``
    adds each model's uncertainty and hallucination maps (``satsr.trust``) after its image, the
    uncertainty of all models on one colour scale.
    """
    from satsr import metrics
    from satsr.evaluate import degrade_for_eval, is_8bit, read_any_image

    if (hr is None) == (lr is None):
        raise OptionError("give either an HR image (it is degraded for the comparison) or --lr, not both")
    src = Path(hr if hr is not None else lr)  # type: ignore[arg-type]
    img = read_any_image(src)
    eight = is_8bit(src, img)
    sel = display_bands(img.shape[0], bands)
    img = img[sel]
    # Region of interest on the LR grid: the zoom square (in output px) plus context. Only it is
    # degraded and super-resolved; the display stretch still comes from the whole scene.
    lr_h, lr_w = (img.shape[-2] // scale, img.shape[-1] // scale) if hr is not None else img.shape[-2:]
    r, c, s, _ = _crop_box((lr_h * scale, lr_w * scale), crop, zoom)
    r0, c0 = max(0, r // scale - context), max(0, c // scale - context)
    r1 = min(lr_h, -(-(r + s) // scale) + context)
    c1 = min(lr_w, -(-(c + s) // scale) + context)
    if hr is not None:
        hr_roi, lr_roi = degrade_for_eval(img[:, r0 * scale:r1 * scale, c0 * scale:c1 * scale], scale, eight)
    else:
        hr_roi, lr_roi = None, img[:, r0:r1, c0:c1]
    ys, xs = r - r0 * scale, c - c0 * scale  # zoom square inside the ROI's output grid
    panels = [Panel(f"LR x1/{scale} (nearest)", lr_roi, upscale=scale)]
    peak = 255.0 if eight else (float(hr_roi.max()) if hr_roi is not None else 1.0)
    computed = _model_panels(lr_roi, scale, models, eight, device)
    maps: dict[str, list[Panel]] = {}
    if trust:
        maps = {label: trust_panels(label, up, lr_roi) for label, _, up in computed}
        top = max(float(np.percentile(p[0].image[:, ys:ys + s, xs:xs + s].mean(0), 99)) for p in maps.values())
        for panel_pair in maps.values():
            panel_pair[0].vrange = (0.0, max(top, 1e-6))
            panel_pair[0].title = panel_pair[0].title.split(" (")[0] + f" (0-{max(top, 1e-6):.3g} DN)"
    for label, sr, _ in computed:
        m: dict[str, float] = {}
        if hr_roi is not None:
            a = sr[:, ys:ys + s, xs:xs + s]
            b = hr_roi[:, ys:ys + s, xs:xs + s]
            m = {"PSNR": float(metrics.psnr(a, b, peak, border=scale)),
                 "SSIM": float(metrics.ssim(a, b, peak, border=scale))}
        panels.append(Panel(label, sr, m))
        panels.extend(maps.get(label, []))
    if hr_roi is not None:
        panels.append(Panel("HR", hr_roi))
    use_stretch = (not eight) if stretch is None else stretch
    # one stretch for the whole scene (not the zoom), so colours look as they do in a GIS
    limits = stretch_limits(img, (2.0, 98.0) if use_stretch else None)
    title = f"{src.name}  x{scale}" + ("" if hr is not None else "  (LR input, no reference)")
    return comparison_figure(panels, out, crop=(ys, xs, s), bands=None, limits=limits, title=title)


__all__ = ["Panel", "compare_sisr", "comparison_figure", "display_bands", "stretch_limits", "to_display",
           "trust_panels"]
