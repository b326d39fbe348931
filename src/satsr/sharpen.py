"""Guided sharpening of rasters: low-res bands to the grid of high-res guide bands.

* ``sharpen_arrays(guide, lowres, model)``: arrays in, float32 ``(c, H, W)`` out;
* ``sharpen_files(guide, lowres, out, model)``: a GeoTIFF on the guide's grid (its CRS and transform),
  with the low-res file's band descriptions, dtype and nodata;
* ``sharpen_s2_folder(folder, out, model)``: all 13 Sentinel-2 bands of an ``IMG_DATA``-like folder at
  10 m, in ESA order B01..B08, B8A, B09..B12; the 10 m bands copied bit for bit; 20 m bands sharpened
  at ratio 2, 60 m bands at ratio 6 (B10, cirrus, always with ``hpi``: a network trained on surface
  bands would paint surface detail into it);
* ``wald_evaluate(guide, lowres, models)``: the Wald protocol (degrade both by the ratio with
  ``satsr.degrade.wald_degrade``, sharpen, compare with the original low-res bands), bicubic included.

Scenes are processed in tiles of the output grid (aligned to the output blocks, so memory is bounded
by the tile, not the scene): each tile is computed from a window grown by the model's ``margin``
(low-res px, clipped at the image edges) and cropped back, then written in place. For the networks
and the local part of ``hpi`` this equals whole-image processing; ``hpi``'s global regression prior
is fitted per tile, which changes results only slightly (see tests). ``satsr.tiling``'s row-strip
engine reads one source, whereas sharpening reads several files on different grids, so the window
loop is written here, reusing its invalid-pixel handling (``satsr.masking``).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from satsr.errors import InputError, OptionError, OutputError, SatsrError
from satsr.masking import fill_invalid, upscale_mask, valid_mask

S2_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
S2_10M = ("B02", "B03", "B04", "B08")
S2_20M = ("B05", "B06", "B07", "B8A", "B11", "B12")
S2_60M = ("B01", "B09", "B10")
S2_GUIDE = ("B04", "B03", "B02", "B08")  # network guide order (the DSen2 convention)
S2_NODATA = 0  # Sentinel-2 L1C/L2A: DN 0 is "no data"
_S2_RE = re.compile(r"_(B(?:0[1-9]|1[0-2]|8A))(?:_\d{2}m)?\.(jp2|tif|tiff)$", re.IGNORECASE)
DEFAULT_TILE = 768  # output px; rounded up to a multiple of the block size and the ratio


# ----------------------------------------------------------------------------- models


def load_guided(name: str | Any, ratio: int, device: str = "cpu", weights: str | os.PathLike[str] | None = None,
                **options: Any) -> Any:
    """A ``GuidedUpscaler`` by name (``bicubic`` means ``guided-bicubic``); objects pass through."""
    if not isinstance(name, str):
        return name
    from satsr.models import registry
    from satsr.models.guided import resolve_guided

    spec = registry.get_spec(resolve_guided(name))
    if ratio not in spec.scales:
        raise OptionError(f"model {name!r} supports ratios {list(spec.scales)}, not {ratio}")
    if spec.neural and str(device).startswith("cuda") and not torch.cuda.is_available():
        raise OptionError(f"--device {device}: no CUDA GPU is available here; use --device cpu")
    return registry.create(spec.name, ratio, weights=weights, device=device, **options)


def guide_order(model: Any) -> list[str] | None:
    """Guide band names a trained model expects, in order (from its card), or None (any order)."""
    card = getattr(model, "card", None)
    if card is None:
        return None
    opts = card.training.get("config", {}).get("task_options", {}) if card.training else {}
    names = opts.get("guide")
    return [str(n).upper() for n in names] if names else None


def _value_scale(model: Any) -> float:
    return float(getattr(model, "value_scale", 1.0) or 1.0)


def _margin(model: Any) -> int:
    return int(getattr(model, "margin", 8))


def _ratio_of(guide_hw: Sequence[int], lowres_hw: Sequence[int], where: str) -> int:
    """The integer ratio between the grids, ``InputError`` when there is none."""
    (H, W), (h, w) = guide_hw, lowres_hw
    if h == 0 or w == 0 or H % h or W % w or H // h != W // w or H // h < 2:
        raise InputError(
            f"{where}: the guide ({W}x{H} px) is not an integer multiple (2 or more) of the low-res bands "
            f"({w}x{h} px) in both directions; give a guide and low-res bands on the same footprint"
        )
    return H // h


# ----------------------------------------------------------------------------- sources


class _ArrayBands:
    """An in-memory ``(C, H, W)`` array as a window source (nodata and NaN invalid)."""

    def __init__(self, data: np.ndarray, nodata: float | None = None) -> None:
        self.data = data
        self.count, self.height, self.width = data.shape
        self.nodata = nodata

    def read(self, r0: int, r1: int, c0: int, c1: int) -> tuple[np.ndarray, np.ndarray]:
        part = self.data[:, r0:r1, c0:c1]
        return part.astype(np.float32, copy=True), valid_mask(part, self.nodata)


class _FileBands:
    """Bands of one or several single-grid raster files, read as one ``(C, h, w)`` stack."""

    def __init__(self, readers: Sequence[Any], bands: Sequence[Sequence[int]], nodata: Sequence[float | None]) -> None:
        self.readers = list(readers)
        self.bands = [list(b) for b in bands]
        self.nodata = list(nodata)
        self.height, self.width = self.readers[0].height, self.readers[0].width
        self.count = sum(len(b) for b in self.bands)

    def read(self, r0: int, r1: int, c0: int, c1: int) -> tuple[np.ndarray, np.ndarray]:
        from rasterio.windows import Window

        parts, masks = [], []
        for reader, bands, nd in zip(self.readers, self.bands, self.nodata, strict=True):
            raw = reader.read(Window(c0, r0, c1 - c0, r1 - r0), bands)
            parts.append(raw.astype(np.float32, copy=False))
            masks.append(valid_mask(raw, nd))
        return np.concatenate(parts), np.concatenate(masks)


@dataclass
class _Job:
    """One group of output bands: sharpened from ``lowres`` (grid ``ratio`` x coarser) or copied."""

    out_index: list[int]
    lowres: Any
    ratio: int  # output px per low-res px (1: copy)
    model: Any = None
    guide: Any = None
    name: str = "copy"

    def fit(self, max_pixels: int = 1 << 18, window: int = 256) -> None:
        """Let a model with a scene-level fit (HPI's global regression) see the whole scene once:
        all of it when the low-res grid has at most ``max_pixels``, else a 3 x 3 grid of windows."""
        if self.ratio == 1 or not hasattr(self.model, "fit"):
            return
        h, w, q = self.lowres.height, self.lowres.width, self.ratio
        if h * w <= max_pixels:
            wins = [(0, h, 0, w)]
        else:
            ys = np.linspace(0, max(h - window, 0), 3).astype(int)
            xs = np.linspace(0, max(w - window, 0), 3).astype(int)
            wins = [(y, min(y + window, h), x, min(x + window, w)) for y in ys for x in xs]
        vs = np.float32(_value_scale(self.model))
        pairs = []
        for r0, r1, c0, c1 in wins:
            lo, lo_valid = self.lowres.read(r0, r1, c0, c1)
            gd, gd_valid = self.guide.read(r0 * q, r1 * q, c0 * q, c1 * q)
            if lo_valid.mean() < 0.5 or gd_valid.mean() < 0.5:
                continue  # mostly no data: would bias the regression
            lo = fill_invalid(lo, lo_valid) if not lo_valid.all() else lo
            gd = fill_invalid(gd, gd_valid) if not gd_valid.all() else gd
            pairs.append((gd / vs, lo / vs))
        self.model.fit(pairs or None)

    def run(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """Float32 output of output-grid rows/cols ``[r0, r1) x [c0, c1)``, NaN where invalid."""
        q = self.ratio
        if q == 1:
            data, valid = self.lowres.read(r0, r1, c0, c1)
            data[~valid] = np.nan
            return data
        lr0, lr1, lc0, lc1 = r0 // q, r1 // q, c0 // q, c1 // q
        m = _margin(self.model)
        w0, w1 = max(0, lr0 - m), min(self.lowres.height, lr1 + m)
        v0, v1 = max(0, lc0 - m), min(self.lowres.width, lc1 + m)
        lo, lo_valid = self.lowres.read(w0, w1, v0, v1)
        gd, gd_valid = self.guide.read(w0 * q, w1 * q, v0 * q, v1 * q)
        if not lo_valid.any() or not gd_valid.any():
            return np.full((lo.shape[0], r1 - r0, c1 - c0), np.nan, np.float32)
        if not lo_valid.all():
            lo = fill_invalid(lo, lo_valid)
        if not gd_valid.all():
            gd = fill_invalid(gd, gd_valid)
        vs = _value_scale(self.model)
        y = self.model(gd / np.float32(vs), lo / np.float32(vs))
        y = np.asarray(y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else y, np.float32) * np.float32(vs)
        if y.shape != (lo.shape[0], gd.shape[1], gd.shape[2]):
            raise RuntimeError(f"{self.name} returned {y.shape}, expected {(lo.shape[0], *gd.shape[1:])}")
        sl = (slice(None), slice((lr0 - w0) * q, (lr1 - w0) * q), slice((lc0 - v0) * q, (lc1 - v0) * q))
        out = y[sl].copy()
        bad = ~upscale_mask(lo_valid, q)[sl] | ~gd_valid.all(0)[sl[1], sl[2]][None]
        out[bad] = np.nan
        return out


@dataclass
class _Plan:
    height: int  # output grid
    width: int
    count: int
    unit: int  # tile edges fall on multiples of this (lcm of every ratio and the block size)
    tile: int
    jobs: list[_Job] = field(default_factory=list)

    def windows(self) -> list[tuple[int, int, int, int]]:
        t = max(self.unit, math.ceil(self.tile / self.unit) * self.unit)
        return [(r, min(r + t, self.height), c, min(c + t, self.width))
                for r in range(0, self.height, t) for c in range(0, self.width, t)]


def _run(plan: _Plan, write: Callable[[np.ndarray, tuple[int, int, int, int]], None],
         progress: Callable[[], None] | None = None) -> None:
    for job in plan.jobs:
        job.fit()
    try:
        for win in plan.windows():
            r0, r1, c0, c1 = win
            out = np.empty((plan.count, r1 - r0, c1 - c0), np.float32)
            for job in plan.jobs:
                out[job.out_index] = job.run(r0, r1, c0, c1)
            write(out, win)
            if progress is not None:
                progress()
    finally:
        for job in plan.jobs:
            if hasattr(job.model, "fit"):
                job.model.fit(None)


def _progress(total: int, quiet: bool, label: str) -> tuple[Callable[[], None] | None, Callable[[], None]]:
    if quiet or total <= 1:
        return None, lambda: None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=Console(stderr=True), transient=True)
    bar.start()
    task = bar.add_task(label, total=total)
    return (lambda: bar.advance(task)), bar.stop


# ----------------------------------------------------------------------------- arrays


def sharpen_arrays(guide: np.ndarray, lowres: np.ndarray, model: str | Any = "hpi", *, tile: int | None = None,
                   nodata: float | None = None, device: str = "cpu",
                   weights: str | os.PathLike[str] | None = None) -> np.ndarray:
    """Sharpen ``lowres (c, h, w)`` to the grid of ``guide (g, H, W)``; float32 ``(c, H, W)``, NaN = nodata.

    ``tile`` (output px) processes the image in tiles; None does it in one piece.
    """
    if guide.ndim != 3 or lowres.ndim != 3:
        raise OptionError(f"expected guide (g, H, W) and lowres (c, h, w), got {guide.shape} and {lowres.shape}")
    ratio = _ratio_of(guide.shape[-2:], lowres.shape[-2:], "arrays")
    net = load_guided(model, ratio, device=device, weights=weights)
    job = _Job(list(range(lowres.shape[0])), _ArrayBands(lowres, nodata), ratio, net, _ArrayBands(guide, nodata),
               getattr(net, "name", "model"))
    H, W = guide.shape[-2:]
    plan = _Plan(H, W, lowres.shape[0], ratio, tile or max(H, W), [job])
    out = np.empty((lowres.shape[0], H, W), np.float32)

    def write(values: np.ndarray, win: tuple[int, int, int, int]) -> None:
        out[:, win[0]:win[1], win[2]:win[3]] = values

    _run(plan, write)
    return out


# ----------------------------------------------------------------------------- files


def _same_footprint(guide_info: Any, lowres_info: Any, ratio: int) -> None:
    """``InputError`` when two georeferenced rasters do not cover the same area (to 1/2 low-res px)."""
    if not (guide_info.georeferenced and lowres_info.georeferenced):
        return
    if guide_info.crs is not None and lowres_info.crs is not None and guide_info.crs != lowres_info.crs:
        raise InputError(f"{lowres_info.path}: CRS {lowres_info.crs} differs from the guide's ({guide_info.crs}); "
                         "reproject one of them first")
    gt, lt = guide_info.transform, lowres_info.transform
    px = max(abs(lt.a), abs(lt.e), 1e-12)
    expected = (gt.a * ratio, gt.e * ratio)
    if abs(lt.c - gt.c) > px / 2 or abs(lt.f - gt.f) > px / 2 or abs(lt.a - expected[0]) > 1e-6 * px \
            or abs(lt.e - expected[1]) > 1e-6 * px:
        raise InputError(
            f"{lowres_info.path}: does not cover the guide's footprint on a {ratio}x coarser grid (origin or "
            "pixel size differ); crop both to the same area first"
        )


def _tile_unit(blocksize: int, *ratios: int) -> int:
    unit = blocksize
    for r in ratios:
        unit = unit * r // math.gcd(unit, r)
    return unit


def sharpen_files(guide: str | os.PathLike[str], lowres: str | os.PathLike[str], out: str | os.PathLike[str],
                  model: str | Any = "hpi", *, guide_bands: Sequence[int] | None = None,
                  bands: Sequence[int] | None = None, tile: int = DEFAULT_TILE, overwrite: bool = False,
                  compress: str = "deflate", device: str = "cpu", weights: str | os.PathLike[str] | None = None,
                  quiet: bool = True) -> Path:
    """Sharpen the low-res raster with the guide raster; write a GeoTIFF on the guide's grid.

    ``guide_bands``/``bands``: 1-based band numbers (and order) of the guide and low-res files.
    """
    import rasterio

    from satsr.io.raster import RasterReader, RasterWriter, check_output, output_profile

    out_path = check_output(out, overwrite)
    for p in (guide, lowres):
        if Path(p).exists() and out_path.exists() and Path(p).resolve() == out_path.resolve():
            raise OutputError(f"{out_path}: is an input file; write the output to another path")
    with RasterReader(guide, bands=guide_bands) as g, RasterReader(lowres, bands=bands) as lo:
        ratio = _ratio_of((g.height, g.width), (lo.height, lo.width), f"{lo.path}")
        _same_footprint(g.info, lo.info, ratio)
        try:
            net = load_guided(model, ratio, device=device, weights=weights)
        except SatsrError as exc:
            raise type(exc)(f"{lo.path}: {exc}") from exc
        _check_counts(net, g.count, lo.count, g.path, lo.path)
        profile = output_profile(lo.info, ratio, lo.bands, compress=compress, blocksize=256)
        _use_guide_grid(profile, g.info)
        job = _Job(list(range(lo.count)), _FileBands([lo], [lo.bands], [lo.nodatavals[0]]), ratio, net,
                   _FileBands([g], [g.bands], [g.nodatavals[0]]), getattr(net, "name", "model"))
        plan = _Plan(g.height, g.width, lo.count, _tile_unit(256, ratio), tile, [job])
        advance, close = _progress(len(plan.windows()), quiet, f"sharpening x{ratio}")
        try:
            with rasterio.Env(GDAL_CACHEMAX=64), RasterWriter(out_path, profile, overwrite=overwrite) as writer:
                _run(plan, lambda v, w: _write(writer, v, w), advance)
        finally:
            close()
    return out_path


def _check_counts(net: Any, guide_count: int, lowres_count: int, guide_path: Path, lowres_path: Path) -> None:
    want_g = getattr(net, "guide_bands", None)
    if want_g is not None and guide_count != want_g:
        order = guide_order(net)
        hint = f" ({', '.join(order)})" if order else ""
        raise OptionError(f"{guide_path}: {net.describe()} takes {want_g} guide bands{hint}, the guide has "
                          f"{guide_count}; choose them with --guide-bands")
    want = getattr(net, "bands", None)
    if isinstance(want, int) and lowres_count != want:
        names = getattr(getattr(net, "card", None), "band_names", None)
        hint = f" ({', '.join(names)})" if names else ""
        raise OptionError(f"{lowres_path}: {net.describe()} takes {want} low-res bands{hint}, the file has "
                          f"{lowres_count}; choose them with --bands")


def _use_guide_grid(profile: Any, guide_info: Any) -> None:
    """Put the output on the guide's grid: its size, transform and CRS (a guide without any keeps the
    low-res file's georeferencing, scaled by the ratio, already in ``profile``)."""
    c = profile.creation
    c["width"], c["height"] = guide_info.width, guide_info.height
    if not guide_info.georeferenced or guide_info.gcps[0]:
        return
    c.pop("crs", None)
    c["transform"] = guide_info.transform
    if guide_info.crs is not None:
        c["crs"] = guide_info.crs
    profile.gcps = ([], None)


def _write(writer: Any, values: np.ndarray, win: tuple[int, int, int, int]) -> None:
    from rasterio.windows import Window

    r0, r1, c0, c1 = win
    writer.write(values, Window(c0, r0, c1 - c0, r1 - r0))


# ----------------------------------------------------------------------------- Sentinel-2 folders


def s2_band_files(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Band name -> file in a Sentinel-2 ``IMG_DATA``-like folder (``*_B05.jp2``, ``*_B8A_20m.jp2``, ...).

    ``InputError`` when the folder is missing, a band is missing or appears twice.
    """
    d = Path(folder)
    if not d.exists():
        raise InputError(f"{d}: no such folder; give a Sentinel-2 IMG_DATA folder with B01..B12 and B8A files")
    if not d.is_dir():
        raise InputError(f"{d}: is a file; give a folder of Sentinel-2 band files, or use --guide and --lowres")
    granules = sorted(d.glob("GRANULE/*/IMG_DATA"))
    if len(granules) == 1 and not any(_S2_RE.search(p.name) for p in d.iterdir()):
        d = granules[0]  # a .SAFE product folder: its single granule's image folder
    found: dict[str, Path] = {}
    for p in sorted(d.iterdir()):
        m = _S2_RE.search(p.name)
        if not m or not p.is_file():
            continue
        b = m.group(1).upper()
        if b in found:
            raise InputError(f"{d}: band {b} appears twice ({found[b].name}, {p.name}); keep one scene per folder")
        found[b] = p
    missing = [b for b in S2_BANDS if b not in found]
    if missing:
        raise InputError(f"{d}: Sentinel-2 bands {', '.join(missing)} not found (expected files named like "
                         "T33UUU_20170216T102101_B05.jp2); give a complete IMG_DATA folder")
    return found


def sharpen_s2_folder(folder: str | os.PathLike[str], out: str | os.PathLike[str], model: str = "hpi", *,
                      tile: int = DEFAULT_TILE, overwrite: bool = False, compress: str = "deflate",
                      device: str = "cpu", quiet: bool = True) -> Path:
    """All 13 bands of a Sentinel-2 folder at 10 m (ESA order B01..B08, B8A, B09..B12) in one GeoTIFF.

    The 10 m bands are copied unchanged; B05-B07, B8A, B11, B12 are sharpened at ratio 2 and B01, B09
    at ratio 6 by ``model`` (``dsen2``: the weights for each ratio; ``hpi``; ``bicubic``), B10 by
    ``hpi`` (or bicubic when ``model`` is bicubic), guided by B04, B03, B02, B08. DN 0 is no data.
    """
    import rasterio

    from satsr.io.raster import RasterReader, RasterWriter, check_output, output_profile

    files = s2_band_files(folder)
    out_path = check_output(out, overwrite)
    readers: dict[str, Any] = {}
    try:
        for b in S2_BANDS:
            readers[b] = RasterReader(files[b], bands=[1])
        ref = readers["B02"]
        H, W = ref.height, ref.width
        for group, q in ((S2_10M, 1), (S2_20M, 2), (S2_60M, 6)):
            for b in group:
                rd = readers[b]
                if (rd.height * q, rd.width * q) != (H, W):
                    raise InputError(f"{rd.path}: {rd.width}x{rd.height} px is not 1/{q} of B02's {W}x{H} px; "
                                     f"the folder must hold one scene at native resolutions")
                if q > 1:
                    _same_footprint(ref.info, rd.info, q)

        def stack(names: Sequence[str]) -> _FileBands:
            return _FileBands([readers[n] for n in names], [[1]] * len(names), [S2_NODATA] * len(names))

        m2 = load_guided(model, 2, device=device)
        m6 = load_guided(model, 6, device=device)
        m10 = load_guided("bicubic" if getattr(m6, "name", "") == "guided-bicubic" else "hpi", 6)
        idx = {b: i for i, b in enumerate(S2_BANDS)}
        jobs = [_Job([idx[b] for b in S2_10M], stack(S2_10M), 1)]
        for names, q, net in ((S2_20M, 2, m2), (("B01", "B09"), 6, m6), (("B10",), 6, m10)):
            order = guide_order(net) or list(S2_GUIDE)
            if getattr(net, "bands", None) not in (None, len(names)):
                raise OptionError(f"{net.describe()} takes {net.bands} low-res bands, not {len(names)} ({names})")
            jobs.append(_Job([idx[b] for b in names], stack(names), q, net, stack(order), net.name))

        info = ref.info
        profile = output_profile(info, 1, compress=compress, blocksize=256)
        profile.creation["count"] = len(S2_BANDS)
        profile.creation["nodata"] = S2_NODATA
        profile.descriptions = S2_BANDS
        method = {b: "copy (native 10 m)" for b in S2_10M}
        method.update({b: f"{m2.name} x2" for b in S2_20M})
        method.update({"B01": f"{m6.name} x6", "B09": f"{m6.name} x6", "B10": f"{m10.name} x6"})
        profile.band_tags = tuple({"SATSR_METHOD": method[b], "SOURCE": files[b].name} for b in S2_BANDS)
        profile.colorinterp = ()
        profile.scales = profile.offsets = profile.units = ()
        plan = _Plan(H, W, len(S2_BANDS), _tile_unit(256, 6), tile, jobs)
        advance, close = _progress(len(plan.windows()), quiet, "sharpening Sentinel-2")
        try:
            with rasterio.Env(GDAL_CACHEMAX=64), RasterWriter(out_path, profile, overwrite=overwrite) as writer:
                _run(plan, lambda v, w: _write(writer, v, w), advance)
        finally:
            close()
    finally:
        for rd in readers.values():
            rd.close()
    return out_path


# ----------------------------------------------------------------------------- Wald protocol


def quality(pred: np.ndarray, ref: np.ndarray, ratio: int, peak: float) -> dict[str, Any]:
    """Per-band RMSE and PSNR, ERGAS and SAM (degrees) of ``pred`` against ``ref`` (both ``(c, H, W)``).

    ``satsr.metrics`` does the arithmetic; values are rounded for reports.
    """
    from satsr import metrics

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
                  device: str = "cpu", weights: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The Wald protocol on arrays: returns ``{"ratio", "shape", "methods": {name: quality}}``.

    Both inputs are degraded by the ratio (``wald_degrade``, float64), the low-res bands cropped to a
    multiple of the ratio first; each model sharpens the degraded pair and is scored against the
    original low-res bands (float output, no rounding, no border excluded). ``bicubic`` always runs.
    """
    from satsr.degrade import wald_degrade

    ratio = _ratio_of(guide.shape[-2:], lowres.shape[-2:], "wald_evaluate")
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
        _check_counts(net, g_lr.shape[0], lo_lr.shape[0], Path("guide"), Path("lowres"))
        pred = sharpen_arrays(g_lr.astype(np.float32), lo_lr.astype(np.float32), net)
        label = m if isinstance(m, str) else getattr(m, "name", "model")
        results[label] = quality(pred, ref, ratio, peak)
    base = results["bicubic"]["rmse_mean"]
    for v in results.values():
        v["rmse_gain_vs_bicubic_pct"] = round(100 * (1 - v["rmse_mean"] / base), 2) if base > 0 else 0.0
    return {"ratio": ratio, "lowres_shape": [int(s) for s in ref.shape], "methods": results}


__all__ = ["S2_BANDS", "load_guided", "quality", "sharpen_arrays", "sharpen_files", "sharpen_s2_folder",
           "wald_evaluate"]
