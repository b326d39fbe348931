"""Classical upscalers: registration, known values and sufficient margins."""

from __future__ import annotations

import numpy as np
import pytest

from satsr.errors import OptionError
from satsr.models import registry
from satsr.models.classical import MARGINS


@pytest.mark.parametrize("name", ["nearest", "bilinear", "bicubic", "lanczos"])
def test_registered_for_scales_2_to_8(name: str) -> None:
    spec = registry.get_spec(name)
    assert spec.kind == "sisr" and not spec.neural and spec.scales == tuple(range(2, 9))
    up = registry.create(name, 5)
    assert up.scale == 5 and up.margin == MARGINS[name] == spec.margin_for()
    x = np.random.default_rng(0).random((2, 7, 9)).astype(np.float32)
    assert up(x).shape == (2, 35, 45)
    with pytest.raises(OptionError):
        registry.create(name, 9)


def test_nearest_is_pixel_replication() -> None:
    x = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    for s in (2, 3, 4):
        y = registry.create("nearest", s)(x)
        assert np.array_equal(y, np.repeat(np.repeat(x, s, 1), s, 2))


@pytest.mark.parametrize("name", ["bilinear", "bicubic", "lanczos"])
def test_constants_and_ramps_are_preserved(name: str) -> None:
    up = registry.create(name, 2)
    const = np.full((1, 10, 12), 7.5, dtype=np.float32)
    assert np.allclose(up(const), 7.5, atol=1e-5)
    # Away from the borders a linear ramp is reproduced: exactly by the piecewise-polynomial kernels,
    # within a few hundredths by Lanczos (a windowed sinc is not exactly linear-preserving).
    ramp = np.tile(np.arange(20, dtype=np.float32), (1, 20, 1))
    y = up(ramp)[0]
    expected = (np.arange(40) + 0.5) / 2 - 0.5  # output pixel centres in input coordinates
    m = 2 * MARGINS[name]
    tol = 0.05 if name == "lanczos" else 1e-3
    assert np.allclose(y[m:-m, m:-m], expected[None, m:-m], atol=tol)


@pytest.mark.parametrize("name", ["nearest", "bilinear", "bicubic", "lanczos"])
@pytest.mark.parametrize("scale", [2, 3, 5])
def test_margin_is_enough_for_exact_crops(name: str, scale: int) -> None:
    """Upscaling a crop with ``margin`` px of context gives exactly the whole-image centre."""
    up = registry.create(name, scale)
    x = np.random.default_rng(1).random((1, 30, 30)).astype(np.float32)
    whole = up(x)
    m = up.margin
    crop = up(x[:, 10 - m:20 + m, 10 - m:20 + m])
    inner = crop[:, m * scale:(m + 10) * scale, m * scale:(m + 10) * scale]
    assert np.allclose(inner, whole[:, 10 * scale:20 * scale, 10 * scale:20 * scale], atol=1e-5)
