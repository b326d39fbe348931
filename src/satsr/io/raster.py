"""Raster input and output on rasterio.

Reading: ``open_raster`` checks the file (exists, is a raster, pixels can actually be decoded) and
returns a ``RasterReader`` that reads windows, optionally with extra context clipped to the image.
Writing: ``output_profile`` derives the output's georeferencing and metadata from the input (the
transform's linear terms divided by the scale, same origin, CRS, dtype, nodata, descriptions, tags,
colour interpretation) and ``RasterWriter`` writes it to a hidden temp file in the target directory,
renaming it into place only when everything succeeded, so a failed or interrupted run leaves nothing.
Every problem a user can cause becomes an ``InputError``/``OutputError`` with a one-line message.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rasterio.enums import ColorInterp
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.windows import Window

from satsr.errors import InputError, OptionError, OutputError
from satsr.io.files import replace, temp_path, unlink
from satsr.masking import to_dtype, valid_mask, working_dtype

COMPRESSIONS = ("deflate", "zstd", "lzw", "none")


def is_gdal_error(exc: BaseException) -> bool:
    """True for errors raised by rasterio/GDAL: ``RasterioError`` and GDAL's ``CPLE_*`` classes (these live
    in a private rasterio module, so they are recognised by where they come from, not imported)."""
    return isinstance(exc, RasterioError) or type(exc).__module__.split(".")[0] == "rasterio"


def gdal_env(**options: Any) -> rasterio.Env:
    """The GDAL environment satsr reads and writes in: a small block cache (rows are written in whole
    blocks, nothing needs caching), plus any ``options``."""
    return rasterio.Env(**{"GDAL_CACHEMAX": 64, **options})


def _reason(exc: BaseException) -> str:
    """One-line description of a rasterio/GDAL error, including its GDAL cause when present."""
    parts = [str(exc)]
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause) and str(cause) not in parts[0]:
        parts.append(str(cause))
    text = "; ".join(p for p in parts if p and "See previous exception" not in p) or parts[0]
    return " ".join(text.split())


# ----------------------------------------------------------------------------- inspection


@dataclass(frozen=True)
class RasterInfo:
    """What a raster is: size, bands, dtype, georeferencing and per-band metadata."""

    path: Path
    driver: str
    width: int
    height: int
    count: int
    dtype: str
    crs: CRS | None
    transform: Affine
    nodatavals: tuple[float | None, ...]
    descriptions: tuple[str | None, ...]
    colorinterp: tuple[ColorInterp, ...]
    tags: dict[str, str]
    band_tags: tuple[dict[str, str], ...]
    scales: tuple[float, ...]
    offsets: tuple[float, ...]
    units: tuple[str | None, ...]
    block_shape: tuple[int, int]
    compression: str | None
    gcps: tuple[list[GroundControlPoint], CRS | None] = field(default=([], None))

    @property
    def nodata(self) -> float | None:
        """The first band's nodata value (GeoTIFF stores one value for all bands)."""
        return self.nodatavals[0] if self.nodatavals else None

    @property
    def georeferenced(self) -> bool:
        return self.crs is not None or not self.transform.is_identity

    @property
    def gsd_m(self) -> float | None:
        """The pixel size in metres (the larger axis) when the CRS is projected in a linear unit, else None."""
        if self.crs is None or not self.crs.is_projected:
            return None
        try:
            _, factor = self.crs.linear_units_factor
        except Exception:  # rasterio raises CRSError for CRSs without a linear unit
            return None
        return max(self.resolution) * float(factor)

    @property
    def resolution(self) -> tuple[float, float]:
        """Pixel size (x, y) in CRS units, correct for rotated transforms too."""
        t = self.transform
        return (float(np.hypot(t.a, t.d)), float(np.hypot(t.b, t.e)))


def _info(ds: Any, path: Path) -> RasterInfo:
    count = ds.count
    return RasterInfo(
        path=path,
        driver=ds.driver,
        width=ds.width,
        height=ds.height,
        count=count,
        dtype=ds.dtypes[0],
        crs=ds.crs,
        transform=ds.transform,
        nodatavals=tuple(ds.nodatavals),
        descriptions=tuple(ds.descriptions),
        colorinterp=tuple(ds.colorinterp),
        tags=dict(ds.tags()),
        band_tags=tuple(dict(ds.tags(b)) for b in range(1, count + 1)),
        scales=tuple(ds.scales),
        offsets=tuple(ds.offsets),
        units=tuple(ds.units),
        block_shape=tuple(ds.block_shapes[0]) if count else (0, 0),
        compression=ds.compression.value if ds.compression is not None else None,
        gcps=ds.gcps if ds.gcps and ds.gcps[0] else ([], None),
    )


def check_input_path(path: str | os.PathLike[str]) -> Path:
    """The input path as a ``Path``; ``InputError`` when it does not exist or is not a file."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file; check the path")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, not a raster file; give an image file")
    return p


class RasterReader:
    """An open raster with error-checked reads; optionally restricted to some (1-based) bands.

    Also the ``read_tile`` source used by ``satsr.tiling.run_tiled``: float32 pixels plus a validity
    mask from nodata and NaN.
    """

    def __init__(self, path: str | os.PathLike[str], bands: Sequence[int] | None = None,
                 probe: bool = True) -> None:
        self.path = check_input_path(path)
        try:
            with warnings.catch_warnings():  # plain images are fine without georeferencing
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                self.dataset = rasterio.open(self.path)
        except Exception as exc:
            if not is_gdal_error(exc):
                raise
            reason = _reason(exc)
            if "not recognized" in reason or "not a supported" in reason:
                raise InputError(
                    f"{self.path}: not a raster satsr can read; give a GeoTIFF, COG, JP2 or PNG image"
                ) from exc
            raise InputError(
                f"{self.path}: cannot open ({reason}); the file looks truncated or corrupt, re-export it"
            ) from exc
        try:
            self.info = _info(self.dataset, self.path)
            if self.info.count == 0:
                raise InputError(f"{self.path}: the raster has no bands; give an image with pixel data")
            try:
                self.work_dtype = working_dtype(self.info.dtype)
            except ValueError as exc:
                raise InputError(f"{self.path}: {exc}") from exc
            self.bands = select_bands(self.info, bands)
            if probe:
                self._probe()
        except BaseException:
            self.dataset.close()
            raise

    # --- shape of the selected bands (the tiling source protocol) ----------------------------
    @property
    def count(self) -> int:
        return len(self.bands)

    @property
    def height(self) -> int:
        return self.info.height

    @property
    def width(self) -> int:
        return self.info.width

    @property
    def nodatavals(self) -> tuple[float | None, ...]:
        return tuple(self.info.nodatavals[b - 1] for b in self.bands)

    def _probe(self) -> None:
        """Decode the first and last pixel so truncated files fail here, before any output."""
        h, w = self.height, self.width
        for row, col in ((0, 0), (h - 1, w - 1)):
            self.read(Window(col, row, 1, 1))

    def read(self, window: Window | None = None, bands: Sequence[int] | None = None) -> np.ndarray:
        """Pixels ``(C, h, w)`` in the file's dtype; decoding failures become ``InputError``."""
        idx = list(bands) if bands is not None else list(self.bands)
        try:
            return self.dataset.read(idx, window=window)
        except Exception as exc:
            if not is_gdal_error(exc):
                raise
            raise InputError(
                f"{self.path}: cannot read pixels ({_reason(exc)}); "
                "the file looks truncated or corrupt, re-download or re-export it"
            ) from exc

    def read_with_margin(self, window: Window, margin: int,
                         bands: Sequence[int] | None = None) -> tuple[np.ndarray, Window]:
        """Read ``window`` grown by ``margin`` pixels on each side, clipped to the image.

        Returns the pixels and the window actually read (clipping, never padding, at image edges).
        """
        row0 = max(0, int(window.row_off) - margin)
        col0 = max(0, int(window.col_off) - margin)
        row1 = min(self.height, int(window.row_off + window.height) + margin)
        col1 = min(self.width, int(window.col_off + window.width) + margin)
        actual = Window(col0, row0, col1 - col0, row1 - row0)
        return self.read(actual, bands), actual

    def overview(self, max_side: int = 256) -> np.ndarray:
        """A decimated copy of the selected bands (at most ``max_side`` px a side, nearest neighbour) as
        float64 with NaN for nodata: cheap statistics of a scene of any size."""
        step = max(1, math.ceil(max(self.height, self.width) / max_side))
        shape = (self.count, max(1, self.height // step), max(1, self.width // step))
        try:
            data = self.dataset.read(list(self.bands), out_shape=shape)
        except Exception as exc:
            if not is_gdal_error(exc):
                raise
            raise InputError(f"{self.path}: cannot read pixels ({_reason(exc)}); the file looks truncated or "
                             "corrupt, re-download or re-export it") from exc
        return np.where(valid_mask(data, self.nodatavals), data, np.nan).astype(np.float64)

    def read_tile(self, row0: int, row1: int, col0: int, col1: int) -> tuple[np.ndarray, np.ndarray]:
        """Pixels in ``work_dtype`` (``satsr.masking.working_dtype``) and their validity (nodata/NaN ->
        False) of rows ``[row0, row1)`` and columns ``[col0, col1)``."""
        raw = self.read(Window(col0, row0, col1 - col0, row1 - row0))
        valid = valid_mask(raw, self.nodatavals)
        return raw.astype(self.work_dtype, copy=False), valid

    def close(self) -> None:
        self.dataset.close()

    def __enter__(self) -> RasterReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_raster(path: str | os.PathLike[str], bands: Sequence[int] | None = None) -> RasterReader:
    """Open and check a raster (GeoTIFF, COG, JP2, PNG, ... anything GDAL reads)."""
    return RasterReader(path, bands=bands)


def inspect(path: str | os.PathLike[str]) -> RasterInfo:
    """Read a raster's metadata (after checking that its pixels decode)."""
    with RasterReader(path) as r:
        return r.info


def select_bands(info: RasterInfo, bands: Sequence[int] | None) -> list[int]:
    """Validate 1-based band numbers against the file; all bands when ``bands`` is None."""
    if bands is None:
        return list(range(1, info.count + 1))
    chosen = [int(b) for b in bands]
    if not chosen:
        raise OptionError(f"{info.path}: no bands selected; give band numbers such as --bands 1,2,3")
    bad = [b for b in chosen if not 1 <= b <= info.count]
    if bad:
        raise OptionError(
            f"{info.path}: band {bad[0]} is out of range; the file has {info.count} band"
            f"{'s' if info.count > 1 else ''} (numbered 1-{info.count})"
        )
    return chosen


def iter_strips(reader: RasterReader, rows: int = 512) -> Iterator[np.ndarray]:
    """Yield the selected bands in full-width strips of ``rows`` rows (bounded memory)."""
    for row0 in range(0, reader.height, rows):
        yield reader.read(Window(0, row0, reader.width, min(rows, reader.height - row0)))


# ----------------------------------------------------------------------------- output profile


@dataclass
class OutputProfile:
    """Everything needed to create the output: rasterio creation options plus metadata."""

    creation: dict[str, Any]
    descriptions: tuple[str | None, ...] = ()
    colorinterp: tuple[ColorInterp, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    band_tags: tuple[dict[str, str], ...] = ()
    scales: tuple[float, ...] = ()
    offsets: tuple[float, ...] = ()
    units: tuple[str | None, ...] = ()
    gcps: tuple[list[GroundControlPoint], CRS | None] = field(default=([], None))
    cog: bool = False

    @property
    def width(self) -> int:
        return int(self.creation["width"])

    @property
    def height(self) -> int:
        return int(self.creation["height"])

    @property
    def count(self) -> int:
        return int(self.creation["count"])

    @property
    def dtype(self) -> str:
        return str(self.creation["dtype"])

    @property
    def nodata(self) -> float | None:
        return self.creation.get("nodata")

    @property
    def block_rows(self) -> int:
        return int(self.creation.get("blockysize", 1))


def scaled_transform(transform: Affine, scale: float | Fraction) -> Affine:
    """``transform * Affine.scale(1/scale)``: linear terms divided by ``scale``, same origin."""
    return transform @ Affine.scale(1.0 / float(scale))


def output_profile(info: RasterInfo, scale: int | Fraction, bands: Sequence[int] | None = None, *,
                   compress: str = "deflate", blocksize: int | None = None, cog: bool = False,
                   dtype: str | None = None) -> OutputProfile:
    """Output profile for ``info`` upscaled by ``scale`` (optionally only some 1-based bands).

    Tiled blocks of 512 (256 for outputs narrower than 512 px), deflate or zstd with a predictor,
    BigTIFF when needed. Stale ``STATISTICS_*`` band tags are dropped.
    """
    compress = compress.lower()
    if compress not in COMPRESSIONS:
        choices = ", ".join(COMPRESSIONS)
        raise OptionError(f"compression {compress!r} is not supported; choose one of {choices}")
    idx = select_bands(info, bands)
    # a fractional scale: floor(in * scale) px, the same origin, pixel size / scale
    width, height = math.floor(info.width * scale), math.floor(info.height * scale)
    if blocksize is None:
        blocksize = 512 if min(width, height) >= 512 else 256
    if blocksize % 16:
        raise OptionError(f"block size {blocksize} must be a multiple of 16")
    out_dtype = dtype or info.dtype
    nodata = info.nodatavals[idx[0] - 1]
    creation: dict[str, Any] = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": len(idx),
        "dtype": out_dtype,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": blocksize,
        "blockysize": blocksize,
        "BIGTIFF": "IF_SAFER",
        "NUM_THREADS": "ALL_CPUS",  # parallel compression
    }
    if info.georeferenced and not info.gcps[0]:
        creation["transform"] = scaled_transform(info.transform, scale)
    if info.crs is not None and not info.gcps[0]:
        creation["crs"] = info.crs
    if compress != "none":
        creation["compress"] = compress
        creation["predictor"] = 3 if np.dtype(out_dtype).kind == "f" else 2
    gcps: tuple[list[GroundControlPoint], CRS | None] = ([], None)
    if info.gcps[0]:
        points, gcrs = info.gcps
        gcps = ([GroundControlPoint(row=g.row * float(scale), col=g.col * float(scale), x=g.x, y=g.y, z=g.z,
                                    id=g.id, info=g.info) for g in points], gcrs)

    def pick(values: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(values[b - 1] for b in idx) if values else ()

    band_tags = tuple({k: v for k, v in t.items() if not k.startswith("STATISTICS_")}
                      for t in pick(info.band_tags))
    return OutputProfile(
        creation=creation,
        descriptions=pick(info.descriptions),
        colorinterp=pick(info.colorinterp),
        tags=dict(info.tags),
        band_tags=band_tags,
        scales=pick(info.scales),
        offsets=pick(info.offsets),
        units=pick(info.units),
        gcps=gcps,
        cog=cog,
    )


def check_footprint(guide: RasterInfo, lowres: RasterInfo, ratio: int) -> None:
    """``InputError`` when two georeferenced rasters do not cover the same area, the low-res one on a grid
    ``ratio`` times coarser (origins within half a low-res pixel, pixel sizes exactly ``ratio`` apart)."""
    if not (guide.georeferenced and lowres.georeferenced):
        return
    if guide.crs is not None and lowres.crs is not None and guide.crs != lowres.crs:
        raise InputError(f"{lowres.path}: CRS {lowres.crs} differs from the guide's ({guide.crs}); "
                         "reproject one of them first")
    gt, lt = guide.transform, lowres.transform
    px = max(abs(lt.a), abs(lt.e), 1e-12)
    if abs(lt.c - gt.c) > px / 2 or abs(lt.f - gt.f) > px / 2 or abs(lt.a - gt.a * ratio) > 1e-6 * px \
            or abs(lt.e - gt.e * ratio) > 1e-6 * px:
        raise InputError(
            f"{lowres.path}: does not cover the guide's footprint on a {ratio}x coarser grid (origin or "
            "pixel size differ); crop both to the same area first"
        )


def use_grid_of(profile: OutputProfile, info: RasterInfo) -> None:
    """Put an output profile on ``info``'s grid: its size, transform and CRS (a raster without any keeps the
    georeferencing already in ``profile``)."""
    c = profile.creation
    c["width"], c["height"] = info.width, info.height
    if not info.georeferenced or info.gcps[0]:
        return
    c.pop("crs", None)
    c["transform"] = info.transform
    if info.crs is not None:
        c["crs"] = info.crs
    profile.gcps = ([], None)


def bounds_in(info: RasterInfo, crs: CRS | None = None) -> tuple[float, float, float, float]:
    """``info``'s footprint (left, bottom, right, top) in ``crs`` (its own CRS when None or the same)."""
    from rasterio.transform import array_bounds
    from rasterio.warp import transform_bounds

    west, south, east, north = (float(v) for v in array_bounds(info.height, info.width, info.transform))
    left, bottom, right, top = min(west, east), min(south, north), max(west, east), max(south, north)
    if crs is None or info.crs is None or crs == info.crs:
        return left, bottom, right, top
    return tuple(float(v) for v in transform_bounds(info.crs, crs, left, bottom, right, top, densify_pts=21))


def overlap_window(lr: RasterInfo, other: RasterInfo, bounds: Sequence[float] | None = None,
                   min_side: int = 8) -> tuple[int, int, int, int]:
    """Rows/cols ``(r0, r1, c0, c1)`` of ``lr`` (whole pixels) inside ``lr``, ``other``'s footprint and
    ``bounds`` (left, bottom, right, top in ``lr``'s CRS); ``InputError`` when they do not overlap by at
    least ``min_side`` px each way."""
    boxes = [bounds_in(lr), bounds_in(other, lr.crs)]
    if bounds is not None:
        if len(bounds) != 4 or bounds[0] >= bounds[2] or bounds[1] >= bounds[3]:
            raise OptionError(f"--bounds {list(bounds)}: give LEFT,BOTTOM,RIGHT,TOP with left < right, bottom < top")
        boxes.append(tuple(float(v) for v in bounds))
    left, bottom = max(b[0] for b in boxes), max(b[1] for b in boxes)
    right, top = min(b[2] for b in boxes), min(b[3] for b in boxes)
    inv = ~lr.transform
    cols, rows = zip(*(inv @ (x, y) for x, y in ((left, top), (right, bottom), (left, bottom), (right, top))),
                     strict=True)
    c0, c1 = max(0, math.ceil(min(cols) - 1e-6)), min(lr.width, math.floor(max(cols) + 1e-6))
    r0, r1 = max(0, math.ceil(min(rows) - 1e-6)), min(lr.height, math.floor(max(rows) + 1e-6))
    if right <= left or top <= bottom or c1 - c0 < min_side or r1 - r0 < min_side:
        raise InputError(f"{other.path}: does not overlap {lr.path}" + (" inside --bounds" if bounds is not None
                                                                          else "")
                         + f" by at least {min_side} x {min_side} of its pixels; give an image of the same place")
    return r0, r1, c0, c1


def reproject_onto(path: str | os.PathLike[str], bands: Sequence[int] | None, transform: Affine, crs: CRS | None,
                   shape: tuple[int, int], resampling: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """The raster at ``path`` (1-based ``bands``) warped onto the grid ``(transform, crs, shape)``.

    Returns float64 ``(C, H, W)`` values and their validity (False where the source has nodata, NaN or
    no coverage). ``resampling="auto"`` averages when the source is finer than the grid (an
    anti-aliasing reduction: each grid pixel is the mean of the source pixels it covers) and is cubic
    otherwise; or name one of rasterio's methods ("average", "cubic", "bilinear", "nearest", ...).
    """
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    with RasterReader(path, bands=bands) as src:
        info = src.info
        if resampling == "auto":
            finer = max(info.resolution) < 0.75 * min(abs(transform.a), abs(transform.e))
            resampling = "average" if finer else "cubic"
        try:
            method = Resampling[resampling]
        except KeyError as exc:
            raise OptionError(f"resampling {resampling!r} is not one of rasterio's methods") from exc
        data = src.read().astype(np.float64)
        valid = valid_mask(data, src.nodatavals).astype(np.float64)
    out = np.full((data.shape[0], *shape), np.nan)
    cover = np.zeros((data.shape[0], *shape))
    src_crs = info.crs if info.crs is not None else crs
    dst_crs = crs if crs is not None else src_crs
    filled = np.where(valid > 0, data, np.nan)
    try:
        with gdal_env():
            for b in range(data.shape[0]):
                reproject(filled[b], out[b], src_transform=info.transform, src_crs=src_crs, src_nodata=np.nan,
                          dst_transform=transform, dst_crs=dst_crs, dst_nodata=np.nan, resampling=method)
                # the share of each grid pixel covered by valid source pixels: partly covered pixels are invalid
                reproject(valid[b], cover[b], src_transform=info.transform, src_crs=src_crs,
                          dst_transform=transform, dst_crs=dst_crs, dst_nodata=0.0, resampling=Resampling.average)
    except Exception as exc:
        if not is_gdal_error(exc):
            raise
        raise InputError(f"{info.path}: cannot reproject onto the output grid ({_reason(exc)})") from exc
    ok = np.isfinite(out) & (cover > 0.999)
    return out, ok


def map_profile(info: RasterInfo, scale: int, bands: Sequence[int], kind: str, meaning: str, *, cog: bool = False,
                compress: str = "deflate", degradation: str | None = None) -> OutputProfile:
    """float32 profile on the output's grid for a per-pixel map of ``kind`` (NaN = nodata, band *k*
    describes output band *k*), tagged with what it means (``SATSR_MAP``, ``SATSR_MAP_MEANING``)."""
    prof = output_profile(info, scale, bands, cog=cog, compress=compress, dtype="float32")
    prof.creation["nodata"] = float("nan")
    names = [d or f"band {b}" for d, b in zip(prof.descriptions or [None] * len(bands), bands, strict=True)]
    prof.descriptions = tuple(f"{kind} of {n}" for n in names)
    prof.colorinterp = tuple(ColorInterp.undefined for _ in bands) if len(bands) > 1 else (ColorInterp.gray,)
    prof.band_tags = ()
    prof.scales, prof.offsets, prof.units = (), (), ()
    prof.tags = {**prof.tags, "SATSR_MAP": kind, "SATSR_MAP_MEANING": meaning}
    if degradation is not None:
        prof.tags["SATSR_DEGRADATION"] = degradation
    return prof


# ----------------------------------------------------------------------------- writing


def check_output(path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Check that ``path`` can be written; ``OutputError`` saying what to do when not."""
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"{p}: is a directory; give an output file name such as {p / 'out.tif'}")
    if p.exists() and not overwrite:
        raise OutputError(f"{p}: output exists; pass --overwrite to replace it or choose another name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        raise OutputError(f"{p}: output directory {parent} does not exist; create it first")
    if not parent.is_dir():
        raise OutputError(f"{p}: {parent} is not a directory; choose an output inside a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{p}: output directory {parent} is not writable; choose a writable location")
    return p


class _GdalWriteErrors(logging.Handler):
    """Collects the write errors GDAL signals while outputs are open.

    Some never become exceptions: with multi-threaded compression a full disk is only reported by
    GDAL's error handler, which rasterio logs (``GDAL signalled an error``), and the file is closed
    as if complete. ``RasterWriter`` checks this log before renaming its temp file into place.
    """

    PATTERN = re.compile(r"write|space|too large|disk|i/o", re.IGNORECASE)

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []
        self.users = 0
        self.lock = threading.Lock()
        self.saved_level = logging.NOTSET

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if "GDAL signalled an error" in msg and self.PATTERN.search(msg):
            self.messages.append(msg.split("msg=", 1)[-1].strip("'\""))

    def attach(self) -> int:
        """Start listening (shared by all open writers); returns the current message count."""
        with self.lock:
            if self.users == 0:
                log = logging.getLogger("rasterio")
                self.saved_level = log.level
                if log.getEffectiveLevel() > logging.INFO:
                    log.setLevel(logging.INFO)
                log.addHandler(self)
            self.users += 1
            return len(self.messages)

    def detach(self) -> None:
        with self.lock:
            self.users -= 1
            if self.users == 0:
                log = logging.getLogger("rasterio")
                log.removeHandler(self)
                log.setLevel(self.saved_level)
                self.messages.clear()


_WRITE_ERRORS = _GdalWriteErrors()


# Values ``_cast_rows`` casts at a time: its temporaries (clipped copy, NaN mask) stay a few MB, which
# malloc reuses, instead of block-row sized arrays mapped afresh for every write (a page fault per page;
# issue 18 measured the faults of fresh memory at several times the cast itself)
_CAST_CHUNK = 1 << 20


def _cast_rows(data: np.ndarray, dtype: str | np.dtype, nodata: Any) -> np.ndarray:
    """``to_dtype`` of ``(C, h, w)`` float ``data``, a few rows at a time, into one array (the same values:
    the cast is per pixel)."""
    if data.ndim != 3 or data.size <= _CAST_CHUNK:
        return to_dtype(data, dtype, nodata)
    out = np.empty(data.shape, dtype=dtype)
    rows = max(1, _CAST_CHUNK // (data.shape[0] * data.shape[2]))
    for r in range(0, data.shape[1], rows):
        out[:, r:r + rows] = to_dtype(data[:, r:r + rows], dtype, nodata)
    return out


class RasterWriter:
    """Writes an output raster atomically: temp file in the target directory, renamed at the end.

    Use as a context manager: a normal exit finalises (optional COG conversion, rename into place);
    any exception, KeyboardInterrupt included, removes the temp file and leaves no output.
    Also the ``write_rows`` sink used by ``satsr.tiling.run_tiled``.
    """

    def __init__(self, path: str | os.PathLike[str], profile: OutputProfile, overwrite: bool = False) -> None:
        self.path = check_output(path, overwrite)
        self.profile = profile
        self.overwrite = overwrite
        self.tmp: Path | None = None
        self.dataset: Any = None
        self.done = False
        self._errors_from: int | None = None  # position in the GDAL write-error log when opened

    @property
    def block_rows(self) -> int:
        return self.profile.block_rows

    def open(self) -> RasterWriter:
        self.tmp = temp_path(self.path, ".tif")
        self._errors_from = _WRITE_ERRORS.attach()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                self.dataset = rasterio.open(self.tmp, "w", **self.profile.creation)
            self._write_metadata()
        except BaseException as exc:
            self.abort()
            if is_gdal_error(exc):
                raise OutputError(f"{self.path}: cannot create the output ({_reason(exc)})") from exc
            raise
        return self

    def _write_metadata(self) -> None:
        ds, prof = self.dataset, self.profile
        if prof.tags:
            ds.update_tags(**prof.tags)
        for b in range(1, ds.count + 1):
            if prof.descriptions and prof.descriptions[b - 1]:
                ds.set_band_description(b, prof.descriptions[b - 1])
            if prof.band_tags and prof.band_tags[b - 1]:
                ds.update_tags(b, **prof.band_tags[b - 1])
            if prof.units and prof.units[b - 1]:
                ds.set_band_unit(b, prof.units[b - 1])
        if prof.scales and any(s != 1.0 for s in prof.scales):
            ds.scales = prof.scales
        if prof.offsets and any(o != 0.0 for o in prof.offsets):
            ds.offsets = prof.offsets
        if prof.colorinterp and len(prof.colorinterp) == ds.count:
            try:
                ds.colorinterp = prof.colorinterp
            except Exception as exc:  # a colour interpretation GDAL refuses for this layout is dropped
                if not (is_gdal_error(exc) or isinstance(exc, ValueError)):
                    raise
        if prof.gcps[0]:
            ds.gcps = prof.gcps

    def write(self, data: np.ndarray, window: Window | None = None, indexes: Sequence[int] | None = None) -> None:
        """Write ``(C, h, w)`` pixels at ``window`` (whole image when None), into the 1-based bands
        ``indexes`` (all bands when None).

        Float data is cast into the output dtype first (rounded, clipped, NaN -> nodata);
        data already in the output dtype is written as is.
        """
        if self.dataset is None:
            raise RuntimeError("RasterWriter is not open; use it as a context manager")
        if data.dtype != np.dtype(self.profile.dtype):
            data = _cast_rows(data.astype(np.float32, copy=False) if data.dtype.kind != "f" else data,
                              self.profile.dtype, self.profile.nodata)
        try:
            self.dataset.write(data, window=window, indexes=list(indexes) if indexes is not None else None)
        except Exception as exc:
            if not is_gdal_error(exc):
                raise
            raise OutputError(f"{self.path}: writing failed ({_reason(exc)}); check free disk space") from exc

    def write_rows(self, values: np.ndarray, row_off: int, indexes: Sequence[int] | None = None) -> None:
        """Write full-width rows ``[row_off, row_off + rows)`` (float, NaN = nodata), into ``indexes``."""
        self.write(values, Window(0, row_off, values.shape[-1], values.shape[-2]), indexes)

    def commit(self) -> Path:
        """Close, convert to COG when asked, and rename into place. Returns the output path."""
        assert self.tmp is not None
        cog_tmp: Path | None = None
        try:
            self.dataset.close()
            self.dataset = None
            self._check_write_errors()
            final = self.tmp
            if self.profile.cog:
                cog_tmp = temp_path(self.path, ".tif")
                opts = {"BLOCKSIZE": self.profile.creation.get("blockxsize", 512), "BIGTIFF": "IF_SAFER",
                        "NUM_THREADS": "ALL_CPUS"}
                if "compress" in self.profile.creation:
                    opts["COMPRESS"] = self.profile.creation["compress"].upper()
                    opts["PREDICTOR"] = "YES"
                rasterio.shutil.copy(self.tmp, cog_tmp, driver="COG", **opts)
                self._check_write_errors()
                unlink(self.tmp)
                self.tmp, final = cog_tmp, cog_tmp
            replace(final, self.path)
            self.tmp = None
            self.done = True
            self._release()
            return self.path
        except BaseException as exc:
            self.abort()
            unlink(cog_tmp)
            if is_gdal_error(exc):
                raise OutputError(f"{self.path}: cannot finish the output ({_reason(exc)})") from exc
            raise

    def _check_write_errors(self) -> None:
        """``OutputError`` when GDAL signalled a write error since this writer opened."""
        if self._errors_from is not None and len(_WRITE_ERRORS.messages) > self._errors_from:
            first = _WRITE_ERRORS.messages[self._errors_from]
            raise OutputError(f"{self.path}: writing failed ({first}); check free disk space")

    def _release(self) -> None:
        if self._errors_from is not None:
            self._errors_from = None
            _WRITE_ERRORS.detach()

    def abort(self) -> None:
        """Close and delete the temp file; nothing is left at the output path."""
        if self.dataset is not None:
            with contextlib.suppress(Exception):
                self.dataset.close()
            self.dataset = None
        unlink(self.tmp)
        self.tmp = None
        self._release()

    def __enter__(self) -> RasterWriter:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def write_raster(path: str | os.PathLike[str], data: np.ndarray, profile: OutputProfile,
                 overwrite: bool = False) -> Path:
    """Write a whole ``(C, H, W)`` array atomically (small outputs, tests)."""
    with RasterWriter(path, profile, overwrite=overwrite) as w:
        w.write(data)
    return Path(path)
