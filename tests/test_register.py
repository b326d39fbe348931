"""Sub-pixel registration: sign convention, accuracy with clouds, gain/offset, stacks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from satsr.ops.registration import apply_shift, fill_masked, phase_shift, register, register_stack, shift_mask


def scene(seed: int = 0, size: int = 96) -> np.ndarray:
    """A smooth, textured 2-D scene (real scenes at 300 m look like this: few sharp edges)."""
    rng = np.random.default_rng(seed)
    return 3000 + 500 * ndimage.gaussian_filter(rng.standard_normal((size, size)), 2.5) / 0.11


def displaced(img: np.ndarray, d: tuple[float, float]) -> np.ndarray:
    """``img`` displaced by ``d`` px (what a revisit with that offset sees)."""
    return ndimage.shift(img, d, order=3, mode="nearest")


def clouds(shape: tuple[int, int], seed: int, fraction: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    f = ndimage.gaussian_filter(rng.standard_normal(shape), 6)
    return f > np.quantile(f, 1 - fraction)


def test_sign_convention_is_scikit_images() -> None:
    ref = scene()
    mov = displaced(ref, (2.0, -1.0))
    dy, dx = phase_shift(ref, mov)
    assert (dy, dx) == pytest.approx((-2.0, 1.0), abs=0.05)  # correlation peak alone
    r = register(ref, mov)  # refined
    assert r.shift == pytest.approx((-2.0, 1.0), abs=0.01)
    back = apply_shift(mov, r.shift)
    assert np.abs(back - ref)[8:-8, 8:-8].max() < 0.02 * ref.std()


@pytest.mark.parametrize("d", [(0.37, -0.61), (-1.23, 0.08), (0.0, 0.5)])
def test_subpixel_accuracy_with_masked_clouds_and_brightness_change(d: tuple[float, float]) -> None:
    rng = np.random.default_rng(1)
    ref = scene(1)
    mov = 0.85 * displaced(ref, d) + 150 + rng.normal(0, 0.01 * ref.std(), ref.shape)
    cl = clouds(ref.shape, 2, 0.3)
    mov[cl] = 9000.0  # bright clouds, flagged in the mask
    r = register(ref, mov, moving_mask=~cl)
    assert r.shift == pytest.approx((-d[0], -d[1]), abs=0.03)
    assert r.gain == pytest.approx(1 / 0.85, rel=0.02)
    assert r.offset == pytest.approx(-150 / 0.85, abs=0.05 * ref.mean())
    assert r.overlap > 0.4 * ref.size and r.rms < 0.05 * ref.std()


def test_refinement_beats_plain_phase_correlation_under_clouds() -> None:
    rng = np.random.default_rng(3)
    ref = scene(3)
    errs_pc, errs_ref = [], []
    for k in range(4):
        d = rng.uniform(-1, 1, 2)
        mov = displaced(ref, tuple(d)) + rng.normal(0, 0.02 * ref.std(), ref.shape)
        cl = clouds(ref.shape, 10 + k, 0.25)
        mov[cl] = 8000.0
        errs_pc.append(np.abs(np.array(phase_shift(ref, mov, None, ~cl)) + d).max())
        errs_ref.append(np.abs(np.array(register(ref, mov, None, ~cl).shift) + d).max())
    assert np.mean(errs_ref) < 0.03
    assert np.mean(errs_ref) <= np.mean(errs_pc)


def test_register_stack_reference_and_mean() -> None:
    ref = scene(4)
    offsets = [(0.0, 0.0), (0.4, -0.3), (-0.5, 0.2), (0.25, 0.45)]
    frames = np.stack([displaced(ref, d) for d in offsets])
    masks = np.ones(frames.shape, bool)
    masks[2, :30] = False
    regs = register_stack(frames, masks, reference=0)
    assert regs[0].shift == (0.0, 0.0)
    for r, d in zip(regs[1:], offsets[1:], strict=True):
        assert r.shift == pytest.approx((-d[0], -d[1]), abs=0.03)
    # to the mean: shifts relative to frame 0 are unchanged up to a common offset
    mean_regs = register_stack(frames[:, None], masks, reference="mean")
    rel = np.array([r.shift for r in mean_regs]) - np.array(mean_regs[0].shift)
    assert rel == pytest.approx(-np.array(offsets), abs=0.05)
    with pytest.raises(ValueError):
        register_stack(frames, masks, reference="median")


def test_helpers() -> None:
    img = np.arange(16, dtype=float).reshape(4, 4)
    m = np.ones((4, 4), bool)
    m[0, 0] = False
    filled = fill_masked(img, m)
    assert filled[0, 0] in (1.0, 4.0) and np.array_equal(filled[m], img[m])
    assert np.array_equal(fill_masked(img, None), img)
    sm = shift_mask(np.ones((6, 6), bool), (0.5, 0.0))
    assert not sm[0].any() and sm[1:].all()  # the first row would come from outside the image
    with pytest.raises(ValueError):
        register(img, img[:3])
