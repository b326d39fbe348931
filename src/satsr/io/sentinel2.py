"""Sentinel-2 band files: names, native resolutions, and finding the 13 bands of a scene on disk.

A scene is a folder of single-band files named like a ``.SAFE`` product's ``IMG_DATA``
(``T33UUU_20170216T102101_B05.jp2``, optionally with a resolution suffix ``_B05_20m.jp2``, or GeoTIFF);
a ``.SAFE`` folder with one granule is searched for its ``IMG_DATA``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from satsr.errors import InputError

S2_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
S2_10M = ("B02", "B03", "B04", "B08")
S2_20M = ("B05", "B06", "B07", "B8A", "B11", "B12")
S2_60M = ("B01", "B09", "B10")
S2_GUIDE = ("B04", "B03", "B02", "B08")  # network guide order (the DSen2 convention)
S2_NODATA = 0  # Sentinel-2 L1C/L2A: DN 0 is "no data"
BAND_RE = re.compile(r"_(B(?:0[1-9]|1[0-2]|8A))(?:_\d{2}m)?\.(jp2|tif|tiff|vrt)$", re.IGNORECASE)


def band_name(path: Path) -> str | None:
    """Sentinel-2 band name (``B01``..``B12``, ``B8A``) from a file name, or None."""
    m = BAND_RE.search(path.name)
    return m.group(1).upper() if m else None


def band_files(paths: Iterable[Path], where: str) -> dict[str, Path]:
    """Band name -> file among ``paths`` (others ignored); ``InputError`` when a band appears twice."""
    out: dict[str, Path] = {}
    for p in sorted(paths):
        name = band_name(p)
        if name is None or not p.is_file():
            continue
        if name in out:
            raise InputError(f"{where}: band {name} appears twice ({out[name].name}, {p.name}); "
                             "keep one scene per folder")
        out[name] = p
    return out


def s2_band_files(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """All 13 band files of a Sentinel-2 ``IMG_DATA``-like folder (or a ``.SAFE`` with one granule).

    ``InputError`` when the folder is missing, a band is missing or appears twice.
    """
    d = Path(folder)
    if not d.exists():
        raise InputError(f"{d}: no such folder; give a Sentinel-2 IMG_DATA folder with B01..B12 and B8A files")
    if not d.is_dir():
        raise InputError(f"{d}: is a file; give a folder of Sentinel-2 band files, or use --guide and --lowres")
    granules = sorted(d.glob("GRANULE/*/IMG_DATA"))
    if len(granules) == 1 and not any(band_name(p) for p in d.iterdir()):
        d = granules[0]  # a .SAFE product folder: its single granule's image folder
    found = band_files(d.iterdir(), str(d))
    missing = [b for b in S2_BANDS if b not in found]
    if missing:
        raise InputError(f"{d}: Sentinel-2 bands {', '.join(missing)} not found (expected files named like "
                         "T33UUU_20170216T102101_B05.jp2); give a complete IMG_DATA folder")
    return found
