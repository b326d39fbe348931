"""The Python API: arrays in/out, files in/out, model listing, lazy import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

import satsr
from helpers import smooth_image
from satsr.errors import OptionError, OutputError
from satsr.models.classical import ResizeUpscaler


def test_array_in_array_out_keeps_rank_and_dtype() -> None:
    x2d = np.arange(48, dtype=np.uint8).reshape(6, 8)
    y = satsr.upscale(x2d, scale=2, model="nearest")
    assert y.shape == (12, 16) and y.dtype == np.uint8
    assert np.array_equal(y, np.repeat(np.repeat(x2d, 2, 0), 2, 1))
    x3d = smooth_image(3, 10, 12).astype(np.float32)
    y3 = satsr.upscale(x3d, scale=3, model="bilinear", bands=[3, 1])
    assert y3.shape == (2, 30, 36) and y3.dtype == np.float32
    assert np.allclose(y3[1], ResizeUpscaler("bilinear", 3)(x3d[:1])[0], atol=1e-4)


def test_file_to_array_and_file_to_file(make_geotiff, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = np.round(smooth_image(2, 40, 30, seed=1)).astype(np.int16)
    src = make_geotiff("in.tif", data, nodata=-1)
    arr = satsr.upscale(src, scale=2, model="bicubic")
    assert arr.shape == (2, 80, 60) and arr.dtype == np.int16
    out = satsr.upscale(src, scale=2, model="bicubic", out=tmp_path / "o.tif", tile=16, overlap=4)
    assert out == tmp_path / "o.tif"
    with rasterio.open(out) as ds:
        written = ds.read()
        assert ds.nodata == -1
    assert np.abs(written.astype(int) - arr.astype(int)).max() <= 1
    with pytest.raises(OutputError, match="output exists"):
        satsr.upscale(src, scale=2, out=out)
    with pytest.raises(OutputError, match="is the input file"):
        satsr.upscale(src, scale=2, out=src, overwrite=True)


def test_options_are_checked() -> None:
    x = np.zeros((1, 8, 8), np.float32)
    with pytest.raises(OptionError, match="supports scales"):
        satsr.upscale(x, scale=9)
    with pytest.raises(OptionError, match="unknown model"):
        satsr.upscale(x, scale=2, model="nope")
    with pytest.raises(OptionError, match="overlap"):
        satsr.upscale(x, scale=2, tile=16, overlap=16)
    with pytest.raises(OptionError, match="band 2 is out of range"):
        satsr.upscale(x, scale=2, bands=[2])


def test_list_and_load_models() -> None:
    names = satsr.list_models()
    assert {"nearest", "bilinear", "bicubic", "lanczos"} <= set(names)
    assert set(satsr.list_models("sisr")) <= set(names)
    up = satsr.load_model("lanczos", 4)
    assert up.scale == 4 and up.margin == 4


def test_import_satsr_is_light() -> None:
    code = "import sys, satsr; satsr.__version__; print('torch' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "False"
