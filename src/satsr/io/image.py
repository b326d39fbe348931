"""Plain images (PNG, JPEG, TIFF without georeferencing) as float ``(C, H, W)`` arrays.

Pillow reads 8- and 16-bit greyscale and 8-bit colour; it silently reduces 16-bit colour PNGs to
8 bits, so those are read through rasterio's PNG driver instead. Values stay in the file's units
(0..255 or 0..65535); callers normalise.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from satsr.errors import InputError, OutputError

_WIDE_RAW_MODES = ("RGB;16", "RGBA;16", "LA;16")
_CORRUPT = "the file looks truncated or corrupt, re-export it"


def _is_wide_colour(im: Image.Image) -> bool:
    tiles = getattr(im, "tile", None) or []
    return any(mode in str(t[3]) for t in tiles if len(t) > 3 for mode in _WIDE_RAW_MODES)


def image_bit_depth(array: np.ndarray) -> int:
    """8 or 16: the bit depth a read image came from (by its value range)."""
    return 16 if float(np.nanmax(array, initial=0)) > 255 else 8


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image into float32 ``(C, H, W)`` in its own value range (palette -> RGB)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file; check the path")
    try:
        with Image.open(p) as im:
            if _is_wide_colour(im):
                return _read_with_rasterio(p)
            if im.mode in ("P", "PA", "1", "CMYK", "YCbCr", "LAB", "HSV"):
                im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
            arr = np.asarray(im)
    except UnidentifiedImageError as exc:
        raise InputError(f"{p}: not an image Pillow can read; give a PNG or JPEG file") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{p}: cannot decode the image ({exc}); {_CORRUPT}") from exc
    arr = arr.astype(np.float32)
    return arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0).copy()


def _read_with_rasterio(p: Path) -> np.ndarray:
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(p) as ds:
            return ds.read().astype(np.float32)
    except RasterioError as exc:
        raise InputError(f"{p}: cannot decode the image ({exc}); {_CORRUPT}") from exc


def write_image(path: str | os.PathLike[str], array: np.ndarray, bits: int = 8) -> Path:
    """Write ``(C, H, W)`` or ``(H, W)`` values (rounded, clipped) as an 8- or 16-bit PNG/JPEG.

    16-bit output is single-band only (the limit of Pillow's PNG writer).
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
    Image.fromarray(out).save(p)
    return p
