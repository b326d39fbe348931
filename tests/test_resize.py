"""ops.resize: the fast paths (numpy polyphase slices, torch taps) equal the dense MATLAB reference matrix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from satsr.ops.resize import imresize, phase_plan, resize_matrix, resize_taps

KERNELS = ["nearest", "bilinear", "bicubic", "lanczos"]
# (input size, output size, map_scale): integer up and down, a rational ratio, a window of an image at a
# fractional scale (map_scale), sizes without a short period (gathered taps), inputs shorter than the taps
SIZES = [(150, 300, None), (100, 400, None), (120, 40, None), (99, 33, None), (40, 100, None),
         (60, 150, 2.5), (37, 50, None), (5, 15, None), (3, 1, None)]


def dense(x: np.ndarray, oh: int, ow: int, kernel: str, antialias: bool, map_scale: float | None) -> np.ndarray:
    """The reference: MATLAB's taps as dense float64 matrices, columns then rows."""
    mw = resize_matrix(x.shape[-1], ow, kernel, antialias, map_scale)
    mh = resize_matrix(x.shape[-2], oh, kernel, antialias, map_scale)
    return mh @ x.astype(np.float64) @ mw.T


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("n_in,n_out,map_scale", SIZES)
def test_fast_paths_equal_the_dense_matrix(kernel: str, n_in: int, n_out: int, map_scale: float | None) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((2, n_in, n_in + 3)).astype(np.float32)
    ow = n_out if map_scale is None else int((n_in + 3) * map_scale)
    ref = dense(x, n_out, ow, kernel, True, map_scale)
    got = imresize(x, (n_out, ow), kernel=kernel, map_scale=map_scale)
    assert got.dtype == np.float32 and got.shape == ref.shape
    assert np.abs(got - ref).max() < 1e-5  # float32 rounding of values in [0, 1]
    x64 = x.astype(np.float64) * 4e9  # 32-bit integer pixels are carried in float64
    got64 = imresize(x64, (n_out, ow), kernel=kernel, map_scale=map_scale)
    assert got64.dtype == np.float64
    assert np.abs(got64 - dense(x64, n_out, ow, kernel, True, map_scale)).max() < 1e-4  # float64 of ~4e9
    t = imresize(torch.from_numpy(x), (n_out, ow), kernel=kernel, map_scale=map_scale)
    assert isinstance(t, torch.Tensor) and np.abs(t.numpy() - ref).max() < 1e-5


@pytest.mark.parametrize("antialias", [True, False])
def test_downscaling_without_antialias_too(antialias: bool) -> None:
    x = np.random.default_rng(1).random((1, 200, 180)).astype(np.float32)
    got = imresize(x, (50, 60), kernel="bicubic", antialias=antialias)
    assert np.abs(got - dense(x, 50, 60, "bicubic", antialias, None)).max() < 1e-5


def test_phase_plan_regroups_the_taps() -> None:
    up = phase_plan(200, 600, "bicubic", True)
    assert up is not None and (up.p, up.q) == (3, 1)
    down = phase_plan(300, 100, "bicubic", True)
    assert down is not None and (down.p, down.q) == (1, 3)
    frac = phase_plan(60, 150, "lanczos", True, 2.5)
    assert frac is not None and (frac.p, frac.q) == (5, 2)
    # every output's taps, rebuilt from the plan, are MATLAB's
    idx, w = resize_taps(60, 150, "lanczos", True, 2.5)
    m = resize_matrix(60, 150, "lanczos", True, 2.5)
    for i in range(150):
        r, j = i % frac.p, i // frac.p
        row = np.zeros(60)
        for k, wk in enumerate(frac.kern[r]):
            pos = frac.lo + frac.start[r] + frac.q * j + k
            mirrored = pos if 0 <= pos < 60 else (-pos - 1 if pos < 0 else 2 * 60 - pos - 1)
            row[mirrored] += wk
        assert np.allclose(row, m[i], atol=1e-12)
    assert idx.shape[0] == 150 and np.allclose(w.sum(1), 1)


def test_torch_path_is_differentiable() -> None:
    x = torch.rand(1, 1, 120, 130, dtype=torch.float64, requires_grad=True)
    y = imresize(x, (240, 260))
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    # the gradient of the sum is each input's total weight: the column sums of the dense matrices
    mh, mw = resize_matrix(120, 240), resize_matrix(130, 260)
    expected = np.outer(mh.sum(0), mw.sum(0))
    assert np.allclose(x.grad[0, 0].numpy(), expected, atol=1e-9)
