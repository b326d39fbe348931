"""Images as float ``(C, H, W)`` arrays: the one reader every room uses, and a plain PNG/JPEG writer.

``read_image`` reads anything satsr takes as an image file: PNG/JPEG/BMP through Pillow, and
GeoTIFF/TIFF/JP2/VRT through rasterio (``satsr.io.raster``). Pillow reads 8- and 16-bit greyscale and
8-bit colour; it silently reduces 16-bit colour PNGs to 8 bits, so those are read through GDAL's PNG
driver instead. An alpha channel (RGBA, LA, or a palette's transparency) is transparency, not a
band: it is dropped. Values stay in the file's units (0..255, 0..65535, reflectance, ...); callers
normalise. ``image_dtype`` says what the file stores (e.g. to treat 8-bit data as the SR benchmarks
do).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from satsr.errors import InputError, OptionError, OutputError
from satsr.io.files import atomic_path

RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt")
PLAIN_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
IMAGE_SUFFIXES = PLAIN_SUFFIXES + RASTER_SUFFIXES

_WIDE_RAW_MODES = ("RGB;16", "RGBA;16", "LA;16")
_CORRUPT = "the file looks truncated or corrupt, re-export it"
# Pillow modes that store 8-bit samples
_BYTE_MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr")
# Pillow modes read as three bands
_COLOUR_MODES = ("RGB", "RGBA", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV")


def _is_wide_colour(im: Image.Image) -> bool:
    tiles = getattr(im, "tile", None) or []
    return any(mode in str(t[3]) for t in tiles if len(t) > 3 for mode in _WIDE_RAW_MODES)


def image_bit_depth(array: np.ndarray) -> int:
    """8 or 16: the bit depth a read image came from (by its value range)."""
    return 16 if float(np.nanmax(array, initial=0)) > 255 else 8


def _is_raster(p: Path) -> bool:
    return p.suffix.lower() in RASTER_SUFFIXES


def read_image(path: str | os.PathLike[str], bands: Sequence[int] | None = None) -> np.ndarray:
    """Read an image file into float32 ``(C, H, W)`` in its own value range (see the module docstring).

    ``bands``: 1-based bands to keep, in that order (all when None).
    """
    p = Path(path)
    if _is_raster(p):
        from satsr.io.raster import RasterReader

        with RasterReader(p, bands=bands) as r:
            return r.read().astype(np.float32)
    arr = _read_plain(p)
    if bands is None:
        return arr
    chosen = [int(b) for b in bands]
    bad = [b for b in chosen if not 1 <= b <= arr.shape[0]]
    if bad or not chosen:
        raise OptionError(f"{p}: band {bad[0] if bad else '(none)'} is out of range; the image has "
                          f"{arr.shape[0]} band(s)")
    return arr[[b - 1 for b in chosen]]


def _read_plain(p: Path) -> np.ndarray:
    if not p.exists():
        raise InputError(f"{p}: no such file; check the path")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, not an image file; give an image file")
    try:
        with Image.open(p) as im:
            if _is_wide_colour(im):
                return _read_wide(p)
            if im.mode == "1":
                im = im.convert("L")  # bilevel masks: 0 / 255
            elif im.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
                im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
            if im.mode in ("RGBA", "LA"):
                im = im.convert(im.mode[:-1])  # transparency is not a band
            arr = np.asarray(im)
    except UnidentifiedImageError as exc:
        raise InputError(f"{p}: not an image Pillow can read (cannot decode it as PNG, JPEG or BMP); "
                         f"{_CORRUPT}") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{p}: cannot decode the image ({exc}); {_CORRUPT}") from exc
    arr = arr.astype(np.float32)
    return arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0).copy()


def _read_wide(p: Path) -> np.ndarray:
    """A 16-bit colour PNG through GDAL (all 16 bits kept), alpha dropped."""
    from satsr.io.raster import RasterReader

    with RasterReader(p) as r:
        arr = r.read().astype(np.float32)
    return arr[:-1] if arr.shape[0] in (2, 4) else arr


def image_shape(path: str | os.PathLike[str]) -> tuple[int, int, int]:
    """``(bands, height, width)`` as ``read_image`` will return them, from the header only (cheap
    enough to check a whole dataset's pairing before any pixel is decoded)."""
    p = Path(path)
    if _is_raster(p):
        from satsr.io.raster import inspect

        info = inspect(p)
        return info.count, info.height, info.width
    if not p.is_file():
        raise InputError(f"{p}: no such file; check the path")
    try:
        with Image.open(p) as im:
            if _is_wide_colour(im):
                grey = any("LA;16" in str(t[3]) for t in im.tile if len(t) > 3)
                bands = 1 if grey else 3
            else:
                bands = 3 if im.mode in _COLOUR_MODES else 1  # alpha is dropped, palettes expand to RGB
            return bands, im.height, im.width
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{p}: cannot decode the image ({exc}); {_CORRUPT}") from exc


def image_dtype(path: str | os.PathLike[str]) -> str:
    """The sample type the file stores: ``uint8``, ``uint16``, ``int32``, ``float32``, ..."""
    p = Path(path)
    if _is_raster(p):
        from satsr.io.raster import inspect

        return inspect(p).dtype
    try:
        with Image.open(p) as im:
            if _is_wide_colour(im):
                return "uint16"
            mode = im.mode
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{p}: cannot decode the image ({exc}); {_CORRUPT}") from exc
    if mode in _BYTE_MODES:
        return "uint8"
    return {"I;16": "uint16", "I;16B": "uint16", "I;16L": "uint16", "I": "int32", "F": "float32"}.get(mode, "float32")


def value_scale_of(dtype: str) -> float:
    """The divisor that brings a file's values to about 0..1: 255 for bytes, 10000 for other integers
    (reflectance x 10000, the Sentinel-2 and Landsat convention), 1 for float data."""
    kind = np.dtype(dtype).kind
    if np.dtype(dtype).itemsize == 1 and kind == "u":
        return 255.0
    return 10000.0 if kind in "ui" else 1.0


def write_image(path: str | os.PathLike[str], array: np.ndarray, bits: int = 8) -> Path:
    """Write ``(C, H, W)`` or ``(H, W)`` values (rounded, clipped) as an 8- or 16-bit PNG/JPEG.

    16-bit output is single-band only (the limit of Pillow's PNG writer). Written atomically
    (``satsr.io.files.atomic_path``): a failed write leaves nothing.
    """
    p = Path(path)
    if not p.parent.exists():
        raise OutputError(f"{p}: output directory {p.parent} does not exist; create it first")
    data = np.asarray(array)
    if data.ndim == 3:
        data = data[0] if data.shape[0] == 1 else np.moveaxis(data, 0, -1)
    if bits == 16:
        if data.ndim != 2:
            raise OutputError(f"{p}: 16-bit images can be written for one band only")
        out = np.clip(np.rint(data), 0, 65535).astype(np.uint16)
    elif bits == 8:
        out = np.clip(np.rint(data), 0, 255).astype(np.uint8)
    else:
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    with atomic_path(p) as tmp:
        Image.fromarray(out).save(tmp, format=Image.registered_extensions().get(p.suffix.lower(), "PNG"))
    return p
