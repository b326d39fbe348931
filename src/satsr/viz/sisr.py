"""Comparison figures for single-image SR: LR, bicubic, each model (optionally with its trust maps)
and HR on the same zoomed crop, with PSNR/SSIM in the titles (``compare_sisr``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from satsr import metrics
from satsr.errors import InputError, OptionError
from satsr.evaluate import degrade_for_eval, is_8bit, sisr_upscaler, super_resolve
from satsr.io.image import read_image
from satsr.models.base import SingleImageModel
from satsr.trust import TrustOptions, TrustUpscaler
from satsr.viz.figures import Panel, comparison_figure, crop_box, display_bands, stretch_limits


def _model_panels(lr: np.ndarray, scale: int, models: Sequence[str | Any], eight_bit: bool,
                  device: str) -> list[tuple[str, np.ndarray, Any]]:
    """Bicubic then each requested model on ``lr`` (no duplicates): (label, output in data units, model)."""
    names: list[str | Any] = ["bicubic"]
    for m in models:
        if not (isinstance(m, str) and m in names):
            names.append(m)
    out = []
    for m in names:
        label, up = sisr_upscaler(m, scale, lr.shape[0], device)
        out.append((label, super_resolve(up, lr, eight_bit), up))
    return out


def trust_panels(label: str, up: SingleImageModel, lr: np.ndarray, unc_max: float | None = None) -> list[Panel]:
    """Uncertainty (8-flip spread, DN) and hallucination (0..1) panels of model ``up`` on ``lr``
    (``satsr.trust``), band means shown as heat maps; ``unc_max`` fixes the uncertainty colour range.
    The hallucination floor is 1 DN, or 0.001 for data in 0..2 (reflectance)."""
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
    if (hr is None) == (lr is None):
        raise OptionError("give either an HR image (it is degraded for the comparison) or --lr, not both")
    src = Path(hr if hr is not None else lr)  # type: ignore[arg-type]
    img = read_image(src)
    need = 8 * scale if hr is not None else 8
    if min(img.shape[-2:]) < need:
        raise InputError(f"{src}: {img.shape[-1]}x{img.shape[-2]} px is too small for a x{scale} comparison; give "
                         f"an image of at least {need} px")
    eight = is_8bit(src)
    sel = display_bands(img.shape[0], bands)
    img = img[sel]
    # Region of interest on the LR grid: the zoom square (in output px) plus context. Only it is
    # degraded and super-resolved; the display stretch still comes from the whole scene.
    lr_h, lr_w = (img.shape[-2] // scale, img.shape[-1] // scale) if hr is not None else img.shape[-2:]
    r, c, s, _ = crop_box((lr_h * scale, lr_w * scale), crop, zoom)
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


__all__ = ["compare_sisr", "trust_panels"]
