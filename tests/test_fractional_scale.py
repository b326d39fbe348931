"""Fractional scales end to end: exact output grid, seam-free tiles, nodata, --resolution, clear refusals."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

import satsr
from helpers import run_cli, smooth_image, write_geotiff
from satsr.errors import OptionError
from satsr.models.registry import list_cards
from satsr.ops.spans import as_scale, axis_spans, out_index

L8 = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "landsat" / "l8" / \
    "LC08_L1TP_224078_20200518_20200518_01_RT.TIF"
MODELS = ["bicubic", "lanczos"] + (["liif"] if any(c.model == "liif" for c in list_cards()) else [])


def _run(args: list[object], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code, _, err = run_cli(args, capsys)
    return code, err


def test_scales_and_spans_are_exact() -> None:
    assert as_scale(2.5) == Fraction(5, 2) and as_scale("7/3") == Fraction(7, 3) and as_scale(3.0) == 3
    assert [out_index(i, Fraction(5, 2)) for i in (0, 1, 2, 3, 4)] == [0, 2, 5, 7, 10]
    for a, _ in axis_spans(101, 32, 8, unit=2)[:-1]:
        assert a % 2 == 0  # every tile starts on a whole output pixel


@pytest.fixture
def landsat_crop(tmp_path: Path) -> Path:
    """A real Landsat 8 crop (30 m, uint16, 3 bands) with a nodata hole, or a synthetic one without the data."""
    if L8.exists():
        with rasterio.open(L8) as ds:
            data = ds.read(window=rasterio.windows.Window(900, 700, 47, 41))
            crs, transform = ds.crs, ds.window_transform(rasterio.windows.Window(900, 700, 47, 41))
    else:
        data = np.round(smooth_image(3, 41, 47, seed=2, lo=6000, hi=20000)).astype(np.uint16)
        crs, transform = "EPSG:32621", Affine(30.0, 0, 500000, 0, -30.0, 7000000)
    data[:, 10:14, 20:25] = 0
    return write_geotiff(tmp_path / "l8.tif", data, nodata=0, crs=crs, transform=transform)


@pytest.mark.parametrize("model", MODELS)
def test_x2_5_output_grid_tiles_and_nodata(landsat_crop: Path, tmp_path: Path, model: str) -> None:
    whole = satsr.upscale(landsat_crop, scale=2.5, model=model, out=tmp_path / "whole.tif", tile=None)
    tiled = satsr.upscale(landsat_crop, scale=2.5, model=model, out=tmp_path / "tiled.tif", tile=16, overlap=4)
    with rasterio.open(landsat_crop) as src, rasterio.open(whole) as a, rasterio.open(tiled) as b:
        assert a.transform == src.transform @ Affine.scale(1 / 2.5) and a.crs == src.crs
        assert (a.height, a.width) == (int(np.floor(src.height * 2.5)), int(np.floor(src.width * 2.5)))
        x, y, w = src.read(), a.read().astype(np.int64), b.read().astype(np.int64)
    assert np.abs(y - w).max() <= 1
    # nodata where the input was nodata: output pixel j comes from input floor((j + 0.5) / 2.5)
    rows = ((np.arange(y.shape[1]) + 0.5) / 2.5).astype(int)
    cols = ((np.arange(y.shape[2]) + 0.5) / 2.5).astype(int)
    assert np.array_equal(y == 0, x[:, rows][:, :, cols] == 0)


def test_resolution_gives_the_same_file_as_the_scale(landsat_crop: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["upscale", landsat_crop, tmp_path / "s.tif", "-s", "2.5", "-m", "bicubic", "-q"], capsys)
    assert code == 0, err
    code, err = _run(["upscale", landsat_crop, tmp_path / "r.tif", "--resolution", "12", "-m", "bicubic", "-q"], capsys)
    assert code == 0, err
    with rasterio.open(tmp_path / "s.tif") as a, rasterio.open(tmp_path / "r.tif") as b:
        assert a.profile == b.profile and np.array_equal(a.read(), b.read())
        assert abs(b.res[0] - 12.0) < 1e-9


def test_integer_only_models_refuse_a_fractional_scale(landsat_crop: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["upscale", landsat_crop, tmp_path / "o.tif", "-s", "2.5", "-m", "edsr", "-q"], capsys)
    assert code == 2 and err.startswith("satsr: error: ") and err.count("\n") == 1
    assert "integer scales only" in err and "liif" in err
    with pytest.raises(OptionError, match="integer scale"):
        satsr.upscale(np.zeros((1, 8, 8), np.float32), scale=2.5, model="bicubic", consistency=True)


def test_evaluate_sisr_at_a_fractional_scale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from satsr.evaluate import evaluate_sisr

    img = np.round(smooth_image(3, 52, 47, seed=4, lo=0, hi=255)).astype(np.uint8)
    write_geotiff(tmp_path / "hr.tif", img)
    rep = evaluate_sisr(tmp_path / "hr.tif", 2.5, ["lanczos"])
    assert [r.model for r in rep.rows] == ["bicubic", "lanczos"] and all(np.isfinite(r.psnr) for r in rep.rows)
    code, _ = _run(["evaluate", "sisr", "--hr-dir", tmp_path / "hr.tif", "-s", "2.5", "--json"], capsys)
    assert code == 0
