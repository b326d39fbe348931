"""The revisit simulator: geometry (shifts recovered by registration), PSF, masks, radiometry, ranges."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from satsr.data.revisits import (
    RevisitParams,
    box_gauss_psf,
    cloud_layer,
    psf_margin,
    sample_frames,
    scene_to_dn,
    simulate_revisits,
)
from satsr.ops.registration import phase_shift

CLEAN = RevisitParams(noise=(0, 0), shot=(0, 0), hr_noise=(0, 0), gain_std=(0, 0), offset_std=0,
                      change=(0, 0), cloud_cover=(0, 0), fill_prob=0, sm_prob=0, quantize=False,
                      psf_jitter=0)


def _scene(side: int, seed: int = 0) -> torch.Tensor:
    """A textured test scene (sum of random smooth blobs at several scales) in 14-bit DN."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    img = sum(gaussian_filter(rng.standard_normal((side, side)), s) * s for s in (1.5, 3, 6, 12))
    return scene_to_dn(img, 5000.0, 0.2)


def test_shifts_are_recovered_by_registration() -> None:
    m = psf_margin(CLEAN)
    st = simulate_revisits(_scene(192 + 2 * m), 3, CLEAN, rng=1, n_frames=9)
    assert st.lr.shape == (9, 1, 64, 64)
    ref = st.lr[0, 0].numpy()
    for i in range(1, 9):
        est = np.array(phase_shift(ref, st.lr[i, 0].numpy()))
        true = -(st.shifts[i] - st.shifts[0]).numpy()  # registration undoes the frame's own shift
        assert np.abs(est - true).max() < 0.1, (i, est, true)
    assert st.shifts.abs().max() <= CLEAN.max_shift + 1e-6


def test_zero_shift_frame_is_the_box_average_of_the_blurred_scene() -> None:
    """A frame with no shift and a near-zero Gaussian is the mean of each 3x3 block of the scene."""
    scene = torch.rand(1, 3 * 8 + 2 * 10, 3 * 8 + 2 * 10, dtype=torch.float64)
    out = sample_frames(scene, np.zeros((1, 2)), np.array([1e-4]), 3, 3.0, 10)
    core = scene[0, 10:-10, 10:-10].reshape(8, 3, 8, 3).mean((1, 3))
    assert torch.allclose(out[0, 0].double(), core, atol=1e-5)


def test_psf_is_normalisable_and_wider_with_sigma() -> None:
    x = np.linspace(-10, 10, 2001)
    narrow, wide = box_gauss_psf(x, 3.0, 0.5), box_gauss_psf(x, 3.0, 1.5)
    assert np.trapezoid(narrow, x) == pytest.approx(3.0, rel=1e-3)  # box height 1 over width 3
    var = lambda k: np.trapezoid(k * x**2, x) / np.trapezoid(k, x)  # noqa: E731
    assert var(narrow) == pytest.approx(0.75 + 0.25, rel=1e-2)  # box 3^2/12 + sigma^2
    assert var(wide) > var(narrow)


def test_full_simulation_ranges_masks_and_order() -> None:
    p = RevisitParams(clear_frac=(0.0, 0.0), cloud_cover=(0.3, 0.6), fill_prob=0.5, qm_leak_prob=0.0)
    m = psf_margin(p)
    st = simulate_revisits(_scene(96 + 2 * m, 2), 3, p, rng=3, n_frames=12)
    lr, qm = st.lr.numpy(), st.qm.numpy()
    assert lr.shape == (12, 1, 32, 32) and qm.shape == (12, 32, 32) and qm.dtype == bool
    assert st.hr.shape == (1, 96, 96) and st.sm.shape == (96, 96)
    clear = qm.mean((1, 2))
    assert np.all(np.diff(clear) <= 1e-9), "frames must be ordered by clearance"
    assert clear.min() < 0.95, "every frame is cloudy here"
    # clear pixels hold valid 14-bit integers; no-data is only ever under the mask
    valid = lr[:, 0][qm]
    assert valid.min() >= 0 and valid.max() <= p.max_value and np.all(valid == np.round(valid))
    assert not np.any((lr[:, 0] == p.fill_value) & qm)
    # clouds are bright: masked pixels are brighter on average than clear ones
    assert lr[:, 0][~qm & (lr[:, 0] < p.fill_value)].mean() > valid.mean()


def test_radiometric_drift_and_noise_make_frames_differ() -> None:
    noisy = RevisitParams(gain_std=(0.05, 0.05), noise=(40, 40), cloud_cover=(0, 0), fill_prob=0)
    m = psf_margin(noisy)
    scene = _scene(96 + 2 * m, 4)
    st = simulate_revisits(scene, 3, noisy, rng=0, n_frames=20)
    means = st.lr.mean((1, 2, 3)).numpy()
    assert 0.02 < means.std() / means.mean() < 0.1
    mc = psf_margin(CLEAN)
    d = m - mc
    clean = simulate_revisits(scene[..., d : scene.shape[-2] - d, d : scene.shape[-1] - d], 3, CLEAN, rng=0,
                              n_frames=2)
    # noise shows as extra high-frequency energy
    hp = lambda x: np.abs(np.diff(x, axis=-1)).mean()  # noqa: E731
    assert hp(st.lr[:, 0].numpy()) > hp(clean.lr[:, 0].numpy())


def test_reproducible_from_seed_and_cloud_cover() -> None:
    p = RevisitParams()
    m = psf_margin(p)
    scene = _scene(60 + 2 * m, 5)
    a = simulate_revisits(scene, 3, p, rng=7)
    b = simulate_revisits(scene, 3, p, rng=7)
    assert torch.equal(a.lr, b.lr) and torch.equal(a.qm, b.qm)
    assert p.n_frames[0] <= a.lr.shape[0] <= p.n_frames[1]
    layer = cloud_layer((64, 64), 0.3, np.random.default_rng(0))
    assert 0.2 < (layer > 0).mean() < 0.4


def test_bad_scene_size_is_rejected() -> None:
    with pytest.raises(ValueError, match="margin"):
        simulate_revisits(torch.zeros(20, 20), 3, RevisitParams())
