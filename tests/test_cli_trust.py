"""`satsr upscale --consistency --uncertainty --hallucination`: georeferenced maps, exactness, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from helpers import run_cli, smooth_image
from satsr.trust import Degradation, consistency_rmse, downsample


@pytest.fixture
def holed_tif(make_geotiff) -> Path:  # type: ignore[no-untyped-def]
    data = np.round(smooth_image(2, 36, 44, seed=3, lo=200, hi=3000, noise=0.05)).astype(np.uint16)
    data[:, 10:18, 20:30] = 0  # nodata hole
    return make_geotiff("in.tif", data, nodata=0, descriptions=["red", "nir"])


def test_maps_share_the_output_grid(holed_tif: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out, unc, hal = tmp_path / "sr.tif", tmp_path / "unc.tif", tmp_path / "hal.tif"
    code, stdout, err = run_cli(["upscale", holed_tif, out, "-s", "2", "-m", "bicubic", "--tile", "16",
                                 "--overlap", "4", "--quiet", "--consistency", "--uncertainty", unc,
                                 "--hallucination", hal], capsys)
    assert code == 0, err
    assert "LR-consistent" in stdout and "uncertainty map" in stdout and "hallucination map" in stdout
    with rasterio.open(out) as ds:
        sr, grid = ds.read().astype(np.float64), (ds.crs, ds.transform, ds.count, ds.height, ds.width)
        sr_nodata = ds.read_masks() == 0
    for path, kind in ((unc, "uncertainty"), (hal, "hallucination")):
        with rasterio.open(path) as ds:
            assert (ds.crs, ds.transform, ds.count, ds.height, ds.width) == grid
            assert ds.dtypes == ("float32", "float32") and np.isnan(ds.nodata)
            assert ds.descriptions == (f"{kind} of red", f"{kind} of nir")
            assert ds.tags()["SATSR_MAP"] == kind
            values = ds.read()
        assert np.array_equal(np.isnan(values), sr_nodata)  # nodata exactly where the image has it
        finite = values[np.isfinite(values)]
        if kind == "uncertainty":
            assert finite.max() < 1e-2  # bicubic is flip/rotation equivariant
        else:
            assert finite.min() >= 0 and finite.max() < 1e-3  # consistent bicubic: nothing unsupported
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".satsr-tmp-")]
    with rasterio.open(holed_tif) as ds:
        lr = ds.read().astype(np.float64)
    valid = lr != 0
    deg = Degradation("bicubic", 2)
    sr[~np.repeat(np.repeat(valid, 2, 1), 2, 2)] = np.nan
    assert consistency_rmse(sr, lr, deg, valid=valid) < 0.5  # uint16 rounding only
    plain = tmp_path / "plain.tif"
    assert run_cli(["upscale", holed_tif, plain, "-s", "2", "--quiet"], capsys)[0] == 0
    with rasterio.open(plain) as ds:
        before = ds.read().astype(np.float64)
    before[np.isnan(sr)] = np.nan
    assert consistency_rmse(before, lr, deg, valid=valid) > 5 * consistency_rmse(sr, lr, deg, valid=valid)


def _same_as_output(tif: Path, tmp: Path) -> list[object]:
    return ["upscale", tif, tmp / "o.tif", "--uncertainty", tmp / "o.tif"]


def _same_as_input(tif: Path, tmp: Path) -> list[object]:
    return ["upscale", tif, tmp / "o.tif", "--hallucination", tif, "--overwrite"]


def _map_exists(tif: Path, tmp: Path) -> list[object]:
    (tmp / "u.tif").write_bytes(b"keep me")
    return ["upscale", tif, tmp / "o.tif", "--uncertainty", tmp / "u.tif"]


def _bad_degradation(tif: Path, tmp: Path) -> list[object]:
    return ["upscale", tif, tmp / "o.tif", "--consistency", "--degradation", "box"]


def _degradation_alone(tif: Path, tmp: Path) -> list[object]:
    return ["upscale", tif, tmp / "o.tif", "--degradation", "wald"]


@pytest.mark.parametrize("case", [_same_as_output, _same_as_input, _map_exists, _bad_degradation,
                                  _degradation_alone], ids=lambda f: f.__name__.strip("_"))
def test_user_errors_exit_2_with_one_line(case, holed_tif: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    args = case(holed_tif, tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = run_cli([*args, "--quiet"], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("satsr: error: "), err
    assert "Traceback" not in err and out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_array_api_consistency_and_map_errors() -> None:
    import satsr
    from satsr.errors import OptionError

    lr = np.round(smooth_image(1, 30, 30, seed=4, lo=10, hi=240)).astype(np.uint8)
    sr = satsr.upscale(lr, scale=3, model="bicubic", consistency=True)
    assert sr.dtype == np.uint8
    assert consistency_rmse(sr.astype(float), lr.astype(float), Degradation("bicubic", 3)) < 0.5
    with pytest.raises(OptionError, match="give an output file"):
        satsr.upscale(lr, scale=3, uncertainty="u.tif")


@pytest.mark.skipif(not (Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ucmerced").is_dir(),
                    reason="shared data (../shared/data/ucmerced) not available")
def test_ucmerced_consistency_costs_no_psnr() -> None:
    import satsr
    from satsr import metrics
    from satsr.evaluate import degrade_for_eval
    from satsr.io.image import read_image
    from satsr.models import registry

    data = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ucmerced" / "val"
    img = read_image(sorted(data.rglob("*.png"))[0])
    hr, lr = degrade_for_eval(img, 4, True)
    shipped = registry.find_card("espcn", 4) is not None
    model = "espcn" if shipped else "bicubic"
    lr8 = lr.astype(np.uint8)
    plain = satsr.upscale(lr8, scale=4, model=model).astype(np.float64)
    cons = satsr.upscale(lr8, scale=4, model=model, consistency=True).astype(np.float64)
    deg = Degradation("bicubic", 4)
    assert consistency_rmse(cons, lr, deg) < 0.5 < consistency_rmse(plain, lr, deg)
    assert np.abs(downsample(cons, deg) - lr).max() < 3
    drop = metrics.psnr(plain, hr, 255.0, border=4) - metrics.psnr(cons, hr, 255.0, border=4)
    assert drop <= 0.1


def _png_folder(root: Path, n: int = 2, size: int = 48) -> Path:
    from PIL import Image

    root.mkdir(parents=True)
    for i in range(n):
        img = smooth_image(3, size, size, seed=10 + i, lo=20, hi=235, noise=0.05)
        Image.fromarray(np.moveaxis(np.round(img), 0, -1).astype(np.uint8)).save(root / f"img{i}.png")
    return root


def test_evaluate_sisr_reports_consistency_and_opensr(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    folder = _png_folder(tmp_path / "hr")
    code, out, err = run_cli(["evaluate", "sisr", "--hr-dir", folder, "--scale", "2", "--consistency", "--opensr",
                              "--json"], capsys)
    assert code == 0, err
    rows = {r["model"]: r for r in json.loads(out)["rows"]}
    assert list(rows) == ["bicubic", "bicubic+consistency"]
    plain, proj = rows["bicubic"], rows["bicubic+consistency"]
    assert proj["consistency_rmse"] < 0.5 < plain["consistency_rmse"]  # 8-bit rounding only
    assert proj["psnr"] > plain["psnr"] - 0.1
    for r in rows.values():
        o = r["opensr"]
        assert o["improvement"] + o["omission"] + o["hallucination"] == pytest.approx(1.0, abs=1e-6)


def test_evaluate_opensr_on_a_raster(make_geotiff, capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    data = np.round(smooth_image(4, 96, 96, seed=12, lo=300, hi=4000, noise=0.05)).astype(np.uint16)
    tif = make_geotiff("s2.tif", data)
    code, out, err = run_cli(["evaluate", "opensr", "--hr", tif, "--scale", "4", "--consistency", "--json"], capsys)
    assert code == 0, err
    rep = json.loads(out)
    assert rep["degradation"] == "wald x1/4" and rep["bands"] == [1, 2, 3, 4]
    plain, proj = rep["rows"]
    assert proj["model"] == "bicubic+consistency" and proj["consistency_rmse"] < 1e-6 < plain["consistency_rmse"]
    assert 0 < plain["reflectance"] < 0.05 and plain["omission"] > plain["hallucination"]
    code, _, err = run_cli(["evaluate", "opensr", "--hr", tif, "--scale", "4", "--degradation", "box"], capsys)
    assert code == 2 and err.count("\n") == 1 and "box" in err


def test_compare_trust_adds_map_panels(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    folder = _png_folder(tmp_path / "hr", n=1, size=64)
    src = next(folder.iterdir())
    plain, trust = tmp_path / "plain.png", tmp_path / "trust.png"
    assert run_cli(["compare", src, "-o", plain, "-s", "2", "--zoom", "48"], capsys)[0] == 0
    code, out, err = run_cli(["compare", src, "-o", trust, "-s", "2", "--zoom", "48", "--trust"], capsys)
    assert code == 0 and "wrote" in out, err
    w_plain, w_trust = Image.open(plain).size[0], Image.open(trust).size[0]
    assert w_trust == pytest.approx(w_plain * 5 / 3, rel=0.05)  # LR, bicubic, HR + bicubic's two maps


def test_fuse_writes_the_fusers_own_uncertainty(make_geotiff, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from affine import Affine

    from satsr.errors import OptionError
    from satsr.fusion import fuse
    from satsr.models import registry

    t0 = Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4200000.0)
    frames = []
    for t in range(3):
        img = smooth_image(1, 16, 16, seed=20 + t, lo=500, hi=3000, noise=0.02).astype(np.int16)
        frames.append(make_geotiff(f"f{t}.tif", img, nodata=-9999, transform=t0, crs="EPSG:32613"))
    torch.manual_seed(0)
    piunet = registry.create("piunet", 3, pretrained=False)  # random weights: a sigma map all the same
    out, unc = tmp_path / "fused.tif", tmp_path / "sigma.tif"
    fuse(frames, out, method=piunet, scale=3, uncertainty=unc)
    with rasterio.open(out) as a, rasterio.open(unc) as b:
        assert (a.crs, a.transform, a.shape, a.count) == (b.crs, b.transform, b.shape, b.count)
        assert b.dtypes[0] == "float32" and b.tags()["SATSR_MAP"] == "uncertainty"
        sigma = b.read()
    assert np.isfinite(sigma).all() and (sigma > 0).all()
    with pytest.raises(OptionError, match="no per-pixel uncertainty"):
        fuse(frames, tmp_path / "b.tif", method="baseline", scale=3, uncertainty=tmp_path / "s2.tif")
    code, _, err = run_cli(["fuse", *frames, tmp_path / "c.tif", "--uncertainty", tmp_path / "c.tif"], capsys)
    assert code == 2 and err.count("\n") == 1
