"""The Wald protocol for guided sharpening: ``wald_evaluate``.

Guide and low-res bands are both degraded by the ratio (``satsr.ops.filters.wald_degrade``), each model
sharpens the degraded pair (``satsr.sharpen.sharpen_arrays``) and is scored against the original low-res
bands: per-band RMSE and PSNR, ERGAS and SAM, bicubic in the same run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from satsr import metrics
from satsr.errors import InputError
from satsr.ops.filters import wald_degrade
from satsr.sharpen import check_counts, load_guided, ratio_of, sharpen_arrays


def quality(pred: np.ndarray, ref: np.ndarray, ratio: int, peak: float) -> dict[str, Any]:
    """Per-band RMSE and PSNR, ERGAS and SAM (degrees) of ``pred`` against ``ref`` (both ``(c, H, W)``).

    ``satsr.metrics`` does the arithmetic; values are rounded for reports.
    """
    p, t = pred.astype(np.float64), ref.astype(np.float64)
    rmse = np.asarray(metrics.rmse(p, t, per_band=True), np.float64)
    psnr = np.asarray(metrics.psnr(p, t, data_range=peak, per_band=True), np.float64)
    return {
        "rmse": [round(float(v), 3) for v in rmse],
        "rmse_mean": round(float(rmse.mean()), 3),
        "psnr": [round(float(v), 3) for v in psnr],
        "psnr_mean": round(float(psnr.mean()), 3),
        "ergas": round(float(metrics.ergas(p, t, scale=ratio)), 4),
        "sam": round(float(metrics.sam(p, t)), 4) if t.shape[0] > 1 else None,
    }


def wald_evaluate(guide: np.ndarray, lowres: np.ndarray, models: Sequence[str | Any], *, peak: float = 10000.0,
                  device: str = "cpu", weights: str | os.PathLike[str] | None = None,
                  keep: Callable[[str, np.ndarray, np.ndarray, np.ndarray], None] | None = None) -> dict[str, Any]:
    """The Wald protocol on arrays: returns ``{"ratio", "shape", "methods": {name: quality}}``.

    Both inputs are degraded by the ratio (``wald_degrade``, float64), the low-res bands cropped to a
    multiple of the ratio first; each model sharpens the degraded pair and is scored against the
    original low-res bands (float output, no rounding, no border excluded). ``bicubic`` always runs.
    ``keep`` is called per model with its label, its prediction, the reference and the degraded
    low-res input it sharpened (e.g. for figures).
    """
    ratio = ratio_of(guide.shape[-2:], lowres.shape[-2:], "wald_evaluate")
    h, w = lowres.shape[-2] // ratio * ratio, lowres.shape[-1] // ratio * ratio
    if h < 2 * ratio or w < 2 * ratio:
        raise InputError(f"the low-res bands ({lowres.shape[-1]}x{lowres.shape[-2]} px) are too small for the "
                         f"Wald protocol at ratio {ratio}")
    ref = lowres[:, :h, :w].astype(np.float64)
    g = guide[:, :h * ratio, :w * ratio].astype(np.float64)
    g_lr = wald_degrade(torch.from_numpy(g), ratio).numpy()
    lo_lr = wald_degrade(torch.from_numpy(ref), ratio).numpy()
    names = ["bicubic", *[m for m in models if m != "bicubic"]]
    results: dict[str, Any] = {}
    for m in names:
        net = load_guided(m, ratio, device=device, weights=weights if m not in ("bicubic", "hpi") else None)
        check_counts(net, g_lr.shape[0], lo_lr.shape[0], Path("guide"), Path("lowres"))
        pred = sharpen_arrays(g_lr.astype(np.float32), lo_lr.astype(np.float32), net)
        label = m if isinstance(m, str) else net.name
        results[label] = quality(pred, ref, ratio, peak)
        if keep is not None:
            keep(label, pred, ref, lo_lr)
    base = results["bicubic"]["rmse_mean"]
    for v in results.values():
        v["rmse_gain_vs_bicubic_pct"] = round(100 * (1 - v["rmse_mean"] / base), 2) if base > 0 else 0.0
    return {"ratio": ratio, "lowres_shape": [int(s) for s in ref.shape], "methods": results}
