"""Comparison figures: files are real PNGs with the expected panels, for 8-bit, 16-bit and LR-only input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from satsr.cli import app
from satsr.errors import OptionError
from satsr.viz import Panel, compare_sisr, comparison_figure, display_bands, stretch_limits, to_display

runner = CliRunner()



def _rgb_png(path: Path, size: int = 96) -> Path:
    yy, xx = np.mgrid[0:size, 0:size]
    img = np.stack([127 + 100 * np.sin(xx / 4), 127 + 100 * np.cos(yy / 5), 127 + 50 * np.sin((xx + yy) / 7)], -1)
    Image.fromarray(img.astype(np.uint8)).save(path)
    return path


def _png_size(path: Path) -> tuple[int, int]:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        return im.size


def test_compare_8bit_png_with_hr(tmp_path: Path) -> None:
    src = _rgb_png(tmp_path / "hr.png")
    out = compare_sisr(tmp_path / "fig.png", hr=src, scale=4, models=["bicubic", "nearest"], zoom=64)
    w, h = _png_size(out)
    assert w > 3 * h  # LR, bicubic, nearest, HR side by side


def test_compare_16bit_geotiff_and_lr_only(tmp_path: Path, make_geotiff) -> None:  # noqa: ANN001
    rng = np.random.default_rng(0)
    data = (7000 + 1500 * rng.random((4, 64, 80))).astype(np.uint16)
    tif = make_geotiff("ms.tif", data)
    out = compare_sisr(tmp_path / "ms.png", hr=tif, scale=2, bands=[4, 3, 2], zoom=48)
    assert _png_size(out)[0] > 0
    out2 = compare_sisr(tmp_path / "lr.png", lr=tif, scale=3, bands=[1], zoom=60)
    w, h = _png_size(out2)
    assert w > h  # LR and bicubic only
    with pytest.raises(OptionError):
        compare_sisr(tmp_path / "x.png", hr=tif, lr=tif)
    with pytest.raises(OptionError):
        compare_sisr(tmp_path / "x.png", hr=tif, bands=[1, 2])
    with pytest.raises(OptionError, match="--crop"):
        compare_sisr(tmp_path / "x.png", hr=tif, scale=2, crop=(0, 0, 500))


def test_comparison_figure_takes_precomputed_panels(tmp_path: Path) -> None:
    """The MISR use: fused outputs vs the baseline, panels computed elsewhere."""
    rng = np.random.default_rng(1)
    hr = 3000 + 500 * rng.random((1, 60, 60))
    lr = hr[:, ::3, ::3]
    panels = [Panel("LR frame", lr, upscale=3), Panel("baseline", hr + 20, {"cPSNR": 48.1}),
              Panel("shiftadd", hr + 5, {"cPSNR": 49.3, "score": 0.98}), Panel("HR", hr)]
    out = comparison_figure(panels, tmp_path / "misr.png", crop=(10, 10, 40), title="imgset0000")
    assert _png_size(out)[0] > 0
    with pytest.raises(ValueError):
        comparison_figure([Panel("a", hr), Panel("b", hr[:, :30])], tmp_path / "bad.png")


def test_stretch_and_band_helpers() -> None:
    img = np.zeros((3, 10, 10))
    img[:, :, 2:] = np.linspace(100, 200, 80).reshape(1, 10, 8)
    lo, hi = stretch_limits(img, (2, 98))
    assert np.all(lo > 100) and np.all(hi < 200)  # the all-zero fill is left out
    disp = to_display(img, lo, hi)
    assert disp.shape == (10, 10, 3) and disp.min() == 0 and disp.max() == 1
    assert display_bands(5) == [0, 1, 2] and display_bands(1) == [0] and display_bands(4, [4, 3, 2]) == [3, 2, 1]
    with pytest.raises(OptionError):
        display_bands(3, [4])


def test_compare_cli(tmp_path: Path, shared_data: Path) -> None:
    src = sorted((shared_data / "ucmerced" / "val").rglob("*.png"))[0]
    out = tmp_path / "ucm.png"
    res = runner.invoke(app, ["compare", str(src), "--out", str(out), "--scale", "4", "--model", "lanczos"])
    assert res.exit_code == 0, res.output
    assert _png_size(out)[0] > 0
    l8 = sorted((shared_data / "landsat" / "l8").glob("*_RT.TIF"))[0]
    out2 = tmp_path / "l8.png"
    res = runner.invoke(app, ["compare", str(l8), "-o", str(out2), "--scale", "3", "--crop", "1200,1200,120"])
    assert res.exit_code == 0, res.output
    assert _png_size(out2)[0] > 0
