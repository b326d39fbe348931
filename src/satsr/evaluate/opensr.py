"""opensr-test metrics of single-image models on one HR raster degraded to LR: ``evaluate_opensr``.

The HR (e.g. a Sentinel-2 10 m crop) is degraded Wald-style (or bicubic), super-resolved and compared.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from satsr import metrics
from satsr.errors import InputError
from satsr.evaluate.common import sisr_upscaler, super_resolve
from satsr.io.raster import RasterReader
from satsr.masking import valid_mask
from satsr.trust import Degradation, consistency_rmse, downsample, project
from satsr.trust.opensr import opensr_metrics


@dataclass
class OpensrReport:
    """opensr-test metrics of each model on one HR raster (see ``evaluate_opensr``)."""

    hr: str
    scale: int
    degradation: str
    value_scale: float
    bands: list[int]
    rows: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_opensr(hr: str | os.PathLike[str], scale: int = 4, models: Sequence[str | Any] = (),
                    degradation: str = "wald", value_scale: float = 10000.0, bands: Sequence[int] | None = None,
                    consistency: bool = False, device: str = "cpu") -> OpensrReport:
    """opensr-test metrics (``satsr.trust.opensr``) of each model on one HR raster.

    The HR (e.g. a Sentinel-2 10 m crop, reflectance x ``value_scale``) is cropped to a multiple of
    ``scale`` and degraded (``"wald"``: Gaussian MTF, the Sentinel-2 convention, or ``"bicubic"``);
    the LR is kept in float (no rounding). Bicubic always runs first. ``consistency`` adds a
    ``<model>+consistency`` row per model with its output projected onto the LR using the same
    degradation. Each row also has ``consistency_rmse`` (data units) and PSNR (peak: HR maximum).
    """
    deg = Degradation(degradation, scale)
    with RasterReader(hr, bands=bands) as reader:
        chosen = list(reader.bands)
        raw = reader.read()
        valid = valid_mask(raw, reader.nodatavals)
        img = raw.astype(np.float64)
    if min(img.shape[-2:]) < 8 * scale:
        raise InputError(f"{hr}: {img.shape[-1]}x{img.shape[-2]} px is too small for x{scale} (the metrics need an "
                         f"LR of at least 8 px); give a reference of at least {8 * scale} px")
    if not valid.all():
        share = 100 * (1 - valid.mean())
        raise InputError(f"{hr}: {share:.1f} % of the reference is nodata; the opensr-test metrics need a complete "
                         "reference, so crop it to a fully valid area first")
    hr_c = img[..., : img.shape[-2] - img.shape[-2] % scale, : img.shape[-1] - img.shape[-1] % scale]
    lr = downsample(hr_c, deg)
    names: list[str | Any] = ["bicubic", *models]
    rows: list[dict[str, Any]] = []
    peak = float(hr_c.max())
    for m in names:
        label, up = sisr_upscaler(m, scale, lr.shape[0], device)
        sr = super_resolve(up, lr.astype(np.float32), False)
        variants = [(label, sr)]
        if consistency:
            variants.append((f"{label}+consistency", project(sr, lr, deg)))
        for name, out in variants:
            row: dict[str, Any] = {"model": name, "psnr": float(metrics.psnr(out, hr_c, peak, border=scale)),
                                   "consistency_rmse": consistency_rmse(out, lr, deg)}
            row.update(opensr_metrics(lr, out, hr_c, value_scale=value_scale).to_dict())
            rows.append(row)
    return OpensrReport(hr=str(hr), scale=scale, degradation=deg.describe(), value_scale=value_scale,
                        bands=chosen, rows=rows)
