"""`satsr sharpen` and `satsr evaluate sharpen`: georeferencing, band order, unchanged 10 m bands, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine

from helpers import run_cli, smooth_image, write_geotiff
from satsr.io.sentinel2 import S2_BANDS
from satsr.models.registry import find_card
from satsr.ops.filters import wald_degrade

ORIGIN = (500000.0, 4200000.0)
PREFIX = "T99XXX_20200101T000000"


def _transform(res: float, origin: tuple[float, float] = ORIGIN) -> Affine:
    return Affine(res, 0.0, origin[0], 0.0, -res, origin[1])


def _scene(h10: int = 72, w10: int = 96, seed: int = 0) -> dict[str, np.ndarray]:
    """Synthetic Sentinel-2-like DN: 10 m bands, and coarser bands made from them (plus their own part)."""
    g = smooth_image(4, h10, w10, seed=seed, lo=300, hi=4000)
    own = smooth_image(9, h10, w10, seed=seed + 1, lo=0, hi=400)
    bands = {b: g[i] for i, b in enumerate(("B02", "B03", "B04", "B08"))}
    coarse = {"B05": 2, "B06": 2, "B07": 2, "B8A": 2, "B11": 2, "B12": 2, "B01": 6, "B09": 6, "B10": 6}
    for k, (b, q) in enumerate(coarse.items()):
        hr = 0.5 * g[k % 4] + 0.3 * g[(k + 1) % 4] + own[k]
        bands[b] = wald_degrade(torch.from_numpy(hr[None]), q)[0].numpy()
    return {b: np.round(v).astype(np.uint16) for b, v in bands.items()}


@pytest.fixture
def s2_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "IMG_DATA"
    folder.mkdir()
    for b, data in _scene().items():
        res = 10.0 * (96 // data.shape[1])
        write_geotiff(folder / f"{PREFIX}_{b}.tif", data[None], transform=_transform(res))
    (folder / "notes.txt").write_text("not a band")
    return folder


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    """A 4-band 10 m guide (B4, B3, B2, B8) and the 6 20 m bands, as two GeoTIFFs."""
    s = _scene(48, 64, seed=3)
    guide = write_geotiff(tmp_path / "g10.tif", np.stack([s[b] for b in ("B04", "B03", "B02", "B08")]),
                          transform=_transform(10.0), descriptions=["B4", "B3", "B2", "B8"])
    names = ["B05", "B06", "B07", "B8A", "B11", "B12"]
    lowres = write_geotiff(tmp_path / "l20.tif", np.stack([s[b] for b in names]), transform=_transform(20.0),
                           descriptions=names)
    return guide, lowres


def _assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert err.startswith("satsr: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, err


@pytest.mark.parametrize("model", ["hpi", "bicubic"])
def test_pair_output_is_on_the_guide_grid(pair: tuple[Path, Path], tmp_path: Path, model: str, capsys) -> None:  # type: ignore[no-untyped-def]
    guide, lowres = pair
    out = tmp_path / f"{model}.tif"
    code, stdout, err = run_cli(["sharpen", "--guide", guide, "--lowres", lowres, out, "--model", model,
                                 "--tile", "32", "-q"], capsys)
    assert code == 0, err
    assert f"wrote {out}" in stdout
    with rasterio.open(guide) as g, rasterio.open(lowres) as lo, rasterio.open(out) as ds:
        assert ds.shape == g.shape and ds.count == lo.count
        assert ds.crs == g.crs and ds.transform == g.transform
        assert ds.dtypes[0] == "uint16" and ds.descriptions == lo.descriptions
        y = ds.read().astype(np.float64)
        # sharpening keeps the low-res content: degrading the output gives back the input closely
        back = wald_degrade(torch.from_numpy(y), 2).numpy()
        rel = np.abs(back - lo.read())[:, 3:-3, 3:-3].mean() / lo.read().mean()
        assert rel < 0.03
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".satsr-tmp-")]


def test_pair_with_band_selection_and_reorder(pair: tuple[Path, Path], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    guide, lowres = pair
    out = tmp_path / "two.tif"
    code, _, err = run_cli(["sharpen", "-g", guide, "-l", lowres, out, "--bands", "6,1", "--guide-bands", "4,1",
                            "-q"], capsys)
    assert code == 0, err
    with rasterio.open(out) as ds:
        assert ds.count == 2 and ds.descriptions == ("B12", "B05")


def test_s2_folder_writes_13_bands_at_10m(s2_folder: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "s2_10m.tif"
    code, _, err = run_cli(["sharpen", s2_folder, out, "--tile", "48", "-q"], capsys)  # hpi is the default
    assert code == 0, err
    with rasterio.open(out) as ds, rasterio.open(s2_folder / f"{PREFIX}_B02.tif") as ref:
        assert ds.count == 13 and ds.descriptions == S2_BANDS
        assert ds.crs == ref.crs and ds.transform == ref.transform and ds.shape == ref.shape
        assert ds.dtypes[0] == "uint16" and ds.nodata == 0
        data = ds.read()
        assert ds.tags(11)["SATSR_METHOD"] == "hpi x6"  # B10
    for i, b in enumerate(S2_BANDS):
        with rasterio.open(s2_folder / f"{PREFIX}_{b}.tif") as src:
            native = src.read(1)
        if b in ("B02", "B03", "B04", "B08"):
            assert np.array_equal(data[i], native), b  # bit for bit
        else:
            q = 72 // native.shape[0]
            assert data[i].shape == (72, 96)
            back = wald_degrade(torch.from_numpy(data[i][None].astype(np.float64)), q)[0].numpy()
            assert np.abs(back - native).mean() < 0.05 * native.mean(), b


def test_s2_folder_with_dsen2(s2_folder: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """The shipped networks run on a whole folder (ratio 2 and 6 weights chosen by ratio)."""
    assert find_card("dsen2", 2, "guided") is not None and find_card("dsen2", 6, "guided") is not None
    out = tmp_path / "dsen2.tif"
    code, _, err = run_cli(["sharpen", s2_folder, out, "-m", "dsen2", "-q"], capsys)
    assert code == 0, err
    with rasterio.open(out) as ds:
        assert ds.count == 13
        assert ds.tags(5)["SATSR_METHOD"] == "dsen2 x2" and ds.tags(1)["SATSR_METHOD"] == "dsen2 x6"
        assert ds.tags(11)["SATSR_METHOD"] == "hpi x6"
        with rasterio.open(s2_folder / f"{PREFIX}_B08.tif") as src:
            assert np.array_equal(ds.read(8), src.read(1))


def test_pair_with_dsen2_and_wrong_band_count(pair: tuple[Path, Path], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    guide, lowres = pair
    code, _, err = run_cli(["sharpen", "-g", guide, "-l", lowres, tmp_path / "ok.tif", "-m", "dsen2", "-q"], capsys)
    assert code == 0, err
    code, _, err = run_cli(["sharpen", "-g", guide, "-l", lowres, tmp_path / "bad.tif", "-m", "dsen2",
                            "--bands", "1,2,3", "-q"], capsys)
    _assert_one_line_error(code, err, "takes 6 low-res bands", "--bands")
    code, _, err = run_cli(["sharpen", "-g", guide, "-l", lowres, tmp_path / "bad.tif", "-m", "dsen2",
                            "--guide-bands", "1,2", "-q"], capsys)
    _assert_one_line_error(code, err, "takes 4 guide bands", "B04, B03, B02, B08")


def test_evaluate_sharpen_json(pair: tuple[Path, Path], capsys) -> None:  # type: ignore[no-untyped-def]
    guide, lowres = pair
    code, out, err = run_cli(["evaluate", "sharpen", "--guide", guide, "--lowres", lowres, "--model", "hpi",
                              "--json"], capsys)
    assert code == 0, err
    rep = json.loads(out)
    assert rep["ratio"] == 2 and rep["bands"] == ["B05", "B06", "B07", "B8A", "B11", "B12"]
    bic, hpi = rep["methods"]["bicubic"], rep["methods"]["hpi"]
    assert len(hpi["rmse"]) == 6 and len(hpi["psnr"]) == 6
    assert hpi["rmse_mean"] < bic["rmse_mean"] and hpi["sam"] < bic["sam"] and hpi["ergas"] < bic["ergas"]


def test_user_errors_exit_2_with_one_line(pair: tuple[Path, Path], s2_folder: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    guide, lowres = pair
    out = tmp_path / "o.tif"
    cases: list[tuple[list[object], tuple[str, ...]]] = [
        (["sharpen", "--guide", guide, out], ("--guide and --lowres",)),
        (["sharpen", "-g", guide, "-l", lowres, out, "-m", "nope"], ("unknown guided model",)),
        (["sharpen", "-g", guide, "-l", tmp_path / "missing.tif", out], ("missing.tif", "no such file")),
        (["sharpen", tmp_path / "nowhere", out], ("nowhere", "no such folder")),
        (["sharpen", guide, out], ("is a file",)),
        (["sharpen", s2_folder, out, "--bands", "1"], ("--guide/--lowres inputs only",)),
        (["sharpen", "-g", guide, "-l", lowres, out, "--bands", "0"], ("1-based",)),
        (["evaluate", "sharpen", "-g", guide, "-l", tmp_path / "missing.tif"], ("missing.tif",)),
    ]
    for args, needles in cases:
        code, _, err = run_cli(args, capsys)
        _assert_one_line_error(code, err, *needles)

    # the low-res grid is not an integer fraction of the guide
    odd = write_geotiff(tmp_path / "odd.tif", np.ones((1, 20, 30), np.uint16), transform=_transform(20.0))
    code, _, err = run_cli(["sharpen", "-g", guide, "-l", odd, out], capsys)
    _assert_one_line_error(code, err, "odd.tif", "integer multiple")
    # same size but another place
    shifted = write_geotiff(tmp_path / "shifted.tif", np.ones((1, 24, 32), np.uint16),
                            transform=_transform(20.0, (ORIGIN[0] + 200, ORIGIN[1])))
    code, _, err = run_cli(["sharpen", "-g", guide, "-l", shifted, out], capsys)
    _assert_one_line_error(code, err, "shifted.tif", "footprint")
    # a band missing from the folder
    (s2_folder / f"{PREFIX}_B10.tif").unlink()
    code, _, err = run_cli(["sharpen", s2_folder, out, "-m", "hpi"], capsys)
    _assert_one_line_error(code, err, "B10", "not found")
    # output exists
    out.write_bytes(b"x")
    code, _, err = run_cli(["sharpen", "-g", guide, "-l", lowres, out], capsys)
    _assert_one_line_error(code, err, "exists", "--overwrite")
    assert out.read_bytes() == b"x"


def test_real_l1c_folder(shared_data: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """The real 13-band L1C subset: 13 bands at 10 m, 10 m bands unchanged, B02's grid."""
    folder = shared_data / "sentinel2" / "l1c_13bands"
    out = tmp_path / "l1c_10m.tif"
    code, _, err = run_cli(["sharpen", folder, out, "-m", "bicubic", "-q"], capsys)  # the cheap one: I/O is tested
    assert code == 0, err
    b02 = next(folder.glob("*_B02.jp2"))
    with rasterio.open(out) as ds, rasterio.open(b02) as ref:
        assert ds.count == 13 and ds.descriptions == S2_BANDS
        assert ds.crs == ref.crs and ds.transform == ref.transform and ds.shape == ref.shape == (768, 1536)
        assert np.array_equal(ds.read(2), ref.read(1))


def test_safe_product_folder_is_searched_for_its_granule(s2_folder: Path, tmp_path: Path) -> None:
    from satsr.io.sentinel2 import s2_band_files

    safe = tmp_path / "S2A_MSIL1C_X.SAFE"
    (safe / "GRANULE" / "L1C_T99XXX").mkdir(parents=True)
    s2_folder.rename(safe / "GRANULE" / "L1C_T99XXX" / "IMG_DATA")
    files = s2_band_files(safe)
    assert sorted(files) == sorted(S2_BANDS) and files["B8A"].name == f"{PREFIX}_B8A.tif"
