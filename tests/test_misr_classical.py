"""Classical multi-image SR: the PROBA-V baseline, masked median and shift-and-add."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.transform import rescale

from satsr import metrics
from satsr.models import registry
from satsr.models.misr_classical import (
    BaselineFuser,
    MedianFuser,
    ShiftAddFuser,
    bicubic_upscale,
    splat,
)


def hr_scene(seed: int = 0, size: int = 96) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 3000 + 600 * ndimage.gaussian_filter(rng.standard_normal((size, size)), 1.5) / 0.19


def revisits(hr: np.ndarray, n: int, seed: int = 1, noise: float = 20.0,
             cloudy: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LR frames x3: HR displaced by random sub-pixel offsets, 3 x 3 area-integrated, noisy,
    with different brightness per frame; ``cloudy`` frames get a masked bright cloud."""
    rng = np.random.default_rng(seed)
    s = 3
    frames, masks, offsets = [], [], []
    for t in range(n):
        d = np.zeros(2) if t == 0 else rng.uniform(-0.5, 0.5, 2)
        moved = ndimage.shift(hr, s * d, order=3, mode="nearest")
        lr = moved.reshape(hr.shape[0] // s, s, hr.shape[1] // s, s).mean((1, 3))
        lr = rng.uniform(0.9, 1.1) * lr + rng.uniform(-100, 100) + rng.normal(0, noise, lr.shape)
        m = np.ones(lr.shape, bool)
        if t >= n - cloudy:
            m[5:15, 5:20] = False
            lr[~m] = 12000.0
        frames.append(lr)
        masks.append(m)
        offsets.append(d)
    return np.stack(frames)[:, None], np.stack(masks), np.array(offsets)


def test_registered_as_misr() -> None:
    for name, cls in (("baseline", BaselineFuser), ("median", MedianFuser), ("shiftadd", ShiftAddFuser)):
        spec = registry.get_spec(name)
        assert spec.kind == "misr" and not spec.neural and spec.scales == (2, 3, 4)
        f = registry.create(name, 3)
        assert isinstance(f, cls) and f.scale == 3
    assert registry.create("shiftadd", 2, sigma=0.7).sigma == 0.7
    with pytest.raises(ValueError):
        BaselineFuser(5)


def test_baseline_is_the_challenge_baseline() -> None:
    rng = np.random.default_rng(0)
    frames = rng.uniform(1000, 5000, (4, 1, 10, 12))
    masks = np.ones((4, 10, 12), bool)
    masks[1, 0, :3] = False  # frame 1 has fewer clear pixels: left out
    out = BaselineFuser(3)(frames, masks)
    expect = np.mean([rescale(frames[i, 0], 3, order=3, mode="edge", anti_aliasing=False, preserve_range=True)
                      for i in (0, 2, 3)], axis=0)
    assert out.shape == (1, 30, 36) and out.dtype == np.float32
    assert np.allclose(out[0], expect, atol=1e-2)
    # torch in -> torch out
    t = BaselineFuser(3)(torch.from_numpy(frames), torch.from_numpy(masks))
    assert isinstance(t, torch.Tensor) and torch.allclose(t, torch.from_numpy(out))
    # multi-band frames work band by band
    mb = bicubic_upscale(frames[0, [0, 0]], 2)
    assert mb.shape == (2, 20, 24) and np.allclose(mb[0], mb[1])


def test_median_ignores_masked_clouds_and_fills_fully_cloudy_pixels() -> None:
    frames = np.full((5, 1, 6, 6), 100.0)
    frames[:, 0] += np.arange(5)[:, None, None]  # 100..104
    masks = np.ones((5, 6, 6), bool)
    frames[3:, 0, :2] = 9000.0  # clouds in two frames, flagged
    masks[3:, :2] = False
    out = MedianFuser(2)(frames, masks)[0]
    assert np.allclose(out[:4], 101.0)  # median of 100, 101, 102
    assert np.allclose(out[4:], 102.0)
    masks[:, 0, 0] = False  # no clear sample at all: median of everything
    out2 = MedianFuser(2)(frames, masks)[0]
    assert np.isfinite(out2).all() and out2[0, 0] == pytest.approx(102.0)


def test_splat_puts_samples_at_their_positions() -> None:
    vals = np.array([[5.0, 7.0]])
    num, den = splat(vals, np.array([2.0, 6.0]), np.array([3.0, 1.0]), np.ones(2), (9, 9), sigma=0.5)
    est = num[0] / np.maximum(den, 1e-12)
    assert est[2, 3] == pytest.approx(5.0) and est[6, 1] == pytest.approx(7.0)
    assert den[2, 3] == pytest.approx(1.0) and den[4, 4] < 1e-3


def test_shiftadd_recovers_detail_the_baseline_misses() -> None:
    hr = hr_scene(0)
    frames, masks, offsets = revisits(hr, 12, cloudy=3)
    fuser = ShiftAddFuser(3)
    sa = fuser(frames, masks)[0]
    base = BaselineFuser(3)(frames, masks)[0]
    med = MedianFuser(3)(frames, masks)[0]
    assert sa.shape == (96, 96) and np.isfinite(sa).all()
    c_sa, c_base, c_med = (metrics.cpsnr(x, hr) for x in (sa, base, med))
    assert c_sa > c_base + 0.5
    assert c_sa > c_med
    # registration found the simulated offsets (relative to frame 0) of the frames it used
    kept = fuser.select_frames(masks)
    assert kept.tolist() == list(range(9))  # the three cloudy frames (85 % clear) are left out
    shifts = np.array([r.shift for r in fuser.last_registrations])
    rel = shifts - shifts[0]
    assert rel == pytest.approx(-(offsets[kept] - offsets[0]), abs=0.05)


def test_shiftadd_options_and_gaps() -> None:
    hr = hr_scene(2, 48)
    frames, masks, _ = revisits(hr, 5, seed=3)
    masks[:, :4, :4] = False  # no clear sample anywhere there: filled, not NaN
    for opts in ({}, {"reference": 0}, {"normalize": False}, {"frame_weights": True, "robust_iterations": 2},
                 {"min_clearance": 0.999}):
        out = ShiftAddFuser(3, **opts)(frames, masks)
        assert out.shape == (1, 48, 48) and np.isfinite(out).all(), opts
    only_clearest = ShiftAddFuser(3, min_clearance=2.0)
    assert only_clearest.select_frames(masks).tolist() == [0]


def test_robust_weights_reject_undetected_clouds() -> None:
    hr = hr_scene(4)
    frames, masks, _ = revisits(hr, 10, seed=5)
    frames[7:, 0, 10:20, 10:20] += 2500.0  # haze the quality maps missed, in three frames
    plain = ShiftAddFuser(3, frame_weights=False, robust_iterations=0)(frames, masks)[0]
    robust = ShiftAddFuser(3, frame_weights=False, robust_iterations=2)(frames, masks)[0]
    assert metrics.cpsnr(robust, hr) > metrics.cpsnr(plain, hr) + 1.0


def test_shiftadd_beats_baseline_on_a_real_scene(shared_data: Path) -> None:
    """imgset0000: shift-and-add without the robustness options (the settings chosen on the first,
    Landsat-based simulation; see BENCHMARKS.md) beats the norm and the baseline (0.9953 vs 0.9972)."""
    from satsr.io.probav import find_norm, read_imgset, read_norm

    root = shared_data / "probav"
    s = read_imgset(root / "train" / "RED" / "imgset0000")
    norm = read_norm(find_norm(root))[s.name]

    def score(fuser: object) -> float:
        return metrics.probav_score(metrics.cpsnr(fuser(s.frames, s.qm)[0], s.hr, s.sm), norm)  # type: ignore[operator]

    plain = registry.create("shiftadd", 3, min_clearance=0.0, frame_weights=False, robust_iterations=0)
    score_sa, score_base = score(plain), score(registry.create("baseline", 3))
    assert score_sa < 1.0 and score_sa < score_base
