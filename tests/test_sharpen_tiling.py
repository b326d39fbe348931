"""`satsr sharpen` on the one tile engine: tiled == whole image on real Sentinel-2 data, nodata kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from helpers import write_geotiff
from satsr.sharpen import sharpen_files

DSEN2 = "sentinel2/dsen2/S2A_MSIL1C_20170527_T33UUB"


def _crop(shared_data: Path, tmp_path: Path, ratio: int, side10: int = 360) -> tuple[Path, Path]:
    """The real DSen2 crop's 10 m guide (B4, B3, B2, B8) and its 20 m (ratio 2) or 60 m (B1, B9; ratio
    6) bands, the top-left ``side10`` 10 m px (a multiple of 6), as GeoTIFFs on a common grid."""
    res = {2: "20m", 6: "60m"}[ratio]
    with rasterio.open(shared_data / f"{DSEN2}_10m.tif") as g, rasterio.open(shared_data / f"{DSEN2}_{res}.tif") as lo:
        guide = g.read()[:, :side10, :side10]
        low = lo.read()[:, :side10 // ratio, :side10 // ratio]
    t10 = rasterio.Affine(10.0, 0, 400000.0, 0, -10.0, 5000000.0)
    return (write_geotiff(tmp_path / "g.tif", guide, transform=t10),
            write_geotiff(tmp_path / f"l{ratio}.tif", low, transform=t10 @ rasterio.Affine.scale(ratio)))


@pytest.mark.parametrize("model", ["hpi", "dsen2"])
@pytest.mark.parametrize("ratio", [2, 6])
def test_tiled_sharpening_equals_whole_image_on_real_sentinel2(shared_data: Path, tmp_path: Path, model: str,
                                                               ratio: int) -> None:
    guide, low = _crop(shared_data, tmp_path, ratio)
    whole = sharpen_files(guide, low, tmp_path / "whole.tif", model, tile=100_000)
    tiled = sharpen_files(guide, low, tmp_path / "tiled.tif", model, tile=96)  # 16 tiles at ratio 6, 16 at 2
    with rasterio.open(whole) as a, rasterio.open(tiled) as b, rasterio.open(low) as lo:
        w, t = a.read().astype(np.int64), b.read().astype(np.int64)
        assert a.shape == (360, 360) and a.count == lo.count
        # the output really is sharpened data (not a constant or a copy of the guide)
        assert w.std() > 50 and np.abs(w.mean((1, 2)) - lo.read().mean((1, 2))).max() < 0.02 * w.mean()
    assert np.abs(w - t).max() <= 1, f"{model} x{ratio}: tiled differs from whole by {np.abs(w - t).max()} DN"


def test_nodata_in_the_guide_or_the_lowres_bands_stays_nodata(shared_data: Path, tmp_path: Path) -> None:
    guide, low = _crop(shared_data, tmp_path, 2, side10=240)
    with rasterio.open(guide) as g, rasterio.open(low) as lo:
        gd, ld = g.read(), lo.read()
    gd[:, 40:80, 100:130] = 0  # a hole in every guide band
    gd[2, 200:210, 10:20] = 0  # and one in a single guide band
    ld[:, 10:20, 60:80] = 0  # a hole in every low-res band
    ld[4, 90:100, 5:15] = 0  # and one in a single low-res band
    g0 = write_geotiff(tmp_path / "g0.tif", gd, nodata=0, transform=rasterio.open(guide).transform)
    l0 = write_geotiff(tmp_path / "l0.tif", ld, nodata=0, transform=rasterio.open(low).transform)
    for model in ("hpi", "dsen2"):
        out = sharpen_files(g0, l0, tmp_path / f"{model}.tif", model, tile=64)
        with rasterio.open(out) as ds:
            y = ds.read()
            assert ds.nodata == 0
        expected = np.repeat(np.repeat(ld == 0, 2, 1), 2, 2) | (gd == 0).any(0)[None]
        assert np.array_equal(y == 0, expected), model
