"""Super-resolution scored against a real image from a finer sensor: ``evaluate_real``.

A synthetic benchmark degrades an image and asks a model to undo exactly that; a real low-res image
(Sentinel-2, Landsat) was made by optics, detectors and processing no simulator matches. Here the
reference is a real finer image of the same place (an aerial photo, a finer satellite), on any grid and
CRS, taken days apart. Before any number means something the reference must be made comparable:

1. **reproject** it onto the SR output grid (the LR grid with pixel size / scale): averaging the
   reference pixels each output pixel covers when it is finer (anti-aliased), cubic otherwise;
2. **co-register** it to the LR sub-pixel: the reference reduced to the LR grid (Wald MTF, the
   multispectral convention, ``satsr.ops.filters.wald_degrade``) is registered to the LR (band mean;
   phase correlation refined by least squares with a gain and offset, ``satsr.ops.registration``)
   and the shift, times the scale, is applied to the reference at output resolution (cubic spline);
3. **harmonise** it per band to the LR's radiometry: gain and offset by least squares between the
   shifted reference reduced to the LR grid and the LR, over pixels valid in both (or, with
   ``harmonise="histogram"``, histogram matching to the bicubic upscaled LR). Steps 2 and 3 run on
   overlapping blocks of 64 LR px, each with its own shift and gains, blended without seams
   (``satsr.ops.align.align_blocks``): real misregistration and illumination (relief, sun and view
   angles) vary across a scene, and one shift for a whole scene would penalise sharper models for
   residual misalignment. ``align="global"`` uses one shift and gain per band for the window;
4. **mask** the reference's nodata and coverage gaps, the LR's nodata, clouds (``mask``: a raster whose
   non-zero pixels are excluded), and a ``border`` of output pixels.

Then bicubic and each model super-resolve the LR (through ``satsr.upscale``, exactly as the command
does, with real context around the evaluated window) and are scored on the valid pixels: PSNR, SSIM,
SAM, the detail agreement (Pearson correlation of the high-pass components of SR and reference, the
high-pass being the image minus its Gaussian blur of sigma = scale output px: the detail finer than
about one LR pixel), and the opensr-test correctness shares (improvement / omission / hallucination).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from scipy import ndimage

from satsr import metrics
from satsr.api import upscale
from satsr.errors import InputError, OptionError
from satsr.io.raster import (
    OutputProfile,
    RasterReader,
    Window,
    inspect,
    overlap_window,
    reproject_onto,
    write_raster,
)
from satsr.masking import upscale_mask
from satsr.ops.align import align_blocks, align_reference
from satsr.trust.opensr import bilinear_resize, correctness


@dataclass
class RealReport:
    """Scores of each model against the real reference (``rows``, bicubic first) and the alignment."""

    lr: str
    reference: str
    scale: int
    window: dict[str, Any]
    alignment: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"scale": self.scale, "lr": self.lr, "reference": self.reference, "window": self.window,
                "alignment": self.alignment, "rows": self.rows}


def detail_agreement(sr: np.ndarray, ref: np.ndarray, valid: np.ndarray, scale: int) -> float:
    """Mean over bands of the Pearson correlation of the high-pass components (image minus its Gaussian
    blur of sigma = ``scale`` px) of ``sr`` and ``ref`` over ``valid`` pixels."""
    vals = []
    for a, b in zip(sr, ref, strict=True):
        ha = a - ndimage.gaussian_filter(a, scale, mode="mirror")
        hb = b - ndimage.gaussian_filter(b, scale, mode="mirror")
        x, y = ha[valid], hb[valid]
        x, y = x - x.mean(), y - y.mean()
        denom = math.sqrt(float((x * x).sum() * (y * y).sum()))
        vals.append(float((x * y).sum() / denom) if denom > 0 else float("nan"))
    return float(np.mean(vals))


def evaluate_real(lr: str | os.PathLike[str], reference: str | os.PathLike[str], scale: int,
                  models: Sequence[str | Any] = (), *, bands: Sequence[int] | None = None,
                  reference_bands: Sequence[int] | None = None, bounds: Sequence[float] | None = None,
                  mask: str | os.PathLike[str] | None = None, border: int | None = None,
                  harmonise: str = "linear", align: str = "blocks", block: int = 64, peak: float | None = None,
                  context: int = 24,
                  save_aligned: str | os.PathLike[str] | None = None, device: str = "cpu",
                  keep_outputs: Callable[[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]], None]
                  | None = None) -> RealReport:
    """Score bicubic and ``models`` on the LR image against a real finer ``reference`` (module docstring).

    ``bands``/``reference_bands``: 1-based bands of each file, matched by order (default: all LR bands,
    and the reference's first as many). ``bounds``: (left, bottom, right, top) in the LR's CRS, e.g. a
    validation strip. ``border``: output px left out at the window's edges (default ``2 * scale``).
    ``align``: ``"blocks"`` (default) aligns and harmonises overlapping blocks of ``block`` LR px on their
    own, blended without seams (real misregistration and illumination vary across a scene), or
    ``"global"``: one shift and one gain/offset per band for the whole window.
    ``peak``: the PSNR data range (default 255 for 8-bit LR data, else the reference's maximum).
    ``save_aligned``: a folder for the aligned reference and every SR output as GeoTIFFs.
    ``keep_outputs`` is called once with the LR window, the aligned reference, the scored pixels and each
    model's output on the window (e.g. for a report's figures).
    """
    lr_path, ref_path = Path(lr), Path(reference)
    if int(scale) < 2:
        raise OptionError(f"--scale must be 2 or more, got {scale}")
    with RasterReader(lr_path, bands=bands) as reader:
        info = reader.info
        chosen = list(reader.bands)
        r0, r1, c0, c1 = overlap_window(info, inspect(ref_path), bounds)
        # real context around the window, so models see what they would see in a whole-scene run
        a0, a1 = max(0, r0 - context), min(info.height, r1 + context)
        b0, b1 = max(0, c0 - context), min(info.width, c1 + context)
        values, valid = reader.read_tile(a0, a1, b0, b1)
        lr_raw = reader.read(Window(b0, a0, b1 - b0, a1 - a0))
        nodata = list(reader.nodatavals)
    lr_valid_ctx = valid.all(0)
    ref_info = inspect(ref_path)
    ref_bands = list(reference_bands) if reference_bands is not None else list(range(1, len(chosen) + 1))
    if len(ref_bands) != len(chosen) or max(ref_bands) > ref_info.count:
        raise OptionError(f"{ref_path}: {len(chosen)} LR band(s) must be matched by as many reference bands "
                          f"(the reference has {ref_info.count}); choose them with --reference-bands")
    s = int(scale)
    ctx_transform = info.transform @ Affine.translation(b0, a0) @ Affine.scale(1 / s)
    shape = ((a1 - a0) * s, (b1 - b0) * s)
    ref, ref_valid = reproject_onto(ref_path, ref_bands, ctx_transform, info.crs, shape)
    ref_valid = ref_valid.all(0)
    if mask is not None:
        clouds, cover = reproject_onto(mask, [1], ctx_transform, info.crs, shape, resampling="nearest")
        ref_valid &= ~(cover[0] & (clouds[0] != 0))
    if not ref_valid.any():
        raise InputError(f"{ref_path}: has no valid pixel over the LR window; give a reference of the same place")
    if align == "blocks":
        blocks = align_blocks(values.astype(np.float64), lr_valid_ctx, ref, ref_valid, s, block=block,
                              harmonise=harmonise)
        if not blocks.shifts:
            raise InputError(f"{ref_path}: no block of the window could be aligned with the LR image")
        ref_aligned, aligned_valid = blocks.values, blocks.valid
        shifts = np.array(blocks.shifts)
        alignment = {"mode": f"blocks of {block} LR px", "blocks": len(shifts),
                     "shift_lr_px": [round(float(v), 4) for v in np.median(shifts, 0)],
                     "shift_spread_lr_px": [round(float(v), 4) for v in shifts.std(0)],
                     "gain": [round(float(v), 6) for v in np.median(np.array(blocks.gains), 0)]}
    elif align == "global":
        one = align_reference(values.astype(np.float64), lr_valid_ctx, ref, ref_valid, s, harmonise)
        ref_aligned, aligned_valid = one.values, one.valid
        alignment = {"mode": "global", "shift_lr_px": [round(v, 4) for v in one.registration.shift],
                     "registration_rms": round(float(one.registration.rms), 4), "gain": one.gain,
                     "offset": one.offset}
    else:
        raise OptionError(f"--align {align!r}: choose blocks or global")

    # the evaluated window on the SR grid, with a border left out
    wr, wc = slice((r0 - a0) * s, (r1 - a0) * s), slice((c0 - b0) * s, (c1 - b0) * s)
    border = 2 * s if border is None else int(border)
    keep = aligned_valid & upscale_mask(lr_valid_ctx, s)
    keep = keep[wr, wc].copy()
    if border > 0:
        keep[:border], keep[-border:], keep[:, :border], keep[:, -border:] = False, False, False, False
    if keep.sum() < 64:
        raise InputError(f"{ref_path}: fewer than 64 valid reference pixels in the window after alignment")
    ref_w = ref_aligned[:, wr, wc]
    lr_w = values[:, r0 - a0:r1 - a0, c0 - b0:c1 - b0].astype(np.float64)
    eight = str(info.dtype) == "uint8"
    data_range = float(peak) if peak is not None else (255.0 if eight else float(ref_w[:, keep].max()))
    lr_up = bilinear_resize(lr_w, s).astype(np.float64)

    names: list[str | Any] = ["bicubic", *[m for m in models if m != "bicubic"]]
    rows: list[dict[str, Any]] = []
    outputs: dict[str, np.ndarray] = {}
    for m in names:
        label = m if isinstance(m, str) else m.name
        sr_ctx = upscale(lr_raw, scale=s, model=m, tile=None, device=device,
                         nodata=nodata if any(v is not None for v in nodata) else None)  # type: ignore[arg-type]
        sr = np.asarray(sr_ctx, np.float64)[:, wr, wc]
        outputs[label] = sr
        row: dict[str, Any] = {"model": label,
                               "psnr": round(float(metrics.psnr(sr, ref_w, data_range, mask=keep)), 4),
                               "ssim": round(float(metrics.ssim(sr, ref_w, data_range, mask=keep)), 5)}
        if sr.shape[0] > 1:
            row["sam"] = round(float(metrics.sam(sr, ref_w, mask=keep)), 4)
        row["detail"] = round(detail_agreement(sr, ref_w, keep, s), 5)
        im, om, ha = correctness(lr_up, sr, ref_w, valid=keep)
        row.update(improvement=round(im, 5), omission=round(om, 5), hallucination=round(ha, 5))
        rows.append(row)
    base = rows[0]
    for row in rows:
        row["psnr_vs_bicubic"] = round(row["psnr"] - base["psnr"], 4)
        row["detail_vs_bicubic"] = round(row["detail"] - base["detail"], 5)

    window_transform = info.transform @ Affine.translation(c0, r0)
    report = RealReport(
        lr=str(lr_path), reference=str(ref_path), scale=s,
        window={"lr_rows": [r0, r1], "lr_cols": [c0, c1], "bounds": list(bounds) if bounds is not None else None,
                "valid_output_pixels": int(keep.sum()), "border": border, "peak": data_range},
        alignment={**alignment, "harmonise": harmonise, "lr_bands": chosen, "reference_bands": ref_bands},
        rows=rows,
    )
    if save_aligned is not None:
        _save(Path(save_aligned), ref_w, keep, outputs, window_transform @ Affine.scale(1 / s), info.crs)
    if keep_outputs is not None:
        keep_outputs(lr_w, ref_w, keep, outputs)
    return report


def _save(folder: Path, ref: np.ndarray, keep: np.ndarray, outputs: dict[str, np.ndarray], transform: Affine,
          crs: Any) -> None:
    """The aligned reference (NaN where not scored) and each SR output as float32 GeoTIFFs in ``folder``."""
    if not folder.is_dir():
        raise InputError(f"--save-aligned {folder}: no such folder; create it first")
    c, h, w = ref.shape

    def profile() -> OutputProfile:
        creation = {"driver": "GTiff", "width": w, "height": h, "count": c, "dtype": "float32", "tiled": True,
                    "blockxsize": 256, "blockysize": 256, "compress": "deflate", "predictor": 3,
                    "nodata": float("nan"), "transform": transform}
        if crs is not None:
            creation["crs"] = crs
        return OutputProfile(creation=creation)

    write_raster(folder / "reference_aligned.tif", np.where(keep, ref, np.nan).astype(np.float32), profile(),
                 overwrite=True)
    for name, sr in outputs.items():
        write_raster(folder / f"sr_{name}.tif", sr.astype(np.float32), profile(), overwrite=True)


__all__ = ["RealReport", "detail_agreement", "evaluate_real"]
