"""Shared fixtures: tiny synthetic GeoTIFFs made in tmp_path, and the path to the real data."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from rasterio.enums import ColorInterp

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO / ".." / "shared" / "data"
SAMPLE = REPO / "src" / "satsr" / "sample" / "landsat7_rgb_crop.tif"


def smooth_image(bands: int, height: int, width: int, seed: int = 0, lo: float = 100.0,
                 hi: float = 4000.0, noise: float = 0.02) -> np.ndarray:
    """Float64 ``(bands, h, w)`` test image: a few smooth waves plus a little noise, in [lo, hi]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    out = np.empty((bands, height, width))
    for b in range(bands):
        f = rng.uniform(0.02, 0.15, size=4)
        p = rng.uniform(0, 2 * np.pi, size=2)
        img = np.sin(f[0] * xx + f[1] * yy + p[0]) + np.cos(f[2] * xx - f[3] * yy + p[1])
        img = (img + 2) / 4 + noise * rng.standard_normal((height, width))
        out[b] = lo + (hi - lo) * np.clip(img, 0, 1)
    return out


def write_geotiff(path: Path, data: np.ndarray, *, dtype: str | None = None, nodata: float | None = None,
                  crs: str | None = "EPSG:32633", transform: Any = None,
                  descriptions: Sequence[str | None] | None = None, tags: dict[str, str] | None = None,
                  band_tags: Sequence[dict[str, str]] | None = None,
                  colorinterp: Sequence[ColorInterp] | None = None, **creation: Any) -> Path:
    """Write ``data`` (C, H, W) as a GeoTIFF with the given georeferencing and metadata."""
    count, height, width = data.shape
    dtype = dtype or str(data.dtype)
    if transform is None:
        transform = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4200000.0)
    profile: dict[str, Any] = {"driver": "GTiff", "width": width, "height": height, "count": count,
                               "dtype": dtype, "nodata": nodata, "transform": transform, **creation}
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data.astype(dtype))
        if descriptions:
            for b, d in enumerate(descriptions, 1):
                if d:
                    ds.set_band_description(b, d)
        if tags:
            ds.update_tags(**tags)
        if band_tags:
            for b, t in enumerate(band_tags, 1):
                ds.update_tags(b, **t)
        if colorinterp:
            ds.colorinterp = list(colorinterp)
    return path


@pytest.fixture
def make_geotiff(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_geotiff(name, data, **options)`` -> path of a GeoTIFF in tmp_path."""

    def make(name: str, data: np.ndarray, **options: Any) -> Path:
        return write_geotiff(tmp_path / name, data, **options)

    return make


@pytest.fixture
def shared_data() -> Path:
    """The real data folder beside the project; the test is skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available at {SHARED_DATA}")
    return SHARED_DATA.resolve()


@pytest.fixture
def sample_tif() -> Path:
    return SAMPLE


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tests use small tensors and run two workers (`-n 2`): one torch thread each is faster."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
