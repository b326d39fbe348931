"""Guided sharpening (the ``sharpen`` driver): low-res bands to the grid of high-res guide bands.

* ``sharpen_arrays(guide, lowres, model)``: arrays in, float32 ``(c, H, W)`` out;
* ``sharpen_files(guide, lowres, out, model)``: a GeoTIFF on the guide's grid (its CRS and transform),
  with the low-res file's band descriptions, dtype and nodata;
* ``sharpen_s2_folder(folder, out, model)``: all 13 Sentinel-2 bands of an ``IMG_DATA``-like folder at
  10 m, in ESA order B01..B08, B8A, B09..B12; the 10 m bands copied bit for bit; 20 m bands sharpened
  at ratio 2, 60 m bands at ratio 6 (B10, cirrus, always with ``hpi``: a network trained on surface
  bands would paint surface detail into it).

Every path runs through the one tile engine, ``satsr.tiling.run_tiled``, on a ``GuidedSource`` (the
low-res bands plus the guide on its finer grid): the same planning, context, nodata handling, blending
and progress as ``upscale``. Tiles are planned on the low-res grid (``tile`` output px / ratio); a model
with a scene-level fit (HPI's global regression) sees the whole scene once first (``fit_scene``), so
tiles agree with the whole-image result. The Wald-protocol evaluation is ``satsr.evaluate.wald``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from satsr.errors import InputError, OptionError, OutputError, SatsrError
from satsr.io.raster import (
    RasterReader,
    RasterWriter,
    check_footprint,
    check_output,
    gdal_env,
    output_profile,
    use_grid_of,
)
from satsr.io.sentinel2 import S2_10M, S2_20M, S2_BANDS, S2_GUIDE, S2_NODATA, s2_band_files
from satsr.masking import fill_invalid
from satsr.models import registry
from satsr.models.base import GuidedModel
from satsr.tiling import ArraySink, ArraySource, BandSink, GuidedSource, StackedSource, TileSink, run_tiled

DEFAULT_TILE = 768  # output px
OUTPUT_BLOCK = 256


# ----------------------------------------------------------------------------- models


def load_guided(name: str | Any, ratio: int, device: str = "cpu", weights: str | os.PathLike[str] | None = None,
                **options: Any) -> GuidedModel:
    """A guided model by name (``bicubic`` means ``guided-bicubic``), or a ready one checked."""
    return registry.resolve(name, ratio, kind="guided", device=device, weights=weights, **options)


def guide_order(model: GuidedModel) -> list[str] | None:
    """Guide band names a trained model expects, in order (from its card), or None (any order)."""
    card = model.card
    if card is None:
        return None
    opts = card.training.get("config", {}).get("task_options", {}) if card.training else {}
    names = opts.get("guide")
    return [str(n).upper() for n in names] if names else None


def ratio_of(guide_hw: Sequence[int], lowres_hw: Sequence[int], where: str) -> int:
    """The integer ratio between the grids, ``InputError`` when there is none."""
    (H, W), (h, w) = guide_hw, lowres_hw
    if h == 0 or w == 0 or H % h or W % w or H // h != W // w or H // h < 2:
        raise InputError(
            f"{where}: the guide ({W}x{H} px) is not an integer multiple (2 or more) of the low-res bands "
            f"({w}x{h} px) in both directions; give a guide and low-res bands on the same footprint"
        )
    return H // h


def check_counts(net: GuidedModel, guide_count: int, lowres_count: int, guide_path: Path, lowres_path: Path) -> None:
    """The guide and low-res band counts the model takes (its card says which bands, in which order)."""
    if net.guide_bands is not None and guide_count != net.guide_bands:
        order = guide_order(net)
        hint = f" ({', '.join(order)})" if order else ""
        raise OptionError(f"{guide_path}: {net.describe()} takes {net.guide_bands} guide bands{hint}, the guide has "
                          f"{guide_count}; choose them with --guide-bands")
    if net.bands is not None and lowres_count != net.bands:
        names = net.card.band_names if net.card is not None else None
        hint = f" ({', '.join(names)})" if names else ""
        raise OptionError(f"{lowres_path}: {net.describe()} takes {net.bands} low-res bands{hint}, the file has "
                          f"{lowres_count}; choose them with --bands")


# ----------------------------------------------------------------------------- running


def fit_scene(model: GuidedModel, source: GuidedSource, max_pixels: int = 1 << 18, window: int = 256) -> None:
    """Let a model with a scene-level fit (HPI's global regression) see the whole scene once: all of it
    when the low-res grid has at most ``max_pixels``, else a 3 x 3 grid of ``window`` px windows.
    Windows that are mostly nodata are left out (they would bias the regression)."""
    h, w = source.height, source.width
    if h * w <= max_pixels:
        wins = [(0, h, 0, w)]
    else:
        ys = np.linspace(0, max(h - window, 0), 3).astype(int)
        xs = np.linspace(0, max(w - window, 0), 3).astype(int)
        wins = [(y, min(y + window, h), x, min(x + window, w)) for y in ys for x in xs]
    vs = np.float32(model.value_scale)
    pairs = []
    for r0, r1, c0, c1 in wins:
        lo, lo_valid = source.read_tile(r0, r1, c0, c1)
        gd, gd_valid = source.read_guide(r0, r1, c0, c1)
        if lo_valid.mean() < 0.5 or gd_valid.mean() < 0.5:
            continue
        lo = fill_invalid(lo, lo_valid) if not lo_valid.all() else lo
        gd = fill_invalid(gd, gd_valid) if not gd_valid.all() else gd
        pairs.append((gd / vs, lo / vs))
    model.fit(pairs or None)


def run_guided(source: GuidedSource, model: GuidedModel, sink: TileSink, *, tile: int | None = DEFAULT_TILE,
               quiet: bool = True, label: str = "sharpening") -> None:
    """Sharpen everything ``source`` holds with ``model`` into ``sink`` through the tile engine.

    ``tile`` is in output px (None: the whole image in one piece); neighbouring tiles overlap by an
    eighth of a tile (at most 8 low-res px), blended, beyond the model's exact ``margin``.
    """
    tile_lr = None if tile is None else max(1, math.ceil(tile / source.ratio))
    overlap = 0 if tile_lr is None else min(8, tile_lr // 8)
    fit_scene(model, source)
    try:
        run_tiled(source, model, sink, tile=tile_lr, overlap=overlap, quiet=quiet, label=label)
    finally:
        model.fit(None)


# ----------------------------------------------------------------------------- arrays


def sharpen_arrays(guide: np.ndarray, lowres: np.ndarray, model: str | Any = "hpi", *, tile: int | None = None,
                   nodata: float | None = None, device: str = "cpu",
                   weights: str | os.PathLike[str] | None = None) -> np.ndarray:
    """Sharpen ``lowres (c, h, w)`` to the grid of ``guide (g, H, W)``; float32 ``(c, H, W)``, NaN = nodata.

    ``tile`` (output px) processes the image in tiles; None does it in one piece.
    """
    if guide.ndim != 3 or lowres.ndim != 3:
        raise OptionError(f"expected guide (g, H, W) and lowres (c, h, w), got {guide.shape} and {lowres.shape}")
    ratio = ratio_of(guide.shape[-2:], lowres.shape[-2:], "arrays")
    net = load_guided(model, ratio, device=device, weights=weights)
    sink = ArraySink(lowres.shape[0], *guide.shape[-2:])
    run_guided(GuidedSource(ArraySource(lowres, nodata), ArraySource(guide, nodata), ratio), net, sink, tile=tile)
    return sink.values


# ----------------------------------------------------------------------------- files


def sharpen_files(guide: str | os.PathLike[str], lowres: str | os.PathLike[str], out: str | os.PathLike[str],
                  model: str | Any = "hpi", *, guide_bands: Sequence[int] | None = None,
                  bands: Sequence[int] | None = None, tile: int = DEFAULT_TILE, overwrite: bool = False,
                  compress: str = "deflate", device: str = "cpu", weights: str | os.PathLike[str] | None = None,
                  quiet: bool = True) -> Path:
    """Sharpen the low-res raster with the guide raster; write a GeoTIFF on the guide's grid.

    ``guide_bands``/``bands``: 1-based band numbers (and order) of the guide and low-res files.
    """
    out_path = check_output(out, overwrite)
    for p in (guide, lowres):
        if Path(p).exists() and out_path.exists() and Path(p).resolve() == out_path.resolve():
            raise OutputError(f"{out_path}: is an input file; write the output to another path")
    with RasterReader(guide, bands=guide_bands) as g, RasterReader(lowres, bands=bands) as lo:
        ratio = ratio_of((g.height, g.width), (lo.height, lo.width), f"{lo.path}")
        check_footprint(g.info, lo.info, ratio)
        try:
            net = load_guided(model, ratio, device=device, weights=weights)
        except SatsrError as exc:
            raise type(exc)(f"{lo.path}: {exc}") from exc
        check_counts(net, g.count, lo.count, g.path, lo.path)
        profile = output_profile(lo.info, ratio, lo.bands, compress=compress, blocksize=OUTPUT_BLOCK)
        use_grid_of(profile, g.info)
        with gdal_env(), RasterWriter(out_path, profile, overwrite=overwrite) as writer:
            run_guided(GuidedSource(lo, g, ratio), net, writer, tile=tile, quiet=quiet, label=f"sharpening x{ratio}")
    return out_path


# ----------------------------------------------------------------------------- Sentinel-2 folders


def sharpen_s2_folder(folder: str | os.PathLike[str], out: str | os.PathLike[str], model: str = "hpi", *,
                      tile: int = DEFAULT_TILE, overwrite: bool = False, compress: str = "deflate",
                      device: str = "cpu", quiet: bool = True) -> Path:
    """All 13 bands of a Sentinel-2 folder at 10 m (ESA order B01..B08, B8A, B09..B12) in one GeoTIFF.

    The 10 m bands are copied unchanged; B05-B07, B8A, B11, B12 are sharpened at ratio 2 and B01, B09
    at ratio 6 by ``model`` (``dsen2``: the weights for each ratio; ``hpi``; ``bicubic``), B10 by
    ``hpi`` (or bicubic when ``model`` is bicubic), guided by B04, B03, B02, B08. DN 0 is no data.
    Each group is one pass of the tile engine into its bands of the output (band-interleaved, so the
    passes never rewrite each other's blocks).
    """
    files = s2_band_files(folder)
    out_path = check_output(out, overwrite)
    readers: dict[str, RasterReader] = {}
    try:
        for b in S2_BANDS:
            readers[b] = RasterReader(files[b], bands=[1])
        ref = readers["B02"]
        H, W = ref.height, ref.width
        for b, rd in readers.items():
            q = 1 if b in S2_10M else 2 if b in S2_20M else 6
            if (rd.height * q, rd.width * q) != (H, W):
                raise InputError(f"{rd.path}: {rd.width}x{rd.height} px is not 1/{q} of B02's {W}x{H} px; "
                                 f"the folder must hold one scene at native resolutions")
            if q > 1:
                check_footprint(ref.info, rd.info, q)

        def stack(names: Sequence[str]) -> StackedSource:
            return StackedSource([readers[n] for n in names])

        m2 = load_guided(model, 2, device=device)
        m6 = load_guided(model, 6, device=device)
        m10 = load_guided("bicubic" if m6.name == "guided-bicubic" else "hpi", 6)
        passes = []
        for names, q, net in ((S2_20M, 2, m2), (("B01", "B09"), 6, m6), (("B10",), 6, m10)):
            if net.bands not in (None, len(names)):
                raise OptionError(f"{net.describe()} takes {net.bands} low-res bands, not {len(names)} ({names})")
            passes.append((names, GuidedSource(stack(names), stack(guide_order(net) or list(S2_GUIDE)), q), net))

        profile = output_profile(ref.info, 1, compress=compress, blocksize=OUTPUT_BLOCK)
        profile.creation.update(count=len(S2_BANDS), nodata=S2_NODATA, interleave="band")
        profile.descriptions = S2_BANDS
        method = {b: "copy (native 10 m)" for b in S2_10M}
        method.update({b: f"{m2.name} x2" for b in S2_20M})
        method.update({"B01": f"{m6.name} x6", "B09": f"{m6.name} x6", "B10": f"{m10.name} x6"})
        profile.band_tags = tuple({"SATSR_METHOD": method[b], "SOURCE": files[b].name} for b in S2_BANDS)
        profile.colorinterp = ()
        profile.scales = profile.offsets = profile.units = ()
        index = {b: i + 1 for i, b in enumerate(S2_BANDS)}
        with gdal_env(), RasterWriter(out_path, profile, overwrite=overwrite) as writer:
            _copy_bands(stack(S2_10M), BandSink(writer, [index[b] for b in S2_10M]))
            for names, source, net in passes:
                run_guided(source, net, BandSink(writer, [index[b] for b in names]), tile=tile, quiet=quiet,
                           label=f"sharpening {','.join(names)} x{source.ratio}")
    finally:
        for rd in readers.values():
            rd.close()
    return out_path


def _copy_bands(source: StackedSource, sink: BandSink) -> None:
    """Bands already on the output grid, copied in whole output blocks (NaN = nodata, as the engine writes)."""
    step = max(1, sink.block_rows)
    for r0 in range(0, source.height, step):
        data, valid = source.read_tile(r0, min(r0 + step, source.height), 0, source.width)
        data[~valid] = np.nan
        sink.write_rows(data, r0)


__all__ = ["S2_BANDS", "fit_scene", "load_guided", "run_guided", "sharpen_arrays", "sharpen_files",
           "sharpen_s2_folder"]
