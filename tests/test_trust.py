"""LR consistency, test-time-augmentation uncertainty and the hallucination map (satsr.trust)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import smooth_image
from satsr.models import registry
from satsr.models.base import ModelCard
from satsr.ops.filters import wald_degrade
from satsr.ops.resize import downsample_bicubic
from satsr.trust import (
    Degradation,
    TrustOptions,
    TrustUpscaler,
    consistency_rmse,
    degradation_for,
    downsample,
    hallucination_map,
    project,
    supported,
    trust_upscale,
    tta_std,
)
from satsr.trust.maps import dihedral, undo_dihedral


def _random_net(scale: int = 2, bands: int = 2):  # noqa: ANN202 - a TorchUpscaler
    torch.manual_seed(0)
    return registry.create("espcn", scale, bands=bands, pretrained=False)


# ----------------------------------------------------------------------------- the operator


@pytest.mark.parametrize("kind", ["bicubic", "wald"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_operator_is_the_degradation_satsr_uses(kind: str, scale: int) -> None:
    rng = np.random.default_rng(scale)
    for shape in [(2, 20 * scale, 26 * scale), (1, 4 * scale, 130 * scale)]:  # dense and conv paths
        x = rng.random(shape)
        ref = downsample_bicubic(x, scale) if kind == "bicubic" else wald_degrade(x, scale)
        assert np.allclose(downsample(x, Degradation(kind, scale)), ref, atol=2e-6)


@pytest.mark.parametrize("kind,scale", [("bicubic", 4), ("wald", 2), ("bicubic", 3)])
def test_projection_is_exact_and_idempotent(kind: str, scale: int) -> None:
    rng = np.random.default_rng(1)
    deg = Degradation(kind, scale)
    x = rng.random((3, 24 * scale, 20 * scale))
    lr = rng.random((3, 24, 20))
    p = project(x, lr, deg)
    assert np.abs(downsample(p, deg) - lr).max() < 1e-10
    assert np.abs(project(p, lr, deg) - p).max() < 1e-10
    # least squares: the change is the smallest that reaches consistency, so it lies in range(D^T)
    assert np.abs(supported(p - x, deg) - (p - x)).max() < 1e-10
    # an already consistent image is left alone
    assert np.abs(project(p, downsample(p, deg), deg) - p).max() < 1e-10
    assert consistency_rmse(p, lr, deg) < 1e-10 < consistency_rmse(x, lr, deg)


def test_projection_keeps_only_valid_pixels_as_constraints() -> None:
    rng = np.random.default_rng(2)
    deg = Degradation("bicubic", 2)
    x = rng.random((2, 32, 40))
    lr = rng.random((2, 16, 20))
    valid = rng.random(lr.shape) > 0.3
    p = project(x, lr, deg, valid=valid)
    resid = downsample(p, deg) - lr
    assert np.abs(resid[valid]).max() < 1e-6
    assert np.abs(resid[~valid]).max() > 1e-2  # masked pixels are not forced
    other = np.where(valid, lr, 1e6)  # what masked pixels hold does not matter
    assert np.abs(project(x, other, deg, valid=valid) - p).max() < 1e-9
    assert np.allclose(project(x, lr, deg, valid=np.ones_like(valid)), project(x, lr, deg), atol=1e-9)


def test_projection_with_bounds_stays_in_range() -> None:
    rng = np.random.default_rng(3)
    deg = Degradation("bicubic", 2)
    hr = rng.random((1, 32, 32)) * 200 + 20
    lr = downsample(hr, deg)
    x = hr + 60 * rng.standard_normal(hr.shape)  # far out of range in places
    p = project(x, lr, deg, bounds=(0.0, 255.0))
    assert p.min() >= 0 and p.max() <= 255
    assert consistency_rmse(p, lr, deg) < 0.05 * consistency_rmse(np.clip(x, 0, 255), lr, deg)


@pytest.mark.parametrize("kind", ["bicubic", "wald"])
def test_tiled_projection_is_exact_and_seamless(kind: str) -> None:
    rng = np.random.default_rng(4)
    lr = rng.random((2, 50, 44)).astype(np.float32)
    deg = Degradation(kind, 2)
    options = TrustOptions(consistency=True, degradation=kind)
    net = _random_net()
    tiled = trust_upscale(lr, net, options, tile=20, overlap=4).image
    whole = trust_upscale(lr, net, options, tile=None).image
    assert np.abs(downsample(tiled.astype(np.float64), deg) - lr).max() < 1e-5
    assert np.abs(tiled - whole).max() < 1e-5


def test_tiled_projection_with_nodata() -> None:
    lr = smooth_image(1, 60, 50, seed=5).astype(np.float32)
    lr[:, 20:35, 10:30] = -9999  # a nodata hole
    lr[:, :, :6] = -9999  # and a strip
    deg = Degradation("bicubic", 2)
    bic = registry.create("bicubic", 2)
    out = trust_upscale(lr, bic, TrustOptions(consistency=True), tile=24, overlap=4, nodata=-9999).image
    valid = lr != -9999
    assert np.array_equal(np.isfinite(out), np.repeat(np.repeat(valid, 2, 1), 2, 2))
    low = downsample(out.astype(np.float64), deg)  # NaN where the support touches nodata
    inner = np.isfinite(low) & valid
    assert inner.sum() > 0.6 * valid.sum()
    assert np.abs(low[inner] - lr[inner]).max() < 1e-3  # float32 output of values ~4000


# ----------------------------------------------------------------------------- uncertainty


def test_dihedral_transforms_invert() -> None:
    x = np.arange(2 * 3 * 5, dtype=float).reshape(2, 3, 5)
    outs = {dihedral(x, k).tobytes() for k in range(8)}
    assert len(outs) == 8
    for k in range(8):
        assert np.array_equal(undo_dihedral(dihedral(x, k), k), x)


def test_tta_spread_is_zero_for_bicubic_and_positive_for_a_random_network() -> None:
    x = smooth_image(2, 20, 24, seed=6).astype(np.float32)
    std_bic = tta_std(registry.create("bicubic", 2), x)
    assert std_bic.shape == (2, 40, 48) and std_bic.max() < 1e-3  # values ~4000: float32 rounding only
    net = _random_net()
    std_net = tta_std(net, x / 4000)
    assert std_net.mean() > 1e-3 and (std_net > 0).mean() > 0.99


# ----------------------------------------------------------------------------- hallucination


def test_hallucination_map_zero_for_interpolated_lr_and_high_for_fake_detail() -> None:
    rng = np.random.default_rng(7)
    lr = smooth_image(1, 24, 24, seed=7, noise=0.01)
    bic_deg = Degradation("bicubic", 4)
    bicubic = np.asarray(registry.create("bicubic", 4)(lr), np.float64)
    h_bic = hallucination_map(bicubic, bic_deg, floor=1.0)
    assert h_bic.max() < 1e-6  # bicubic interpolation lies in range(D^T) of bicubic downsampling
    wald = Degradation("wald", 4)
    h_pinv = hallucination_map(supported(bicubic, wald), wald, floor=1.0)
    assert h_pinv.max() < 1e-6  # the minimum-norm consistent image has no unsupported detail
    fake = bicubic.copy()
    fake[:, 32:64, 32:64] += 100 * rng.standard_normal((1, 32, 32))  # invented texture
    h_fake = hallucination_map(fake, bic_deg, floor=1.0)
    assert h_fake.min() >= 0 and h_fake.max() < 1
    assert h_fake[:, 36:60, 36:60].mean() > 0.6
    assert h_fake[:, :16, :16].max() < 1e-3  # far from the texture nothing changes


def test_hallucination_floor_silences_faint_detail() -> None:
    flat = np.full((1, 32, 32), 100.0)
    flat[0, ::2, ::2] += 0.01
    deg = Degradation("bicubic", 2)
    assert hallucination_map(flat, deg, floor=1.0).max() < 1e-3
    assert hallucination_map(flat, deg, floor=1e-6).mean() > 0.5


def test_trust_upscaler_stacks_maps_and_matches_whole_image() -> None:
    lr = smooth_image(2, 40, 36, seed=8).astype(np.float32)
    options = TrustOptions(consistency=True, uncertainty=True, hallucination=True, bounds=(0, 5000), floor=1.0)
    wrapped = TrustUpscaler(registry.create("bicubic", 2), options)
    assert wrapped.output_groups == 3 and wrapped.value_scale == 1.0 and wrapped.margin == 3 + 16
    assert wrapped(lr).shape == (6, 80, 72)
    tiled = trust_upscale(lr, registry.create("bicubic", 2), options, tile=16, overlap=4)
    whole = trust_upscale(lr, registry.create("bicubic", 2), options, tile=None)
    for a, b in [(tiled.image, whole.image), (tiled.uncertainty, whole.uncertainty),
                 (tiled.hallucination, whole.hallucination)]:
        assert a is not None and b is not None and np.abs(a - b).max() < 2e-3


def test_degradation_comes_from_the_model_card() -> None:
    bic = registry.create("bicubic", 3)
    assert degradation_for(bic) == Degradation("bicubic", 3)
    assert degradation_for(bic, "wald") == Degradation("wald", 3)
    net = _random_net()
    net.card = ModelCard(id="x", model="espcn", scale=2, bands=2,
                         training={"config": {"degradation": {"kind": "wald", "sigma": 0.0}}})
    assert degradation_for(net).kind == "wald"
    net.card.training["config"]["degradation"] = {"kind": "gaussian", "sigma": [1.0, 2.0]}
    assert degradation_for(net) == Degradation("gaussian", 2, sigma=1.5)
