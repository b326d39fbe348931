"""Raster I/O: metadata round trip, scaled transform, dtype casting, atomic writes, clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image
from rasterio.enums import ColorInterp
from rasterio.windows import Window

from satsr.errors import InputError, OptionError, OutputError
from satsr.io.image import read_image, write_image
from satsr.io.raster import (
    RasterReader,
    RasterWriter,
    check_output,
    inspect,
    open_raster,
    output_profile,
    scaled_transform,
    write_raster,
)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".satsr-tmp-"))


@pytest.fixture
def rich_tif(make_geotiff):  # type: ignore[no-untyped-def]
    data = np.arange(3 * 20 * 30, dtype=np.uint16).reshape(3, 20, 30)
    transform = Affine(10.0, 0.5, 600000.0, 0.25, -10.0, 5000000.0)  # rotated: all four terms set
    return make_geotiff(
        "rich.tif", data, nodata=0, crs="EPSG:32632", transform=transform,
        descriptions=["B4 red", "B3 green", "B2 blue"], tags={"SENSOR": "test", "AREA_OR_POINT": "Area"},
        band_tags=[{"WAVELENGTH": "665", "STATISTICS_MEAN": "1"}, {}, {}],
        colorinterp=[ColorInterp.red, ColorInterp.green, ColorInterp.blue],
        tiled=True, blockxsize=16, blockysize=16, compress="lzw",
    )


def test_inspect_reports_metadata(rich_tif: Path) -> None:
    info = inspect(rich_tif)
    assert (info.width, info.height, info.count, info.dtype) == (30, 20, 3, "uint16")
    assert info.crs.to_epsg() == 32632 and info.nodata == 0
    assert info.descriptions == ("B4 red", "B3 green", "B2 blue")
    assert info.tags["SENSOR"] == "test" and info.band_tags[0]["WAVELENGTH"] == "665"
    assert info.colorinterp == (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
    assert info.resolution == pytest.approx((np.hypot(10, 0.25), np.hypot(0.5, 10)))


@pytest.mark.parametrize("cog", [False, True])
def test_round_trip_keeps_georeferencing_and_metadata(rich_tif: Path, tmp_path: Path, cog: bool) -> None:
    info = inspect(rich_tif)
    prof = output_profile(info, 3, cog=cog)
    t = info.transform
    expected = t @ Affine.scale(1 / 3)  # = t * Affine.scale(1/3); `*` is deprecated in affine 3
    assert prof.creation["transform"] == expected == scaled_transform(t, 3)
    assert expected.almost_equals(Affine(t.a / 3, t.b / 3, t.c, t.d / 3, t.e / 3, t.f), precision=1e-12)
    data = np.full((3, 60, 90), 1234.4, dtype=np.float32)
    data[1, :5, :5] = np.nan
    out = write_raster(tmp_path / "out.tif", data, prof)
    with rasterio.open(out) as ds:
        assert ds.crs == info.crs and ds.transform == expected
        assert ds.dtypes == ("uint16",) * 3 and ds.nodata == 0
        assert ds.descriptions == info.descriptions
        assert tuple(ds.colorinterp) == info.colorinterp
        assert ds.tags()["SENSOR"] == "test"
        assert ds.tags(1)["WAVELENGTH"] == "665" and "STATISTICS_MEAN" not in ds.tags(1)
        assert ds.profile["tiled"] and ds.block_shapes[0] == (256, 256)
        assert ds.compression.value == "DEFLATE"
        pix = ds.read()
        if cog:
            assert ds.driver == "GTiff" and "LAYOUT" in ds.tags(ns="IMAGE_STRUCTURE")
    assert (pix[0] == 1234).all() and (pix[1, :5, :5] == 0).all() and (pix[1, 5:] == 1234).all()
    assert _leftovers(tmp_path) == []


def test_profile_block_size_compression_and_band_subset(rich_tif: Path) -> None:
    info = inspect(rich_tif)
    big = output_profile(info, 32, bands=[3, 1], compress="zstd")
    assert big.creation["blockxsize"] == 512 and big.creation["compress"] == "zstd"
    assert big.creation["predictor"] == 2 and big.count == 2
    assert big.descriptions == ("B2 blue", "B4 red")
    with pytest.raises(OptionError, match="band 4 is out of range"):
        output_profile(info, 2, bands=[4])
    with pytest.raises(OptionError):
        output_profile(info, 2, compress="jpeg")


@pytest.mark.parametrize("dtype,values,expected", [
    ("uint8", [-5.0, 0.49, 0.5, 1.5, 254.5, 255.7, 1e6], [0, 0, 0, 2, 254, 255, 255]),
    ("uint16", [-1.0, 65535.4, 70000.0, 12.5, 13.5, 1.2, 3.0], [0, 65535, 65535, 12, 14, 1, 3]),
    ("int16", [-40000.0, -3.5, -2.5, 40000.0, 7.7, 0.0, 1.0], [-32768, -4, -2, 32767, 8, 0, 1]),
])
def test_integer_output_is_clipped_and_rounded(tmp_path: Path, make_geotiff, dtype, values, expected) -> None:  # type: ignore[no-untyped-def]
    src = make_geotiff(f"in_{dtype}.tif", np.zeros((1, 1, 7), dtype=dtype))
    prof = output_profile(inspect(src), 2)
    row = np.array(values, dtype=np.float32)[None, None]  # (1, 1, 7) -> output size (1, 2, 14)
    data = np.repeat(np.repeat(row, 2, axis=1), 2, axis=2)
    out = write_raster(tmp_path / f"o_{dtype}.tif", data, prof)
    with rasterio.open(out) as ds:
        assert ds.read(1)[0, ::2].tolist() == expected


def test_float32_nan_input_keeps_nan(make_geotiff, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = make_geotiff("f.tif", np.array([[[1.0, np.nan]]], dtype=np.float32))
    prof = output_profile(inspect(src), 2)
    assert prof.creation["predictor"] == 3
    out = write_raster(tmp_path / "o.tif", np.array([[[1.0, 1.0, np.nan, np.nan]] * 2], np.float32), prof)
    with rasterio.open(out) as ds:
        a = ds.read(1)
    assert a[0, 0] == 1.0 and np.isnan(a[0, 2])


def test_read_with_margin_clips_to_image(rich_tif: Path) -> None:
    with open_raster(rich_tif) as r:
        data, actual = r.read_with_margin(Window(2, 3, 10, 5), margin=4)
        assert actual == Window(0, 0, 16, 12)
        assert data.shape == (3, 12, 16)
        full = r.read()
        assert np.array_equal(data, full[:, :12, :16])
        _, inner = r.read_with_margin(Window(10, 8, 4, 4), margin=2)
        assert inner == Window(8, 6, 8, 8)
        _, corner = r.read_with_margin(Window(25, 15, 5, 5), margin=3)
        assert corner == Window(22, 12, 8, 8)
        vals, valid = r.read_tile(0, 2, 0, 3)
        assert vals.dtype == np.float32 and not valid[0, 0, 0] and valid[0, 0, 1]


def test_reader_band_selection(rich_tif: Path) -> None:
    with RasterReader(rich_tif, bands=[2]) as r:
        assert r.count == 1 and r.read().shape == (1, 20, 30)
    with pytest.raises(OptionError, match=r"rich.tif: band 0 is out of range; the file has 3 bands"):
        RasterReader(rich_tif, bands=[0])


# ----------------------------------------------------------------------------- error checks


def test_missing_and_not_raster_inputs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope.tif: no such file"):
        open_raster(tmp_path / "nope.tif")
    text = tmp_path / "notes.txt"
    text.write_text("just some text\n")
    with pytest.raises(InputError, match=r"notes.txt: not a raster"):
        open_raster(text)
    with pytest.raises(InputError, match="is a directory"):
        open_raster(tmp_path)


def _truncated(make_geotiff, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    data = (np.random.default_rng(0).random((1, 300, 300)) * 60000).astype(np.uint16)
    good = make_geotiff("good.tif", data, tiled=True, blockxsize=256, blockysize=256, compress="deflate")
    raw = good.read_bytes()
    bad = tmp_path / "truncated.tif"
    bad.write_bytes(raw[: len(raw) // 2])
    return bad


def test_truncated_file_fails_at_open_with_input_error(make_geotiff, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = _truncated(make_geotiff, tmp_path)
    with rasterio.open(bad) as ds:  # GDAL opens it; only reading the pixels fails
        assert ds.width == 300
    with pytest.raises(InputError, match=r"truncated.tif: cannot read pixels .* truncated or corrupt"):
        open_raster(bad)


def test_output_checks(tmp_path: Path) -> None:
    existing = tmp_path / "exists.tif"
    existing.write_bytes(b"x")
    with pytest.raises(OutputError, match=r"exists.tif: output exists; pass --overwrite"):
        check_output(existing)
    assert check_output(existing, overwrite=True) == existing
    with pytest.raises(OutputError, match=r"does not exist; create it first"):
        check_output(tmp_path / "missing" / "o.tif")
    with pytest.raises(OutputError, match="is a directory"):
        check_output(tmp_path)


def test_unwritable_directory(rich_tif: Path, tmp_path: Path) -> None:
    if os.geteuid() == 0:  # root ignores permission bits; /proc refuses new files even for root
        target = Path("/proc") / "satsr-out.tif"
        if not Path("/proc").is_dir():
            pytest.skip("needs /proc when running as root")
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        target = ro / "o.tif"
    prof = output_profile(inspect(rich_tif), 2)
    with pytest.raises(OutputError, match=r"satsr-out.tif|o.tif"):
        write_raster(target, np.zeros((3, 40, 60), np.float32), prof)
    assert not target.exists()


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_failed_write_leaves_nothing(rich_tif: Path, tmp_path: Path, exc: BaseException) -> None:
    prof = output_profile(inspect(rich_tif), 2)
    out = tmp_path / "o.tif"
    with pytest.raises(type(exc)), RasterWriter(out, prof) as w:
        w.write_rows(np.ones((3, 10, 60), np.float32), 0)
        assert len(_leftovers(tmp_path)) == 1 and not out.exists()
        raise exc
    assert not out.exists() and _leftovers(tmp_path) == []


def test_overwrite_replaces_atomically(rich_tif: Path, tmp_path: Path) -> None:
    prof = output_profile(inspect(rich_tif), 2)
    out = tmp_path / "o.tif"
    write_raster(out, np.full((3, 40, 60), 5, np.float32), prof)
    with pytest.raises(OutputError):
        write_raster(out, np.full((3, 40, 60), 6, np.float32), prof)
    write_raster(out, np.full((3, 40, 60), 7, np.float32), prof, overwrite=True)
    with rasterio.open(out) as ds:
        assert (ds.read() == 7).all()
    assert _leftovers(tmp_path) == []


# ----------------------------------------------------------------------------- plain images


def test_plain_images_8_and_16_bit(tmp_path: Path) -> None:
    g16 = np.arange(0, 65535, 1000, dtype=np.uint16).reshape(1, 6, 11)
    write_image(tmp_path / "g16.png", g16, bits=16)
    back = read_image(tmp_path / "g16.png")
    assert back.dtype == np.float32 and back.shape == (1, 6, 11) and np.array_equal(back, g16)

    rgb = np.random.default_rng(0).integers(0, 256, (3, 5, 4)).astype(np.uint8)
    write_image(tmp_path / "rgb.png", rgb)
    assert np.array_equal(read_image(tmp_path / "rgb.png"), rgb)

    Image.fromarray(np.moveaxis(rgb, 0, -1)).save(tmp_path / "rgb.jpg", quality=95)
    assert read_image(tmp_path / "rgb.jpg").shape == (3, 5, 4)

    rgb16 = np.random.default_rng(1).integers(0, 65536, (3, 5, 4)).astype(np.uint16)
    with rasterio.open(tmp_path / "rgb16.png", "w", driver="PNG", width=4, height=5, count=3,
                       dtype="uint16") as ds:
        ds.write(rgb16)
    assert np.array_equal(read_image(tmp_path / "rgb16.png"), rgb16)  # not reduced to 8 bits


def test_plain_image_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_image(tmp_path / "none.png")
    (tmp_path / "t.png").write_text("not a png")
    with pytest.raises(InputError, match="t.png: not an image"):
        read_image(tmp_path / "t.png")
