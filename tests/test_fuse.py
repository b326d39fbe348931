"""Stack loading and ``satsr fuse``: GeoTIFF revisits with masks, PROBA-V imgsets, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image
from scipy import ndimage
from typer.testing import CliRunner

from helpers import write_imgset
from satsr.cli import app
from satsr.errors import InputError, OptionError
from satsr.fusion import fuse
from satsr.io.stack import load_rasters, load_stack, mask_paths_from_spec

runner = CliRunner()

T0 = Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4200000.0)


def _revisits(make_geotiff, n: int = 4, nodata: float | None = -9999):  # noqa: ANN001, ANN202
    """n co-located int16 frames (2 bands), slightly shifted; cloud masks in Fmask coding."""
    rng = np.random.default_rng(0)
    base = 1500 + 150 * ndimage.gaussian_filter(rng.standard_normal((2, 40, 40)), (0, 2, 2)) / 0.14
    frames, masks = [], []
    for t in range(n):
        img = ndimage.shift(base, (0, *rng.uniform(-0.4, 0.4, 2)), order=3, mode="nearest")
        fm = np.zeros((1, 40, 40), np.uint8)  # 0 = clear land
        if t == 1:
            img[:, 5:15, 5:15] = 5000
            fm[0, 5:15, 5:15] = 4  # cloud
        if t == 2:
            fm[0, 30:, :] = 1  # water: clear too
        img[:, 0, :3] = -9999 if nodata is not None else img[:, 0, :3]
        frames.append(make_geotiff(f"s{t}_b3.tif", img.astype(np.int16), nodata=nodata, transform=T0, crs="EPSG:32613"))
        masks.append(make_geotiff(f"s{t}_fmask.tif", fm, transform=T0, crs="EPSG:32613"))
    return frames, masks


def test_load_rasters_masks_and_order(make_geotiff) -> None:  # noqa: ANN001
    frames, masks = _revisits(make_geotiff)
    assert mask_paths_from_spec(frames, "_b3=_fmask") == masks
    st = load_rasters(frames, mask_spec="_b3=_fmask", clear_values=[0, 1])
    assert st.frames.shape == (4, 2, 40, 40) and st.kind == "rasters" and st.dtype == "int16"
    assert st.names[-1].endswith("s1_b3.tif")  # the cloudy frame is last
    assert not st.masks[-1, 5:15, 5:15].any() and st.masks[0, 30:].all()
    assert not st.masks[:, 0, :3].any() and not st.valid[:, 0, :3].any()  # nodata
    assert (st.frames > -9999).all()  # nodata filled before any model sees it
    # non-zero = clear by default: Fmask's 0 would be read as cloudy everywhere
    st2 = load_rasters(frames, masks=masks)
    assert st2.masks.sum() < st.masks.sum()
    with pytest.raises(OptionError, match="one mask per frame"):
        load_rasters(frames, masks=masks[:2])
    with pytest.raises(OptionError, match="OLD=NEW"):
        load_rasters(frames, mask_spec="fmask")
    with pytest.raises(OptionError, match="at least two"):
        load_rasters(frames[:1])


def test_frames_must_be_colocated(make_geotiff) -> None:  # noqa: ANN001
    a = make_geotiff("a.tif", np.ones((1, 20, 20), np.uint16), transform=T0)
    far = make_geotiff("b.tif", np.ones((1, 20, 20), np.uint16), transform=T0 @ Affine.translation(2, 0))
    small = make_geotiff("c.tif", np.ones((1, 20, 10), np.uint16), transform=T0)
    near = make_geotiff("d.tif", np.ones((1, 20, 20), np.uint16), transform=T0 @ Affine.translation(0.4, 0))
    with pytest.raises(InputError, match="co-located"):
        load_rasters([a, far])
    with pytest.raises(InputError, match="same grid"):
        load_rasters([a, small])
    assert load_rasters([a, near]).frames.shape == (2, 1, 20, 20)


def test_fuse_geotiffs_writes_a_georeferenced_result(make_geotiff, tmp_path: Path) -> None:  # noqa: ANN001
    frames, _ = _revisits(make_geotiff)
    out = tmp_path / "fused.tif"
    res = runner.invoke(app, ["fuse", *map(str, frames), str(out), "--mask-spec", "_b3=_fmask",
                              "--clear-values", "0,1", "--method", "shiftadd", "--scale", "3"])
    assert res.exit_code == 0, res.output
    with rasterio.open(out) as ds, rasterio.open(frames[0]) as src:
        assert (ds.width, ds.height, ds.count) == (120, 120, 2)
        assert ds.dtypes[0] == "int16" and ds.nodata == -9999 and ds.crs == src.crs
        assert ds.transform == src.transform @ Affine.scale(1 / 3)
        data = ds.read()
    assert (data[:, :3, :9] == -9999).all()  # no frame had data there
    valid = data[:, 6:, :]
    assert valid.min() > 0 and valid.max() < 3000  # the cloud did not leak in
    # array API, other methods, and an existing output is refused
    arr = fuse(frames, method="median", scale=2, mask_spec="_b3=_fmask", clear_values=[0, 1])
    assert arr.shape == (2, 80, 80)
    res = runner.invoke(app, ["fuse", *map(str, frames), str(out)])
    assert res.exit_code != 0


def test_fuse_imgset_to_16bit_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    lr = rng.integers(2000, 3000, (4, 16, 16))
    d = write_imgset(tmp_path / "imgset0100", lr, np.ones(lr.shape, bool))
    out = tmp_path / "sr.png"
    res = runner.invoke(app, ["fuse", str(d), str(out), "--method", "baseline"])
    assert res.exit_code == 0, res.output
    with Image.open(out) as im:
        arr = np.asarray(im)
    assert arr.shape == (48, 48) and arr.dtype == np.uint16 and arr.min() >= 2000 and arr.max() <= 3000
    assert load_stack([d]).kind == "probav"
    with pytest.raises(OptionError, match="x3"):
        fuse(d, tmp_path / "x.png", scale=2)
    with pytest.raises(OptionError, match="png"):
        fuse(d, tmp_path / "x.tif", method="baseline")
    with pytest.raises(OptionError, match="multi-image"):
        fuse(d, method="bicubic")
    with pytest.raises(OptionError, match="options"):
        fuse(d, method="shiftadd", nonsense=1)


def test_fuse_real_imgset(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "test_red.png"
    res = runner.invoke(app, ["fuse", str(shared_data / "probav" / "test" / "RED" / "imgset1160"), str(out),
                              "--method", "median"])
    assert res.exit_code == 0, res.output
    with Image.open(out) as im:
        assert im.size == (384, 384) and np.asarray(im).dtype == np.uint16


def test_fuse_with_weights_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--weights` loads a deep fuser's weights from a file (card beside it): the shipped HighRes-net
    copied elsewhere gives the same image as the shipped default; a missing file is one clear error."""
    import shutil

    from satsr.models.registry import WEIGHTS_DIR

    for ext in ("safetensors", "json"):
        shutil.copy(WEIGHTS_DIR / f"highresnet_x3.{ext}", tmp_path / f"mine.{ext}")
    rng = np.random.default_rng(1)
    lr = ndimage.gaussian_filter(rng.random((5, 24, 24)), (0, 2, 2)) * 4000 + 2000
    d = write_imgset(tmp_path / "imgset0101", lr.astype(np.uint16), np.ones(lr.shape, bool))
    images = []
    for extra in ([], ["--weights", str(tmp_path / "mine.safetensors")]):
        out = tmp_path / f"sr{len(extra)}.png"
        res = runner.invoke(app, ["fuse", str(d), str(out), "-m", "highresnet", *extra])
        assert res.exit_code == 0, res.output
        with Image.open(out) as im:
            images.append(np.asarray(im))
    assert images[0].shape == (72, 72) and np.array_equal(images[0], images[1])
    from satsr.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["fuse", str(d), str(tmp_path / "x.png"), "-m", "highresnet",
              "--weights", str(tmp_path / "absent.safetensors")])
    err = capsys.readouterr().err
    assert exc.value.code != 0 and "absent.safetensors: weights file not found" in err
    assert "Traceback" not in err and not (tmp_path / "x.png").exists()
