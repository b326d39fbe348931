"""Comparison figures for multi-image SR: the clearest LR frame, each fusion method and (PROBA-V
scenes with ground truth) the HR image, on the same zoomed crop with one display stretch.

Built on ``satsr.viz.figures.comparison_figure``; the stack is loaded like ``satsr fuse`` loads it (a PROBA-V
imgset folder, or co-located rasters with masks), so the figure shows exactly what fusion produced.
A method that also returns a per-pixel uncertainty (``piunet``) gets a second panel with it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from satsr import metrics
from satsr.errors import OptionError, OutputError
from satsr.fusion import build_fuser
from satsr.io.stack import Stack, load_stack
from satsr.viz.figures import Panel, comparison_figure

DEFAULT_METHODS = ("baseline", "shiftadd", "highresnet")


def fusion_panels(stack: Stack, methods: Sequence[str | Any], scale: int = 3, device: str = "cpu") -> list[Panel]:
    """Panels for ``stack`` (``satsr.io.stack.Stack``): clearest frame, each method, HR if known."""
    panels = [Panel("LR clearest frame (nearest)", stack.frames[0], upscale=scale)]
    for method in methods:
        fuser = build_fuser(method, scale, device)
        fused, sigma = fuser.apply(stack.frames, stack.masks, np.float64)
        label = method if isinstance(method, str) else fuser.name
        m: dict[str, float] = {}
        if stack.hr is not None and fused.shape[0] == 1:
            m = {"cPSNR": float(metrics.cpsnr(fused[0], stack.hr, stack.sm))}
        panels.append(Panel(label, fused, m))
        if sigma is not None:
            top = float(np.percentile(sigma, 99)) or 1.0
            panels.append(Panel(f"{label} uncertainty (DN, 0-{top:.0f})", sigma, cmap="magma", vrange=(0.0, top)))
    if stack.hr is not None:
        panels.append(Panel("HR (ground truth)", stack.hr[None]))
    return panels


def compare_misr(out: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]],
                 methods: Sequence[str | Any] = DEFAULT_METHODS, scale: int = 3,
                 masks: Sequence[str | os.PathLike[str]] | None = None, mask_spec: str | None = None,
                 clear_values: Sequence[float] | None = None, bands: Sequence[int] | None = None,
                 crop: Sequence[int] | None = None, zoom: int = 192, device: str = "cpu",
                 overwrite: bool = True) -> Path:
    """Fuse a stack with each method and save the side-by-side PNG (written atomically).

    The display stretch (2-98 %) comes from the last image panel (HR when known, else the last
    method), so brightness differences between panels are real.
    """
    out_path = Path(out)
    if out_path.suffix.lower() != ".png":
        raise OptionError(f"{out_path}: comparison figures are PNG; name the output *.png")
    if out_path.exists() and not overwrite:
        raise OutputError(f"{out_path}: exists; pass --overwrite to replace it")
    if not methods:
        raise OptionError("give at least one fusion method (--model)")
    stack = load_stack([Path(p) for p in inputs], masks=masks, mask_spec=mask_spec, clear_values=clear_values,
                       bands=bands)
    panels = fusion_panels(stack, methods, scale, device)
    name = stack.extra.get("imgset") if stack.kind == "probav" else Path(stack.names[0]).name
    title = f"x{scale} fusion of {len(stack.frames)} frames ({name})"
    return comparison_figure(panels, out_path, crop=crop, zoom=zoom, title=title)
