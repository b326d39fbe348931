"""Model cards say where weights are valid, and `satsr upscale` warns (without failing) far outside it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from helpers import run_cli, smooth_image, write_geotiff
from satsr.models.registry import list_cards


def _run(args: list[object], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code, _, err = run_cli(args, capsys)
    return code, err


def test_every_shipped_card_has_a_structured_validity() -> None:
    for card in list_cards():
        v = card.validity
        assert isinstance(v, dict) and v.get("sensor") and v.get("trained_on") and v.get("input_gsd_m"), card.id


@pytest.mark.parametrize("pixel, warned", [(30.0, True), (0.5, False)])
def test_ucmerced_edsr_warns_on_a_30m_input_not_on_a_half_metre_one(pixel: float, warned: bool, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    data = np.round(smooth_image(3, 24, 24, seed=3, lo=10, hi=240)).astype(np.uint8)
    src = write_geotiff(tmp_path / "in.tif", data, transform=Affine(pixel, 0, 400000, 0, -pixel, 5000000))
    code, err = _run(["upscale", src, tmp_path / "out.tif", "-s", "2", "-m", "edsr", "-q"], capsys)
    assert code == 0 and (tmp_path / "out.tif").exists()
    lines = [ln for ln in err.splitlines() if ln.startswith("satsr: warning:")]
    if warned:
        assert len(lines) == 1 and "30 m" in lines[0] and "edsr_x2" in lines[0], err
    else:
        assert not lines, err


def test_value_range_outside_the_card_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = np.round(smooth_image(3, 24, 24, seed=4, lo=500, hi=4000)).astype(np.uint16)  # reflectance-like
    src = write_geotiff(tmp_path / "in.tif", data, transform=Affine(1.0, 0, 400000, 0, -1.0, 5000000))
    code, err = _run(["upscale", src, tmp_path / "out.tif", "-s", "2", "-m", "edsr", "-q"], capsys)
    assert code == 0 and "satsr: warning:" in err and "expects values in 0-255" in err


def test_shipped_edsr_real_is_unit_free() -> None:
    """edsr-real is trained on Sentinel-2 reflectance and runs on 8-bit renders of it: a gain on the input
    (8-bit -> 16-bit digital numbers) scales the output by the same gain, with the shipped weights."""
    from satsr.models.registry import create

    up = create("edsr-real", 2)
    img = smooth_image(3, 40, 40, seed=11, lo=20, hi=200).astype(np.float32)
    out8 = up(img)
    out16 = up(img * 40.0)
    assert out8.shape == (3, 80, 80)
    np.testing.assert_allclose(out16 / 40.0, out8, rtol=1e-4, atol=1e-3)
    assert float(np.abs(out8 - create("bicubic", 2)(img)).mean()) > 0.05  # the detail is not zero


def test_real_pair_cards_are_told_apart_from_synthetic_ones() -> None:
    """Only the cards whose validity says REAL pairs count as real-pair models (synthetic tests skip them)."""
    real = {c.id for c in list_cards() if c.trained_on_real_pairs}
    assert {"edsr-real_x2", "edsr-real_x3"} <= real
    assert not real & {"edsr_x2", "edsr_x4", "esrgan_x4", "liif_x4", "srcnn_x4"}
