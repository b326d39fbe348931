"""Deep fusers on real revisits: PROBA-V test scenes and cloudy Landsat time series (skip without data).

Uses the shipped weights when they exist (otherwise a seeded, untrained network: the properties
checked here - shapes, georeferencing, no NaN, no cloud leakage - hold by construction either way).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from PIL import Image
from typer.testing import CliRunner

from satsr.cli import app
from satsr.fusion import fuse_stack
from satsr.io.stack import load_rasters
from satsr.models.registry import create, find_card

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
TIMESERIES = DATA / "landsat" / "timeseries"
runner = CliRunner()

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is absent (real-data tests)")




def _fuser(name: str = "highresnet", **options: object):  # noqa: ANN202
    torch.manual_seed(0)
    return create(name, 3, pretrained=find_card(name, 3, "misr") is not None, **options)


def _dates() -> list[tuple[Path, float, float, float]]:
    """(b4 path, clear fraction, cloud fraction, median b4 under cloud) of every date of the series."""
    out = []
    for d in sorted(TIMESERIES.iterdir()):
        b4 = next(d.glob("*_b4.tif"))
        with rasterio.open(next(d.glob("*_fmask.tif"))) as ds:
            fm = ds.read(1)
        with rasterio.open(b4) as ds:
            val = ds.read(1)
        cloud = fm == 4
        level = float(np.median(val[cloud])) if cloud.any() else 0.0
        out.append((b4, float(np.isin(fm, [0, 1]).mean()), float(cloud.mean()), level))
    return out


@pytest.mark.skipif(not TIMESERIES.is_dir(), reason="landsat/timeseries is absent")
def test_landsat_clouds_do_not_leak_into_the_fusion() -> None:
    dates = _dates()
    clear = [p for p, c, k, _ in dates if c > 0.75 and k == 0][:8]
    # partly cloudy dates whose clouds are bright (thin or dark clouds would not show a leak)
    cloudy = [p for p, c, k, lv in dates if 0.05 < k < 0.6 and lv > 4000][:6]
    assert len(clear) >= 6 and len(cloudy) >= 3
    fuser = _fuser(max_frames=32)
    st_all = load_rasters(clear + cloudy, mask_spec="_b4=_fmask", clear_values=[0, 1])
    st_clear = load_rasters(clear, mask_spec="_b4=_fmask", clear_values=[0, 1])
    with_clouds = fuse_stack(st_all, fuser)[0]
    without = fuse_stack(st_clear, fuser)[0]
    assert with_clouds.shape == (183, 183) and np.isfinite(with_clouds).all()
    # under the clouds the fused image stays with the ground: what the cloudy dates add there is a
    # small fraction of the clouds' excess brightness (an unmasked average would take a large part)
    ground = st_clear.frames[:, 0].mean(0)
    under = np.zeros((61, 61), bool)
    excess = []
    for p in cloudy:
        with rasterio.open(str(p).replace("_b4", "_fmask")) as ds:
            cloud = ds.read(1) == 4
        with rasterio.open(p) as ds:
            excess.append(float(ds.read(1)[cloud].mean() - ground[cloud].mean()))
        under |= cloud
    up = np.repeat(np.repeat(under, 3, 0), 3, 1)
    cloud_excess = float(np.mean(excess))
    assert cloud_excess > 1000  # these clouds are far brighter than the ground
    naive_pull = float((st_all.frames[:, 0].mean(0) - ground)[under].mean())
    pull = float((with_clouds - without)[up].mean() - (with_clouds - without)[~up].mean())
    assert naive_pull > 200
    assert abs(pull) < 0.05 * cloud_excess and abs(pull) < 0.25 * naive_pull, (pull, naive_pull, cloud_excess)


NO_WEIGHTS = pytest.mark.skipif(find_card("highresnet", 3, "misr") is None, reason="highresnet_x3 weights not shipped")


@NO_WEIGHTS
@pytest.mark.skipif(not TIMESERIES.is_dir(), reason="landsat/timeseries is absent")
def test_fuse_cli_on_landsat_geotiffs_is_georeferenced(tmp_path: Path) -> None:
    frames = [str(p) for p, c, _, _ in _dates() if c > 0.5][:12]
    out = tmp_path / "fused_b4.tif"
    res = runner.invoke(app, ["fuse", *frames, str(out), "--method", "highresnet", "--mask-spec", "_b4=_fmask",
                              "--clear-values", "0,1"])
    assert res.exit_code == 0, res.output
    with rasterio.open(out) as dst:
        fused = dst.read(1)
        t = dst.transform
    st = load_rasters(frames, mask_spec="_b4=_fmask", clear_values=[0, 1])
    ref = st.info
    assert fused.shape == (183, 183) and str(fused.dtype) == "int16"
    assert t.a == pytest.approx(ref.transform.a / 3) and t.e == pytest.approx(ref.transform.e / 3)
    assert (t.c, t.f) == pytest.approx((ref.transform.c, ref.transform.f))
    assert not np.any(fused == -9999)
    assert abs(float(fused.mean()) - float(st.frames[0, 0][st.masks[0]].mean())) < 400


@NO_WEIGHTS
@pytest.mark.skipif(not (DATA / "probav" / "test").is_dir(), reason="probav/test is absent")
@pytest.mark.parametrize("scene", ["RED/imgset1160", "NIR/imgset1306"])
def test_fuse_cli_on_probav_test_scenes(scene: str, tmp_path: Path) -> None:
    out = tmp_path / "sr.png"
    res = runner.invoke(app, ["fuse", str(DATA / "probav" / "test" / scene), str(out), "--method", "highresnet"])
    assert res.exit_code == 0, res.output
    with Image.open(out) as im:
        sr = np.asarray(im).astype(np.float64)
    assert sr.shape == (384, 384)
    lr = np.asarray(Image.open(DATA / "probav" / "test" / scene / "LR000.png")).astype(np.float64)
    # same radiometry as the frames (14-bit DN), not saturated by the 65535 fill of masked pixels
    assert 0.7 * np.median(lr) < np.median(sr) < 1.3 * np.median(lr) and sr.max() < 16384
