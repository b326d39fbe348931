"""Guided super-resolution: the contract, HPI's exactness, the Wald degradation, tiling, real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import smooth_image
from satsr.errors import OptionError
from satsr.evaluate.wald import wald_evaluate
from satsr.models import registry
from satsr.models.guided_classical import HPI, hpi_sharpen
from satsr.ops.filters import wald_degrade, wald_sigma
from satsr.sharpen import sharpen_arrays

RATIOS = (2, 4, 6)


def _pair(ratio: int, h: int = 8, w: int = 10, g: int = 4, c: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    guide = smooth_image(g, h * ratio, w * ratio, seed=seed, lo=0.05, hi=0.6).astype(np.float32)
    lowres = smooth_image(c, h, w, seed=seed + 1, lo=0.05, hi=0.6).astype(np.float32)
    return guide, lowres


def _methods(ratio: int) -> dict[str, object]:
    return {
        "bicubic": registry.create(registry.resolve_name("bicubic", "guided"), ratio),
        "hpi": registry.create("hpi", ratio),
        "dsen2-joint": registry.create("dsen2", ratio, bands=3, pretrained=False, n_blocks=1, feats=8),
        "dsen2-per-band": registry.create("dsen2", ratio, bands=1, pretrained=False, n_blocks=1, feats=8,
                                          base="hpi"),
    }


@pytest.mark.parametrize("ratio", RATIOS)
def test_contract_shapes_for_every_method(ratio: int) -> None:
    guide, lowres = _pair(ratio)
    for name, model in _methods(ratio).items():
        y = model(guide, lowres)
        assert isinstance(y, np.ndarray) and y.dtype == np.float32, name
        assert y.shape == (3, 8 * ratio, 10 * ratio), name
        assert np.isfinite(y).all(), name
        t = model(torch.from_numpy(guide), torch.from_numpy(lowres))
        assert isinstance(t, torch.Tensor) and tuple(t.shape) == y.shape, name
        with pytest.raises(ValueError):
            model(guide[:, :-1], lowres)  # guide not ratio x lowres


def test_guided_registry_names() -> None:
    assert registry.resolve_name("bicubic", "guided") == "guided-bicubic"
    assert registry.resolve_name("hpi", "guided") == "hpi" and registry.resolve_name("dsen2", "guided") == "dsen2"
    assert {s.name for s in registry.list_specs("guided")} >= {"guided-bicubic", "hpi", "dsen2"}
    assert registry.get_spec("bicubic").kind == "sisr"  # the single-image one is untouched
    with pytest.raises(OptionError, match="unknown guided model"):
        registry.resolve_name("edsr", "guided")


@pytest.mark.parametrize("ratio", RATIOS)
def test_hpi_recovers_an_exact_linear_combination(ratio: int) -> None:
    """A low-res band that is a linear combination of the degraded guide is sharpened exactly."""
    rng = np.random.default_rng(ratio)
    guide = smooth_image(4, 20 * ratio, 24 * ratio, seed=3, lo=0.0, hi=1.0, noise=0.05)
    w = rng.uniform(-1, 1, size=(2, 4))
    a = np.array([0.3, -0.2])
    truth = a[:, None, None] + np.einsum("ck,khw->chw", w, guide)
    lowres = wald_degrade(torch.from_numpy(truth), ratio).numpy()  # float64 in, float64 out
    for model in (HPI(ratio), HPI(ratio, radius=0)):
        y = model(guide, lowres)
        b = 2 * ratio
        assert np.abs(y - truth)[:, b:-b, b:-b].max() < 1e-6
    # bicubic is far off: the test is not trivial
    bic = registry.create("guided-bicubic", ratio)(guide, lowres)
    assert np.abs(bic - truth).max() > 1e-2


def test_hpi_weights_are_local() -> None:
    """Two halves with opposite guide-band relations are each sharpened well (a global fit cannot)."""
    r = 2
    guide = smooth_image(1, 64, 64, seed=5, lo=0, hi=1, noise=0.1)
    truth = guide.copy()
    truth[:, :, 32:] = 1 - guide[:, :, 32:]
    lowres = wald_degrade(torch.from_numpy(truth), r).numpy()
    err_local = np.abs(HPI(r)(guide, lowres) - truth)[:, 8:-8, 8:-8]
    err_global = np.abs(HPI(r, radius=0)(guide, lowres) - truth)[:, 8:-8, 8:-8]
    assert err_local.mean() < 0.5 * err_global.mean()


@pytest.mark.parametrize("ratio", [2, 3, 4, 6])
def test_wald_degrade_response_at_low_res_nyquist_is_0_3(ratio: int) -> None:
    """A cosine at the low-res Nyquist frequency, phased to peak at block centres, keeps 30 % amplitude."""
    n = 40 * ratio
    x = np.arange(n)
    row = np.cos(np.pi / ratio * (x - (ratio - 1) / 2))
    img = torch.from_numpy(np.tile(row, (n, 1))[None])
    y = wald_degrade(img, ratio)
    assert y.dtype == torch.float64 and tuple(y.shape) == (1, 40, 40)
    amp = y[0, 8:-8, 8:-8].abs()
    assert abs(float(amp.mean()) - 0.3) < 0.003 and float(amp.std()) < 1e-6
    assert wald_sigma(ratio) == pytest.approx(ratio / np.pi * np.sqrt(-2 * np.log(0.3)))


@pytest.mark.parametrize("ratio", [2, 3, 6])
def test_wald_degrade_samples_block_centres(ratio: int) -> None:
    """A linear ramp is sampled at the centre of each r x r block; constants are kept."""
    ramp = torch.arange(12.0 * ratio, dtype=torch.float64).repeat(6 * ratio, 1)[None]
    y = wald_degrade(ramp, ratio)[0]
    centres = torch.arange(12, dtype=torch.float64) * ratio + (ratio - 1) / 2
    torch.testing.assert_close(y[2, 2:-2], centres[2:-2], atol=1e-6, rtol=0)
    const = wald_degrade(torch.full((1, 4 * ratio, 4 * ratio), 7.0), ratio)
    torch.testing.assert_close(const, torch.full((1, 4, 4), 7.0))


def test_wald_degrade_crops_to_a_multiple_of_the_ratio() -> None:
    assert wald_degrade(np.zeros((2, 13, 20), np.float32), 6).shape == (2, 2, 3)


def test_tiled_sharpening_equals_whole_image() -> None:
    """Tiles with the model's margin reproduce the whole-image result (HPI: one scene-wide prior)."""
    guide = smooth_image(4, 64, 64, seed=2, lo=100, hi=4000).astype(np.float32)
    lowres = wald_degrade(smooth_image(2, 64, 64, seed=4, lo=100, hi=4000), 2).astype(np.float32)
    for model in ("hpi", "bicubic"):
        whole = sharpen_arrays(guide, lowres, model)
        tiled = sharpen_arrays(guide, lowres, model, tile=32)
        np.testing.assert_allclose(tiled, whole, atol=1e-3 * 4000)
    net = registry.create("dsen2", 2, bands=2, pretrained=False, n_blocks=2, feats=8, base="hpi")
    with torch.no_grad():
        net.net.tail.weight.mul_(10)  # make the network's own contribution visible
    np.testing.assert_allclose(sharpen_arrays(guide / 1e4, lowres / 1e4, net, tile=32),
                               sharpen_arrays(guide / 1e4, lowres / 1e4, net), atol=1e-5)


def test_hpi_prior_is_cleared_after_a_run() -> None:
    guide, lowres = _pair(2)
    model = HPI(2)
    sharpen_arrays(guide, lowres, model, tile=16)
    assert model.prior is None


def test_dsen2_with_hpi_base_starts_near_hpi() -> None:
    """The damped last convolution makes an untrained residual network start at its base image."""
    guide, lowres = _pair(2)
    net = registry.create("dsen2", 2, bands=3, pretrained=False, n_blocks=2, feats=16, base="hpi").net
    with torch.no_grad():
        y = net(torch.from_numpy(guide)[None], torch.from_numpy(lowres)[None])
        base = hpi_sharpen(torch.from_numpy(guide)[None], torch.from_numpy(lowres)[None], 2)
    assert float((y - base).abs().mean()) < 0.05 * float(base.abs().mean())


def test_wald_evaluate_on_synthetic_scene() -> None:
    """A low-res band correlated with the guide: HPI beats bicubic; the report has every metric."""
    guide = smooth_image(4, 96, 96, seed=8, lo=500, hi=5000, noise=0.05)
    truth = 0.2 * guide[0] + 0.7 * guide[3] + 100
    lowres = wald_degrade(torch.from_numpy(truth[None] * np.array([1.0, 0.8])[:, None, None]), 2).numpy()
    report = wald_evaluate(guide, lowres, ["hpi"])
    assert report["ratio"] == 2 and report["lowres_shape"] == [2, 48, 48]
    bic, hpi = report["methods"]["bicubic"], report["methods"]["hpi"]
    assert len(bic["rmse"]) == 2 and bic["sam"] is not None and bic["ergas"] > 0
    assert hpi["rmse_mean"] < 0.5 * bic["rmse_mean"] and hpi["sam"] <= bic["sam"] + 1e-6
    assert hpi["rmse_gain_vs_bicubic_pct"] > 50


# ----------------------------------------------------------------------------- real data


def _read(path: Path) -> np.ndarray:
    import rasterio

    with rasterio.open(path) as ds:
        return ds.read()


def test_dsen2_crop_ratio_2_hpi_beats_bicubic(shared_data: Path) -> None:
    """Held-out Sentinel-2 crop, Wald protocol at ratio 2: HPI is >= 25 % better in RMSE and in SAM."""
    d = shared_data / "sentinel2" / "dsen2"
    guide = _read(d / "S2A_MSIL1C_20170527_T33UUB_10m.tif")
    lowres = _read(d / "S2A_MSIL1C_20170527_T33UUB_20m.tif")
    rep = wald_evaluate(guide, lowres, ["hpi"])["methods"]
    assert rep["hpi"]["rmse_mean"] < 0.75 * rep["bicubic"]["rmse_mean"]
    assert rep["hpi"]["sam"] < rep["bicubic"]["sam"]


def test_worldview2_pan_ratio_4_hpi_beats_bicubic(shared_data: Path) -> None:
    d = shared_data / "worldview2"
    rep = wald_evaluate(_read(d / "wv2_pan.tif"), _read(d / "wv2_ms8.tif"), ["hpi"], peak=2047)
    assert rep["ratio"] == 4
    assert rep["methods"]["hpi"]["rmse_mean"] < rep["methods"]["bicubic"]["rmse_mean"]
