"""Single-image SR on HR folders, as the SR literature does it: ``evaluate_sisr``.

Each HR image is cropped to a multiple of the scale, degraded with MATLAB's anti-aliased bicubic
(``satsr.ops.resize.downsample_bicubic``; 8-bit results rounded to integers as saved LR PNGs are),
super-resolved, clipped to 0..255 and rounded for 8-bit images, and compared with the HR image with
``scale`` px of border excluded: PSNR (per channel, then averaged over channels, then over images)
and SSIM (same averaging). Bicubic always runs in the same call, so every model is compared with it
on identical data. Every row also reports its LR consistency (``consistency_rmse``: RMSE of
``downsample(SR) - LR`` in data units, ``satsr.trust``); ``consistency=True`` adds a row per model
with its output projected onto the LR, and ``opensr=True`` the opensr-test metrics
(``satsr.trust.opensr``).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from satsr import metrics
from satsr.errors import InputError, OptionError
from satsr.evaluate.common import Progress, sisr_upscaler, super_resolve
from satsr.io.image import IMAGE_SUFFIXES, image_dtype, read_image
from satsr.ops.filters import DEGRADATIONS, degrade
from satsr.ops.spans import as_scale
from satsr.trust import Degradation, consistency_rmse, project
from satsr.trust.opensr import opensr_metrics


@dataclass
class SisrRow:
    model: str
    psnr: float
    ssim: float
    sam: float = float("nan")  # mean spectral angle (degrees), multi-band images only
    seconds: float = 0.0
    consistency_rmse: float = float("nan")  # RMSE of downsample(SR) - LR, data units
    hf_ratio: float = float("nan")  # high-frequency power over the HR's (metrics.hf_power_ratio), mean over images
    opensr: dict[str, float] | None = None  # opensr-test metrics (means over images)


@dataclass
class SisrReport:
    scale: int | Fraction
    images: int
    rows: list[SisrRow]
    hr_dir: str = ""
    per_image: dict[str, list[float]] = field(default_factory=dict)  # "model#row" -> PSNR per image

    def to_json(self) -> dict[str, Any]:
        rows = []
        for r in self.rows:
            row: dict[str, Any] = {"model": r.model, "psnr": r.psnr, "ssim": r.ssim,
                                   "consistency_rmse": r.consistency_rmse}
            if not np.isnan(r.hf_ratio):
                row["hf_ratio"] = r.hf_ratio
            if not np.isnan(r.sam):
                row["sam"] = r.sam
            if r.opensr is not None:
                row["opensr"] = r.opensr
            rows.append(row)
        scale = self.scale if isinstance(self.scale, int) else float(self.scale)
        return {"scale": scale, "images": self.images, "rows": rows}


@dataclass
class ImageOutputs:
    """One evaluated image as ``evaluate_sisr`` hands it to its ``keep`` hook: the HR (cropped to a
    multiple of the scale), its LR, and each row's output and PSNR by row key (``model#i``, the keys
    of ``SisrReport.per_image``), e.g. for figures of chosen images without running anything twice."""

    index: int
    path: Path
    hr: np.ndarray
    lr: np.ndarray
    outputs: dict[str, np.ndarray]
    psnr: dict[str, float]
    eight_bit: bool


def list_images(folder: str | os.PathLike[str], limit: int | None = None) -> list[Path]:
    """Image files under ``folder`` (recursive), sorted by path; the first ``limit`` when given.

    A single image file is accepted too (a one-image evaluation, e.g. a held-out GeoTIFF crop).
    """
    d = Path(folder)
    if d.is_file() and d.suffix.lower() in IMAGE_SUFFIXES:
        return [d]
    if not d.is_dir():
        raise InputError(f"{d}: no such folder or image; give a folder of HR images (searched recursively)")
    files = sorted(p for p in d.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"{d}: no images ({', '.join(IMAGE_SUFFIXES)}) found")
    if limit is not None:
        if limit < 1:
            raise OptionError(f"--limit must be at least 1, got {limit}")
        files = files[:limit]
    return files


def crop_border(x: np.ndarray, border: int) -> np.ndarray:
    """``x`` without ``border`` px on each side (the pixels every metric here leaves out)."""
    return x[..., border:x.shape[-2] - border, border:x.shape[-1] - border] if border > 0 else x


def is_8bit(path: Path) -> bool:
    """8-bit data: the file stores bytes (then LR is rounded and outputs clipped/rounded as in the literature)."""
    return image_dtype(path) == "uint8"


def degrade_for_eval(hr: np.ndarray, scale: int | float | Fraction, eight_bit: bool,
                     degradation: str = "bicubic") -> tuple[np.ndarray, np.ndarray]:
    """HR cropped to a multiple of ``scale`` and its LR (rounded/clipped for 8-bit data).

    ``bicubic``: MATLAB anti-aliased bicubic (the SR benchmark convention); ``wald``: the Wald
    protocol's Gaussian MTF (0.3 at the LR Nyquist frequency), for multispectral sensors.
    """
    if degradation not in DEGRADATIONS:
        raise OptionError(f"unknown degradation {degradation!r}; use bicubic or wald")
    return degrade(hr, as_scale(scale), degradation, eight_bit)


def evaluate_sisr(hr_dir: str | os.PathLike[str], scale: int | float | Fraction = 4,
                  models: Sequence[str | Any] = (),
                  limit: int | None = None, device: str = "cpu", progress: Progress = None,
                  consistency: bool = False, opensr: bool = False, degradation: str = "bicubic",
                  keep: Callable[[ImageOutputs], None] | None = None,
                  options: dict[str, Any] | None = None, perception: bool = False) -> SisrReport:
    """PSNR/SSIM of each model on the HR images under ``hr_dir`` (see the module docstring).

    ``models`` are registry names of single-image models (or ready ``Upscaler`` objects); the
    first row is always bicubic, evaluated in the same run on the same data. Data range: 255 for
    8-bit images, else each HR image's maximum (its peak). Each row's ``consistency_rmse`` is the
    mean over images of the RMSE of ``downsample_bicubic(SR) - LR``. ``consistency`` adds, after
    each model, a row ``<model>+consistency`` scoring its output projected onto the LR
    (``satsr.trust.project``, the bicubic degradation of this protocol). ``opensr`` adds the
    opensr-test metrics to every row (values divided by 255 for 8-bit images, else by 10000).
    ``degradation="wald"`` makes the LR with the Wald protocol instead of bicubic (multispectral
    sensors); multi-band images also get the mean spectral angle (SAM, degrees) per row. ``keep`` is
    called once per image with its outputs (``ImageOutputs``). ``options`` go to every requested model's
    constructor (not to the bicubic reference), e.g. ``{"budget_s": 60}``; models that learn from their
    input are fitted on each LR image (``super_resolve``), the fit counted in their time.
    """
    # bicubic first, always; then every requested model as given (``--model bicubic`` gives a second,
    # identical row: a check that the harness treats models and the reference alike)
    scale = as_scale(scale)
    whole = isinstance(scale, int)  # a fractional scale: no degradation operator, so no consistency rows
    if not whole and (consistency or opensr or degradation != "bicubic"):
        raise OptionError(f"x{float(scale):g}: --consistency, --opensr and --degradation wald need an integer scale")
    border = math.ceil(scale)
    names: list[str | Any] = ["bicubic", *models]
    ups = [sisr_upscaler(m, scale, None, device, options if i else None) for i, m in enumerate(names)]
    # one entry per row: (row name, key, upscaler index, projected?)
    entries: list[tuple[str, str, int, bool]] = []
    for i, (n, _) in enumerate(ups):
        entries.append((n, f"{n}#{i}", i, False))
        if consistency:
            entries.append((f"{n}+consistency", f"{n}+consistency#{i}", i, True))
    keys = [e[1] for e in entries]
    deg = Degradation(degradation, scale) if whole else None
    files = list_images(hr_dir, limit)
    psnrs: dict[str, list[float]] = {k: [] for k in keys}
    ssims: dict[str, list[float]] = {k: [] for k in keys}
    sams: dict[str, list[float]] = {k: [] for k in keys}
    cons: dict[str, list[float]] = {k: [] for k in keys}
    hfs: dict[str, list[float]] = {k: [] for k in keys}
    osr: dict[str, list[dict[str, float]]] = {k: [] for k in keys}
    secs: dict[str, float] = {k: 0.0 for k in keys}
    for k, f in enumerate(files):
        img = read_image(f)
        if min(img.shape[-2:]) < 4 * scale:
            raise InputError(f"{f}: {img.shape[-1]}x{img.shape[-2]} px is too small for x{float(scale):g} (the LR "
                             f"would be under 4 px); give HR images of at least {math.ceil(4 * scale)} px")
        eight = is_8bit(f)
        hr, lr = degrade_for_eval(img, scale, eight, degradation)
        peak = 255.0 if eight else float(hr.max())
        outputs: dict[int, np.ndarray] = {}
        kept: dict[str, np.ndarray] = {}
        for _, key, i, projected in entries:
            t0 = time.perf_counter()
            if i not in outputs:
                outputs[i] = super_resolve(ups[i][1], lr, eight)
            sr = outputs[i]
            if projected:
                sr = project(sr, lr, deg, bounds=(0.0, 255.0) if eight else None)
                if eight:
                    sr = np.clip(np.round(sr), 0, 255)
            secs[key] += time.perf_counter() - t0
            if keep is not None:
                kept[key] = sr
            psnrs[key].append(float(metrics.psnr(sr, hr, data_range=peak, border=border)))
            ssims[key].append(float(metrics.ssim(sr, hr, data_range=peak, border=border)))
            if hr.shape[0] > 1:
                sams[key].append(float(metrics.sam(sr, hr, border=border)))
            cons[key].append(consistency_rmse(sr, lr, deg) if deg is not None else float("nan"))
            if perception:
                hfs[key].append(metrics.hf_power_ratio(crop_border(sr, border), crop_border(hr, border)))
            if opensr:
                osr[key].append(opensr_metrics(lr, sr, hr, value_scale=255.0 if eight else 10000.0).to_dict())
        if keep is not None:
            keep(ImageOutputs(k, f, hr, lr, kept, {key: psnrs[key][-1] for key in keys}, eight))
        if progress:
            progress(f"[{k + 1}/{len(files)}] {f.name}")
    rows = []
    for name, key, _, _ in entries:
        mean_osr = None
        if opensr:
            mean_osr = {m: float(np.nanmean([d[m] for d in osr[key]])) for m in osr[key][0]}
        sam = float(np.mean(sams[key])) if sams[key] else float("nan")
        rows.append(SisrRow(model=name, psnr=float(np.mean(psnrs[key])), ssim=float(np.mean(ssims[key])), sam=sam,
                            seconds=secs[key], consistency_rmse=float(np.mean(cons[key])), opensr=mean_osr,
                            hf_ratio=float(np.mean(hfs[key])) if hfs[key] else float("nan")))
    return SisrReport(scale=scale, images=len(files), rows=rows, hr_dir=str(hr_dir),
                      per_image={k: psnrs[k] for k in keys})
