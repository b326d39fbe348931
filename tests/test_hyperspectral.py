"""Hyperspectral SR (``sgsr``), cube training data (``cubes``), HS + finer-image fusion (``hpi-hs``,
``hsnet-zs``) and ``satsr evaluate hyperspectral``."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import torch
from affine import Affine

from helpers import run_cli, smooth_image, write_geotiff
from satsr.data.base import open_dataset
from satsr.data.cubes import band_ranges, outside
from satsr.errors import InputError
from satsr.models import registry
from satsr.models.hs_fusion import estimate_shifts, shifted
from satsr.models.sgsr import band_windows
from satsr.ops.filters import wald_degrade
from satsr.sharpen import sharpen_arrays, sharpen_files


def spectral_cube(bands: int, size: int, seed: int = 0) -> np.ndarray:
    """A cube whose spectra are mixtures of three smooth endmember spectra (correlated bands, as in
    real hyperspectral data), abundances from smooth images; float64 reflectance-like values."""
    rng = np.random.default_rng(seed)
    ab = smooth_image(3, size, size, seed=seed, lo=0.05, hi=1.0, noise=0.0)
    ab /= ab.sum(0, keepdims=True)
    wl = np.linspace(0, 1, bands)
    ends = np.stack([0.2 + 0.5 * np.exp(-((wl - c) / 0.3) ** 2) for c in rng.uniform(0, 1, 3)])  # (3, bands)
    return np.einsum("kb,khw->bhw", ends, ab)


# ----------------------------------------------------------------------------- the model


def test_band_windows_cover_every_band_with_overlap() -> None:
    for bands in (1, 5, 8, 9, 48, 128):
        starts = band_windows(bands, 8, 2)
        covered = set()
        for a in starts:
            covered.update(range(a, min(a + 8, bands)))
        assert covered == set(range(bands))
        assert starts[0] == 0 and (bands <= 8 or starts[-1] + 8 == bands)
        assert all(b - a <= 6 for a, b in pairwise(starts))  # >= 2 bands shared


@pytest.mark.parametrize("bands", [1, 48, 128])
def test_sgsr_takes_any_band_count(bands: int) -> None:
    torch.manual_seed(0)
    model = registry.create("sgsr", 2, kind="sisr", pretrained=False)
    x = spectral_cube(bands, 12).astype(np.float32)
    y = model.apply(x)
    assert y.shape == (bands, 24, 24) and np.isfinite(y).all()
    # a fresh network starts at bicubic: its detail is damped, so the output stays near the input's range
    assert abs(float(y.mean()) - float(x.mean())) < 0.05 * float(x.mean())


@pytest.mark.parametrize("bands", [1, 48, 128])
def test_shipped_sgsr_takes_any_band_count(bands: int) -> None:
    """The shipped weights (reflectance x 10000, the card's value_scale) on 1, 48 and 128 bands: the right
    shape, finite, and close to bicubic in level (the detail averages out)."""
    if registry.find_card("sgsr", 2) is None:
        pytest.skip("no shipped sgsr_x2 weights")
    model = registry.create("sgsr", 2, kind="sisr")
    x = (spectral_cube(bands, 16, seed=bands) * 10000).astype(np.float32)
    y = model.apply(x)
    assert y.shape == (bands, 32, 32) and np.isfinite(y).all()
    bic = registry.create("bicubic", 2).apply(x)
    assert abs(float(y.mean()) - float(bic.mean())) < 0.02 * float(bic.mean())


def test_sgsr_is_unit_free_and_tiles_exactly() -> None:
    torch.manual_seed(1)
    model = registry.create("sgsr", 2, kind="sisr", pretrained=False)
    x = spectral_cube(20, 40, seed=3).astype(np.float32)
    y = model.apply(x)
    # gain invariance: the same cube in DN (x 10000) gives the same result in DN
    np.testing.assert_allclose(model.apply(x * 10000) / 10000, y, rtol=2e-3, atol=2e-5)
    # a window with `margin` px of context reproduces the whole-image result in its centre
    m = model.margin
    c0, c1 = 12, 20
    win = x[:, max(0, c0 - m):c1 + m, max(0, c0 - m):c1 + m]
    yw = model.apply(win)
    off = c0 - max(0, c0 - m)
    np.testing.assert_allclose(yw[:, 2 * off:2 * (off + c1 - c0), 2 * off:2 * (off + c1 - c0)],
                               y[:, 2 * c0:2 * c1, 2 * c0:2 * c1], atol=1e-4)


# ----------------------------------------------------------------------------- training data


def test_cube_regions_never_touch_the_held_out_part(tmp_path: Path) -> None:
    cube = (spectral_cube(30, 40) * 10000).astype(np.uint16)
    write_geotiff(tmp_path / "a.tif", cube)
    write_geotiff(tmp_path / "b.tif", spectral_cube(10, 24, seed=1).astype(np.float32))
    opts = {"holdout": {"a.tif": [10, 30, 5, None]}, "band_window": 12}
    train = open_dataset("cubes", tmp_path, "train", **opts)
    test = open_dataset("cubes", tmp_path, "test", **opts)
    assert len(open_dataset("cubes", tmp_path, "val", **opts)) == 0
    held = np.zeros((40, 40), bool)
    held[10:30, 5:] = True
    seen = np.zeros((40, 40), int)
    for it in train.items:
        if it.path.name == "a.tif":
            r0, r1, c0, c1 = it.region
            seen[r0:r1, c0:c1] += 1
            assert not held[r0:r1, c0:c1].any()
    assert (seen > 0).sum() == (~held).sum()  # everything else is used
    assert {train[i]["hr"].shape[0] for i in range(len(train))} == {10, 12}  # windows of 12 bands; b has 10
    assert [t.region for t in test.items] == [(10, 30, 5, 40)]
    np.testing.assert_allclose(test[0]["hr"], cube[:, 10:30, 5:] / 10000, rtol=1e-6)  # uint16: / 10000
    assert outside((0, 40, 0, 40), 40, 40) == []
    assert band_ranges(48, 24) == [(0, 24), (12, 36), (24, 48)] and band_ranges(10, 24) == [(0, 10)]


def test_cube_holdout_outside_the_cube_is_one_error(tmp_path: Path) -> None:
    write_geotiff(tmp_path / "a.tif", spectral_cube(4, 16).astype(np.float32))
    with pytest.raises(Exception, match="not a rectangle inside"):
        open_dataset("cubes", tmp_path, "train", holdout={"a.tif": [0, 20, 0, 4]})


# ----------------------------------------------------------------------------- fusion


def test_shift_estimation_finds_a_known_misregistration() -> None:
    guide = torch.from_numpy(smooth_image(3, 96, 96, seed=5, lo=0.1, hi=1.0, noise=0.0))
    mix = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.3, 0.0, 0.7]], dtype=torch.float64)
    truth = (-0.3, 0.6)  # the cube sees the guide displaced by this (HR px)
    hr_cube = torch.einsum("cg,ghw->chw", mix, shifted(guide, *truth))
    lowres = wald_degrade(hr_cube, 3)
    est = estimate_shifts(guide, lowres, 3)
    np.testing.assert_allclose(est, np.tile(truth, (4, 1)), atol=0.08)


@pytest.mark.parametrize(("guide_bands", "cube_bands"), [(1, 48), (3, 128), (9, 48)])
def test_fusion_works_for_1_3_9_guide_bands_and_48_128_cube_bands(guide_bands: int, cube_bands: int) -> None:
    size, r = 36, 3
    cube = spectral_cube(cube_bands, size, seed=guide_bands)
    # the guide: band averages of the cube (a spectral response), as an MS or PAN sensor would see it
    edges = np.linspace(0, cube_bands, guide_bands + 1).astype(int)
    guide = np.stack([cube[a:b].mean(0) for a, b in pairwise(edges)]).astype(np.float32)
    lowres = wald_degrade(torch.from_numpy(cube), r).numpy().astype(np.float32)
    err = {}
    for m in ("bicubic", "hpi-hs", "hsnet-zs"):
        out = sharpen_arrays(guide, lowres, m)
        assert out.shape == cube.shape and np.isfinite(out).all()
        err[m] = float(np.sqrt(((out - cube) ** 2).mean()))
    # a guide with more bands explains more of the spectra; even one band helps
    assert err["hpi-hs"] < (0.95 if guide_bands == 1 else 0.7) * err["bicubic"], err
    assert err["hsnet-zs"] < 1.2 * err["hpi-hs"], err


def test_hpi_hs_tiles_agree_with_the_whole_image() -> None:
    cube = spectral_cube(12, 48, seed=2)
    guide = cube[:6].mean(0, keepdims=True).astype(np.float32)
    lowres = wald_degrade(torch.from_numpy(cube), 2).numpy().astype(np.float32)
    whole = sharpen_arrays(guide, lowres, "hpi-hs")
    tiled = sharpen_arrays(guide, lowres, "hpi-hs", tile=16)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def test_a_guide_that_does_not_cover_the_cube_is_one_error_and_no_output(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    cube = write_geotiff(tmp_path / "cube.tif", spectral_cube(8, 20).astype(np.float32), crs=None)
    guide = write_geotiff(tmp_path / "pan.tif", np.ones((1, 60, 50), np.float32), crs=None)
    out = tmp_path / "out.tif"
    with pytest.raises(InputError, match="not an integer multiple"):
        sharpen_files(guide, cube, out, "hpi-hs")
    code, _, err = run_cli(["sharpen", "--guide", guide, "--lowres", cube, "--model", "hpi-hs", out], capsys)
    assert code == 2 and err.startswith("satsr: error: ") and err.count("\n") == 1, err
    assert not out.exists() and not list(tmp_path.glob(".satsr-tmp-*"))
    # the right size but another place (georeferenced, 3 km east of the cube): it does not cover it
    cube_g = write_geotiff(tmp_path / "cube_g.tif", spectral_cube(8, 20).astype(np.float32),
                           transform=Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4200000.0))
    far = write_geotiff(tmp_path / "far.tif", np.ones((1, 60, 60), np.float32),
                        transform=Affine(10.0, 0.0, 503000.0, 0.0, -10.0, 4200000.0))
    code, _, err = run_cli(["sharpen", "--guide", far, "--lowres", cube_g, "--model", "hpi-hs", out], capsys)
    assert code == 2 and err.startswith("satsr: error: ") and err.count("\n") == 1, err
    assert "cube_g.tif" in err and "does not cover" in err, err
    assert not out.exists() and not list(tmp_path.glob(".satsr-tmp-*"))


def test_sharpen_writes_a_cube_on_the_guide_grid(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    cube = spectral_cube(16, 60, seed=4)
    pan = cube.mean(0, keepdims=True)
    lo = write_geotiff(tmp_path / "cube.tif", wald_degrade(torch.from_numpy(cube), 3).numpy().astype(np.float32),
                       transform=Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4200000.0))
    g = write_geotiff(tmp_path / "pan.tif", pan.astype(np.float32),
                      transform=Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4200000.0))
    code, out, err = run_cli(["sharpen", "--guide", g, "--lowres", lo, "--model", "hpi-hs", "-q",
                              tmp_path / "o.tif"], capsys)
    assert code == 0, err
    from satsr.io.image import read_image

    arr = read_image(tmp_path / "o.tif")
    assert arr.shape == (16, 60, 60) and not np.isnan(arr).any()


# ----------------------------------------------------------------------------- evaluation


def test_evaluate_hyperspectral_json(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    cube = write_geotiff(tmp_path / "cube.tif", (spectral_cube(10, 32) * 10000).astype(np.uint16), crs=None)
    code, out, err = run_cli(["evaluate", "hyperspectral", "--cube", cube, "--scale", 2, "--model", "bicubic",
                              "--region", "0,-1,8,-1", "--json"], capsys)
    assert code == 0, err
    rep = json.loads(out)
    q = rep["scales"]["2"]["methods"]["bicubic"]
    assert rep["scales"]["2"]["shape"] == [10, 32, 24] and len(q["psnr"]) == 10 and 0 < q["sam"] < 10
    guide = write_geotiff(tmp_path / "g.tif", (spectral_cube(10, 32)[:5].mean(0, keepdims=True) * 10000)
                          .astype(np.uint16), crs=None)
    code, out, err = run_cli(["evaluate", "hyperspectral", "--cube", cube, "--guide", guide, "--ratio", 2,
                              "--model", "hpi-hs", "--json"], capsys)
    assert code == 0, err
    m = json.loads(out)["methods"]
    assert m["hpi-hs"]["psnr_mean"] > m["bicubic"]["psnr_mean"]


def test_shipped_sgsr_beats_bicubic_and_per_band_edsr_on_held_out_houston(shared_data: Path) -> None:
    """The spectral branch must add to the per-band network it sits on (BENCHMARKS.md: +0.5 dB, lower SAM)."""
    from satsr.evaluate.hyperspectral import hs_sisr_evaluate

    if registry.find_card("sgsr", 2) is None:
        pytest.skip("no shipped sgsr_x2 weights")
    rep = hs_sisr_evaluate(shared_data / "hyperspectral" / "houston_hs_48b.tif", ["sgsr", "edsr-ms"], (2,),
                           region=[64, None, None, None])
    m = rep["scales"]["2"]["methods"]
    assert m["sgsr"]["psnr_mean"] > m["bicubic"]["psnr_mean"] + 2.0
    assert m["sgsr"]["psnr_mean"] > m["edsr-ms"]["psnr_mean"] + 0.3, m
    assert m["sgsr"]["sam"] < m["edsr-ms"]["sam"] < m["bicubic"]["sam"]
