"""Metrics against independent references: scikit-image, hand computations, the PROBA-V definition."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from satsr import metrics
from satsr.ops.resize import downsample_bicubic, imresize


def _sk_ssim(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    return structural_similarity(a, b, data_range=data_range, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False)


def _ucm_pairs(shared: Path, n: int = 3) -> list[tuple[np.ndarray, np.ndarray]]:
    """(SR, HR) float64 pairs: real UC Merced images and their bicubic x4 reconstructions."""
    files = sorted((shared / "ucmerced" / "val").rglob("*.png"))[::35][:n]
    out = []
    for f in files:
        hr = np.moveaxis(np.asarray(Image.open(f).convert("RGB")), -1, 0).astype(np.float32)
        lr = np.clip(np.round(downsample_bicubic(hr, 4)), 0, 255)
        sr = np.clip(np.round(imresize(lr, hr.shape[-2:])), 0, 255)
        out.append((sr.astype(np.float64), hr.astype(np.float64)))
    return out


# ----------------------------------------------------------------------------- PSNR / SSIM


def test_psnr_ssim_equal_scikit_image_on_real_images(shared_data: Path) -> None:
    for sr, hr in _ucm_pairs(shared_data):
        ref_psnr = np.mean([peak_signal_noise_ratio(hr[c], sr[c], data_range=255) for c in range(3)])
        ref_ssim = np.mean([_sk_ssim(sr[c], hr[c], 255) for c in range(3)])
        assert metrics.psnr(sr, hr, 255) == pytest.approx(ref_psnr, abs=1e-4)
        assert metrics.ssim(sr, hr, 255) == pytest.approx(ref_ssim, abs=1e-4)
        st, ht = torch.from_numpy(sr), torch.from_numpy(hr)
        assert float(metrics.psnr(st, ht, 255)) == pytest.approx(ref_psnr, abs=1e-4)
        assert float(metrics.ssim(st, ht, 255)) == pytest.approx(ref_ssim, abs=1e-4)
        # float32 tensors (training) too
        assert float(metrics.ssim(st.float(), ht.float(), 255)) == pytest.approx(ref_ssim, abs=1e-4)
        # with a border, as the SR literature crops
        b = 4
        crop = (slice(None), slice(b, -b), slice(b, -b))
        ref_b = np.mean([_sk_ssim(sr[crop][c], hr[crop][c], 255) for c in range(3)])
        assert metrics.ssim(sr, hr, 255, border=b) == pytest.approx(ref_b, abs=1e-4)
        assert float(metrics.ssim(st, ht, 255, border=b)) == pytest.approx(ref_b, abs=1e-4)


def test_psnr_ssim_synthetic_match_scikit_image() -> None:
    rng = np.random.default_rng(0)
    hr = ndimage.gaussian_filter(rng.random((2, 40, 48)), (0, 2, 2))
    sr = hr + 0.01 * rng.standard_normal(hr.shape)
    for c in range(2):
        assert metrics.psnr(sr[c], hr[c], 1.0) == pytest.approx(peak_signal_noise_ratio(hr[c], sr[c], data_range=1))
    per = metrics.ssim(sr, hr, 1.0, per_band=True)
    assert per.shape == (2,)
    assert per == pytest.approx([_sk_ssim(sr[c], hr[c], 1.0) for c in range(2)], abs=1e-10)
    # batches (N, C, H, W) of tensors average all images
    t = torch.from_numpy(np.stack([sr, sr]))
    r = torch.from_numpy(np.stack([hr, hr]))
    assert float(metrics.ssim(t, r, 1.0)) == pytest.approx(float(np.mean(per)), abs=1e-10)


def test_masks_and_nan_pixels_are_ignored() -> None:
    rng = np.random.default_rng(1)
    hr = rng.random((3, 30, 30))
    sr = hr + 0.05 * rng.standard_normal(hr.shape)
    mask = np.ones((30, 30), bool)
    mask[:10] = False
    garbage = sr.copy()
    garbage[:, :10] = 1e6  # masked pixels may hold anything
    expect = metrics.psnr(sr[:, 10:], hr[:, 10:], 1.0)
    assert metrics.psnr(garbage, hr, 1.0, mask=mask) == pytest.approx(expect)
    assert float(metrics.psnr(torch.from_numpy(garbage), torch.from_numpy(hr), 1.0,
                              mask=torch.from_numpy(mask))) == pytest.approx(expect)
    nan = sr.copy()
    nan[:, :10] = np.nan
    assert metrics.psnr(nan, hr, 1.0) == pytest.approx(expect)
    assert metrics.rmse(garbage, hr, mask=mask) == pytest.approx(
        np.mean([np.sqrt(np.mean((sr[c, 10:] - hr[c, 10:]) ** 2)) for c in range(3)]))
    # masked SSIM: numpy and torch agree, garbage in masked pixels changes nothing
    s_np = metrics.ssim(garbage, hr, 1.0, mask=mask)
    s_clean = metrics.ssim(sr, hr, 1.0, mask=mask)
    s_t = float(metrics.ssim(torch.from_numpy(garbage), torch.from_numpy(hr), 1.0, mask=torch.from_numpy(mask)))
    assert s_np == pytest.approx(s_clean, abs=1e-12)
    assert s_t == pytest.approx(s_np, abs=1e-10)
    assert metrics.ssim(hr, hr, 1.0, mask=mask) == pytest.approx(1.0)


def test_rmse_hand_checked() -> None:
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    y = np.array([[1.0, 2.0], [3.0, 6.0]])
    assert metrics.rmse(x, y) == pytest.approx(1.0)  # sqrt(4 / 4)
    assert metrics.psnr(x, y, data_range=10.0) == pytest.approx(20.0)  # 10 log10(100 / 1)


def test_torch_metrics_are_differentiable() -> None:
    rng = np.random.default_rng(2)
    hr = torch.from_numpy(ndimage.gaussian_filter(rng.random((3, 24, 24)), (0, 1, 1)))
    sr = (hr + 0.02 * torch.randn(hr.shape, dtype=hr.dtype, generator=torch.Generator().manual_seed(0)))
    sr.requires_grad_(True)
    loss = (-metrics.psnr(sr, hr, 1.0) - metrics.ssim(sr, hr, 1.0) + metrics.sam(sr, hr)
            + metrics.ergas(sr, hr, 4) + metrics.rmse(sr, hr))
    loss.backward()
    assert sr.grad is not None and torch.isfinite(sr.grad).all() and sr.grad.abs().sum() > 0
    # SAM of identical images: finite (zero) gradient, no NaN from arccos-type singularities
    same = hr.clone().requires_grad_(True)
    metrics.sam(same, hr).backward()
    assert torch.isfinite(same.grad).all()


# ----------------------------------------------------------------------------- SAM / ERGAS


def test_sam_self_scaled_and_known_angles() -> None:
    rng = np.random.default_rng(3)
    x = rng.random((4, 10, 12)) + 0.1
    assert metrics.sam(x, x) == pytest.approx(0.0, abs=1e-6)
    assert metrics.sam(x, 3.7 * x) == pytest.approx(0.0, abs=1e-6)
    assert float(metrics.sam(torch.from_numpy(x), torch.from_numpy(2 * x))) == pytest.approx(0.0, abs=1e-6)
    a = np.zeros((2, 1, 2))
    b = np.zeros((2, 1, 2))
    a[:, 0, 0], b[:, 0, 0] = (1, 0), (0, 1)  # 90 degrees
    a[:, 0, 1], b[:, 0, 1] = (1, 0), (1, 1)  # 45 degrees
    assert metrics.sam(a, b) == pytest.approx(67.5)
    # an all-zero spectrum has no angle: ignored
    a2, b2 = a.copy(), b.copy()
    a2[:, 0, 1] = 0
    assert metrics.sam(a2, b2) == pytest.approx(90.0)
    with pytest.raises(ValueError):
        metrics.sam(x[0], x[0])


def test_ergas_hand_checked() -> None:
    # reference bands: means 2 and 4; errors: band 0 all +1 (RMSE 1), band 1 one pixel +2 (RMSE 1)
    y = np.array([[[1.0, 3.0], [1.0, 3.0]], [[4.0, 4.0], [4.0, 4.0]]])
    x = y.copy()
    x[0] += 1.0
    x[1, 0, 0] += 2.0
    # 100 / 4 * sqrt(((1/2)^2 + (1/4)^2) / 2)
    expect = 25.0 * np.sqrt((0.25 + 0.0625) / 2)
    assert metrics.ergas(x, y, scale=4) == pytest.approx(expect)
    assert float(metrics.ergas(torch.from_numpy(x), torch.from_numpy(y), scale=4)) == pytest.approx(expect)
    assert metrics.ergas(y, y, scale=2) == pytest.approx(0.0)


# ----------------------------------------------------------------------------- PROBA-V


def _challenge_cpsnr(sr: np.ndarray, hr: np.ndarray, sm: np.ndarray) -> float:
    """Literal transcription of the challenge's definition (values / 65535, 3 px crop, 49 shifts)."""
    sr = sr.astype(np.float64) / 65535
    hr = hr.astype(np.float64) / 65535
    crop = sr[3:-3, 3:-3]
    best = -np.inf
    for u in range(7):
        for v in range(7):
            h = hr[u:u + 378, v:v + 378]
            m = sm[u:u + 378, v:v + 378]
            diff = h[m] - crop[m]
            b = diff.mean()
            c = np.mean((diff - b) ** 2)
            best = max(best, -10 * np.log10(c))
    return best


def _textured(seed: int, size: int = 384) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 3000 + 800 * ndimage.gaussian_filter(rng.standard_normal((size, size)), 2.0) / 0.14


def test_cpsnr_matches_the_challenge_definition() -> None:
    rng = np.random.default_rng(4)
    hr = _textured(4)
    sm = rng.random(hr.shape) > 0.1
    sr = np.roll(hr, (1, -2), (0, 1)) + rng.normal(0, 30, hr.shape) + 123
    ref = _challenge_cpsnr(sr, hr, sm)
    assert metrics.cpsnr(sr, hr, sm) == pytest.approx(ref, abs=1e-9)
    assert float(metrics.cpsnr(torch.from_numpy(sr), torch.from_numpy(hr), torch.from_numpy(sm))) == pytest.approx(
        ref, abs=1e-6)
    table = metrics.cmse(sr, hr, sm)
    assert table.shape == (7, 7)
    # the true displacement (1, -2) is found: HR crop offset u = 3 - 1, v = 3 + 2
    assert np.unravel_index(np.argmin(table), table.shape) == (2, 5)


def test_cpsnr_invariant_to_brightness_offset_and_integer_shifts() -> None:
    rng = np.random.default_rng(5)
    hr = _textured(5)
    sm = np.zeros(hr.shape, bool)
    sm[10:374, 10:374] = True  # clear HR pixels stay inside every shifted crop window
    sr = hr + rng.normal(0, 40, hr.shape)
    ref = metrics.cpsnr(sr, hr, sm)
    assert metrics.cpsnr(sr + 250.0, hr, sm) == pytest.approx(ref, abs=1e-9)
    assert metrics.cpsnr(sr - 1000.0, hr, sm) == pytest.approx(ref, abs=1e-9)
    for dy in range(-3, 4):
        for dx in (-3, 0, 2):
            moved = np.roll(sr, (dy, dx), (0, 1)) + 77.0
            assert metrics.cpsnr(moved, hr, sm) == pytest.approx(ref, abs=1e-9), (dy, dx)
    # a 4 px shift is beyond the search: clearly worse
    assert metrics.cpsnr(np.roll(sr, 4, 0), hr, sm) < ref - 1.0


def test_cssim_perfect_offset_invariant_and_torch_agrees() -> None:
    rng = np.random.default_rng(6)
    hr = _textured(6, 96)
    sm = rng.random(hr.shape) > 0.05
    assert metrics.cssim(hr + 500, hr, sm) == pytest.approx(1.0, abs=1e-9)
    sr = hr + rng.normal(0, 200, hr.shape)
    a = metrics.cssim(sr, hr, sm)
    assert 0 < a < 1
    assert metrics.cssim(sr + 300, hr, sm) == pytest.approx(a, abs=1e-9)
    t = float(metrics.cssim(torch.from_numpy(sr), torch.from_numpy(hr), torch.from_numpy(sm)))
    assert t == pytest.approx(a, abs=1e-8)


def test_probav_baseline_scores_on_real_scenes(shared_data: Path) -> None:
    """The official baseline reproduces the challenge's norm: scores 0.9972 and 0.9953 (reference)."""
    from skimage.transform import rescale

    from satsr.io.probav import find_norm, read_imgset, read_norm

    root = shared_data / "probav"
    norm = read_norm(find_norm(root))
    expected = {"imgset0000": 0.9972, "imgset0594": 0.9953}
    for path in (root / "train" / "RED" / "imgset0000", root / "train" / "NIR" / "imgset0594"):
        s = read_imgset(path)
        counts = s.qm.reshape(len(s.qm), -1).sum(1)
        sr = np.mean([rescale(f.astype(np.float64), 3, order=3, mode="edge", anti_aliasing=False,
                              preserve_range=True) for f in s.lr[counts == counts.max()]], axis=0)
        c_np = metrics.cpsnr(sr, s.hr, s.sm)
        c_t = float(metrics.cpsnr(torch.from_numpy(sr), torch.from_numpy(s.hr.astype(np.float64)),
                                  torch.from_numpy(s.sm)))
        assert c_np == pytest.approx(_challenge_cpsnr(sr, s.hr, s.sm), abs=1e-9)
        assert abs(c_np - c_t) < 1e-6
        # float32 tensors (a training loss) stay close too
        c_32 = float(metrics.cpsnr(torch.from_numpy(sr).float(), torch.from_numpy(s.hr), torch.from_numpy(s.sm)))
        assert abs(c_np - c_32) < 1e-4
        score = metrics.probav_score(c_np, norm[s.name])
        assert 0.99 <= score <= 1.01
        assert score == pytest.approx(expected[s.name], abs=2e-4)
