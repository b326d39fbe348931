"""Hyperspectral cubes as training images (``cubes``), with a held-out region of each cube that the
training split never reads.

``cubes``: a folder of band-first cubes (GeoTIFF/TIFF, any band count, any units). Each named file
(``files``, default: every raster in the folder) may have a ``holdout`` rectangle ``[row0, row1, col0,
col1]`` (pixels, end exclusive; ``null`` for "to the edge"):

* ``test``: the held-out rectangles, one sample each (the Wald evaluation reads them);
* ``train``: what is left of every cube, as up to four rectangles (above, below, left and right of
  the held-out one), so no training patch can overlap a held-out pixel;
* ``val``: empty (the training regions are too small to spare one).

Cubes carry different band counts (48, 128, ...) but a batch needs one, so ``band_window`` > 0 cuts
every training region into overlapping windows of that many consecutive bands (stride
``band_window // 2``, the last one ending on the last band): a network with shared weights over
spectral groups (``satsr.models.sgsr``) trains on all of them together. Values are divided by each
file's own scale (``value_scale_of`` its dtype: 10000 for integer reflectance x 10000, 1 for float
reflectance), so cubes of different units train together; the samples' ``value_scale`` is then 1.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from satsr.data.base import Sample, SampleDataset, register_dataset, value_scale_of
from satsr.errors import InputError, OptionError
from satsr.io.image import RASTER_SUFFIXES, image_dtype, image_shape, read_image

Region = tuple[int, int, int, int]  # row0, row1, col0, col1 (end exclusive)


@dataclass(frozen=True)
class CubeRegion:
    """One sample: a rectangle of a cube file and a range of its bands (0-based, end exclusive)."""

    name: str
    path: Path
    region: Region
    bands: tuple[int, int]


def holdout_region(spec: Sequence[int | None], height: int, width: int, where: Path) -> Region:
    """``[row0, row1, col0, col1]`` (None = the edge) as a rectangle inside a ``height x width`` cube."""
    if len(spec) != 4:
        raise OptionError(f"{where}: holdout must be [row0, row1, col0, col1], got {list(spec)}")
    r0, r1, c0, c1 = (d if v is None else int(v) for v, d in zip(spec, (0, height, 0, width), strict=True))
    if not (0 <= r0 < r1 <= height and 0 <= c0 < c1 <= width):
        raise OptionError(f"{where}: holdout {list(spec)} is not a rectangle inside the {height}x{width} px cube")
    return r0, r1, c0, c1


def outside(region: Region, height: int, width: int) -> list[Region]:
    """The rectangles above, below, left and right of ``region`` that tile the rest of the cube."""
    r0, r1, c0, c1 = region
    parts = [(0, r0, 0, width), (r1, height, 0, width), (r0, r1, 0, c0), (r0, r1, c1, width)]
    return [p for p in parts if p[1] > p[0] and p[3] > p[2]]


def band_ranges(count: int, window: int) -> list[tuple[int, int]]:
    """Windows of ``window`` consecutive bands (stride ``window // 2``, the last ending on the last
    band) covering ``count`` bands; the whole range when ``window`` is 0 or not smaller than ``count``."""
    if window <= 0 or window >= count:
        return [(0, count)]
    stride = max(1, window // 2)
    starts = sorted({min(s, count - window) for s in range(0, count - window + stride, stride)})
    return [(s, s + window) for s in starts]


@register_dataset
class Cubes(SampleDataset):
    """Regions of hyperspectral cubes (see the module docstring)."""

    kind = "cubes"
    produces = "hr"
    layout = "a folder of band-first hyperspectral cubes (GeoTIFF/TIFF)"

    def __init__(self, root: str | os.PathLike[str], split: str = "train", files: Sequence[str] | None = None,
                 holdout: dict[str, Sequence[int | None]] | None = None, band_window: int = 0) -> None:
        super().__init__(root, split)
        names = list(files) if files is not None else sorted(
            p.name for p in self.root.iterdir() if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES)
        if not names:
            raise InputError(f"{self.root}: no cube files found; expected {self.layout}")
        holdout = dict(holdout or {})
        unknown = sorted(set(holdout) - set(names))
        if unknown:
            raise OptionError(f"{self.root}: holdout names {unknown[0]!r}, which is not among the cube files")
        self.scales: dict[str, float] = {}
        for name in names:
            path = self.root / name
            if not path.is_file():
                raise InputError(f"{path}: cube file not found; expected {self.layout}")
            count, height, width = image_shape(path)
            self.scales[name] = value_scale_of(image_dtype(path))
            held = holdout_region(holdout[name], height, width, path) if name in holdout else None
            if self.split == "test":
                regions = [held] if held is not None else []
            elif self.split == "train":
                regions = outside(held, height, width) if held is not None else [(0, height, 0, width)]
            else:
                regions = []
            for reg in regions:
                for b in band_ranges(count, band_window if self.split == "train" else 0):
                    label = f"{Path(name).stem}[{reg[0]}:{reg[1]},{reg[2]}:{reg[3]}]"
                    if b != (0, count):
                        label += f" bands {b[0] + 1}-{b[1]}"
                    self.items.append(CubeRegion(label, path, reg, b))
                    self.names.append(label)
        self.value_scale = 1.0  # every sample is divided by its own file's scale

    def load(self, index: int) -> Sample:
        it: CubeRegion = self.items[index]
        r0, r1, c0, c1 = it.region
        cube = read_image(it.path)[it.bands[0]:it.bands[1], r0:r1, c0:c1]
        return {"name": it.name, "hr": np.ascontiguousarray(cube / np.float32(self.scales[it.path.name]))}
