"""opensr-test metrics (satsr.trust.opensr) pinned to the opensr-test 1.3.3 package's own values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from satsr.trust.opensr import bilinear_resize, nd_distance, opensr_metrics, spectral_angle

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
DSEN2 = DATA / "sentinel2" / "dsen2" / "S2A_MSIL1C_20170527_T33UUB_10m.tif"




def fixture_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A closed-form (no RNG) LR/SR/HR triple in reflectance, scale 4, 3 bands: HR is waves and a
    checkerboard, LR its 4x4 block means, SR the LR blown up with half the true detail back, a fake
    texture and a 1-px vertical shift."""
    yy, xx = np.mgrid[0:96, 0:96].astype(np.float64)
    hr = np.stack([
        0.2 + 0.08 * np.sin(xx / 5.0) * np.cos(yy / 7.0) + 0.03 * np.sin((xx + 2 * yy) / 1.7),
        0.15 + 0.06 * np.cos((xx - yy) / 6.0) + 0.04 * ((xx // 8 + yy // 8) % 2),
        0.1 + 0.05 * np.sin(np.hypot(xx - 40, yy - 50) / 4.0) + 0.02 * np.cos(xx / 1.3),
    ])
    lr = hr.reshape(3, 24, 4, 24, 4).mean((2, 4))
    up = np.repeat(np.repeat(lr, 4, 1), 4, 2)
    sr = up + 0.5 * (hr - up) + 0.01 * np.sin(xx / 1.1 + yy / 2.3)
    sr = np.roll(sr, (1, 0), axis=(1, 2))
    return lr.astype(np.float32), sr.astype(np.float32), hr.astype(np.float32)


# Obtained by running the opensr-test 1.3.3 package itself (``opensr_test.Metrics().compute(lr, sr,
# hr)`` with its default Config, float32 tensors of ``fixture_arrays()``) in a throwaway virtual
# environment; see BENCHMARKS.md, "Trustworthy SR (issue 5)", for the exact procedure.
REFERENCE = {
    "reflectance": 0.007678511552512646,
    "spectral": 2.4483275413513184,
    "spatial": 0.13416408002376556,
    "synthesis": 0.011248385533690453,
    "hallucination": 0.41006967425346375,
    "omission": 0.29055124521255493,
    "improvement": 0.2993791103363037,
}


def test_metrics_match_the_opensr_test_package() -> None:
    lr, sr, hr = fixture_arrays()
    got = opensr_metrics(lr, sr, hr).to_dict()
    for key, want in REFERENCE.items():
        if key == "spatial":  # a 1/50-px peak position: equal, or one grid step away at most
            assert abs(got[key] - want) <= 0.021, key
        else:
            assert got[key] == pytest.approx(want, rel=1e-3), key
    # the value scale divides every input: DN in, same metrics out
    scaled = opensr_metrics(lr * 10000, sr * 10000, hr * 10000, value_scale=10000).to_dict()
    assert scaled["reflectance"] == pytest.approx(got["reflectance"], rel=1e-5)
    assert scaled["hallucination"] == pytest.approx(got["hallucination"], rel=1e-4)


def test_class_scores_sum_to_one_and_rank_sensibly() -> None:
    lr, _, hr = fixture_arrays()
    perfect = opensr_metrics(lr, hr, hr)
    assert perfect.improvement + perfect.omission + perfect.hallucination == pytest.approx(1.0)
    assert perfect.improvement > 0.9
    blurry = opensr_metrics(lr, bilinear_resize(lr, 4), hr)  # LR_up itself: nothing added
    assert blurry.omission > 0.45 and blurry.omission > max(blurry.improvement, blurry.hallucination)
    rng = np.random.default_rng(0)
    noisy = hr + 0.05 * rng.standard_normal(hr.shape).astype(np.float32)
    assert opensr_metrics(lr, noisy, hr).hallucination > perfect.hallucination


def test_spatial_error_measures_a_shift() -> None:
    from scipy import ndimage

    rng = np.random.default_rng(0)  # a smooth random field: no periodic pattern to confuse the shift
    hr = np.stack([ndimage.gaussian_filter(rng.random((160, 160)), 3) for _ in range(3)]).astype(np.float32)
    lr = hr.reshape(3, 40, 4, 40, 4).mean((2, 4))
    assert opensr_metrics(lr, hr, hr).spatial < 0.05
    assert opensr_metrics(lr, np.roll(hr, 8, axis=2), hr).spatial == pytest.approx(2.0, abs=0.1)  # 8 HR px
    assert np.isnan(opensr_metrics(lr, np.roll(hr, 32, axis=2), hr).spatial)  # > 5 LR px: rejected


def test_building_blocks() -> None:
    x = np.array([[[1.0, 2.0]], [[1.0, 0.0]]])
    y = np.array([[[3.0, 2.0]], [[1.0, 0.0]]])
    assert np.allclose(nd_distance(x, y), [[(0.5 + 0.0) / 2, 0.0]])
    ang = spectral_angle(x, y)
    assert ang[0, 0] == pytest.approx(np.degrees(np.arccos(4 / np.sqrt(2 * 10)))) and ang[0, 1] == 0
    assert np.isnan(spectral_angle(np.zeros((2, 1, 1)), np.ones((2, 1, 1)))[0, 0])


def test_bad_shapes_are_rejected() -> None:
    lr, sr, hr = fixture_arrays()
    with pytest.raises(ValueError, match="integer multiple"):
        opensr_metrics(lr[:, :, :23], sr, hr)
    with pytest.raises(ValueError, match="expected"):
        opensr_metrics(lr, sr[:2], hr)


@pytest.mark.skipif(not DSEN2.exists(), reason="shared data (../shared/data/sentinel2/dsen2) not available")
def test_dsen2_bicubic_matches_the_package() -> None:
    import rasterio

    from satsr.models import registry
    from satsr.ops.filters import wald_degrade

    with rasterio.open(DSEN2) as ds:
        hr = ds.read().astype(np.float32)
    lr = np.asarray(wald_degrade(hr, 4), np.float32)
    sr = np.asarray(registry.create("bicubic", 4)(lr), np.float32)
    got = opensr_metrics(lr, sr, hr, value_scale=10000).to_dict()
    # opensr-test 1.3.3 on the same arrays (BENCHMARKS.md, "Trustworthy SR (issue 5)")
    package = {"reflectance": 0.002669163513928652, "spectral": 0.6622492671012878, "spatial": 0.0,
               "synthesis": 0.005612694192677736, "hallucination": 0.09192366153001785,
               "omission": 0.758687436580658, "improvement": 0.1493888944387436}
    for key, want in package.items():
        assert got[key] == pytest.approx(want, rel=0.02, abs=1e-9), key
