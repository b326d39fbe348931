"""Nodata masks, nearest-valid fill, mask upscaling and the final dtype cast."""

from __future__ import annotations

import numpy as np
import pytest

from satsr.masking import all_invalid, fill_invalid, to_dtype, upscale_mask, valid_mask


def test_valid_mask_nodata_and_nan_per_band() -> None:
    data = np.array([[[0, 5], [7, 0]], [[1, 0], [0, 0]]], dtype=np.uint8)
    assert valid_mask(data, 0).tolist() == [[[False, True], [True, False]], [[True, False], [False, False]]]
    assert valid_mask(data, [None, 1]).tolist() == [[[True] * 2] * 2, [[False, True], [True, True]]]
    f = np.array([[[np.nan, 1.0], [-9999.0, np.inf]]], dtype=np.float32)
    assert valid_mask(f, None).tolist() == [[[False, True], [True, False]]]
    assert valid_mask(f, -9999.0).tolist() == [[[False, True], [False, False]]]
    assert valid_mask(f, float("nan")).tolist() == [[[False, True], [True, False]]]


def test_fill_takes_nearest_valid_value_and_keeps_valid_pixels() -> None:
    data = np.array([[[0, 0, 0, 10, 20, 30]]], dtype=np.float32).repeat(3, axis=1)
    valid = data != 0
    filled = fill_invalid(data, valid)
    assert filled[0, 1].tolist() == [10, 10, 10, 10, 20, 30]
    assert filled.dtype == np.float32
    assert data[0, 0, 0] == 0  # input untouched


def test_fill_per_band_and_all_invalid_band() -> None:
    data = np.stack([np.arange(16.0).reshape(4, 4), np.zeros((4, 4))])
    valid = np.stack([np.arange(16).reshape(4, 4) >= 8, np.zeros((4, 4), bool)])
    filled = fill_invalid(data, valid, empty_value=-1)
    assert filled[0, :2].tolist() == [[8, 9, 10, 11]] * 2  # rows above take the first valid row
    assert (filled[1] == -1).all()


def test_upscale_mask_is_nearest_repeat() -> None:
    m = np.array([[[True, False], [False, True]]])
    up = upscale_mask(m, 3)
    assert up.shape == (1, 6, 6)
    assert (up[0, :3, :3]).all() and not up[0, :3, 3:].any() and (up[0, 3:, 3:]).all()
    assert all_invalid(np.zeros((2, 3, 3), bool)) and not all_invalid(up)


def test_to_dtype_rounds_clips_and_applies_nodata() -> None:
    v = np.array([[[-3.2, 0.4, 1.5, 2.5, 254.6, 300.0, np.nan]]], dtype=np.float32)
    assert to_dtype(v, "uint8", None)[0, 0].tolist() == [0, 0, 2, 2, 255, 255, 0]
    # a valid value rounding onto nodata 0 is nudged to 1; NaN becomes nodata
    assert to_dtype(v, "uint8", 0)[0, 0].tolist() == [1, 1, 2, 2, 255, 255, 0]
    assert to_dtype(v, "uint8", 255)[0, 0].tolist() == [0, 0, 2, 2, 254, 254, 255]
    i16 = to_dtype(np.array([[[-40000.0, -9999.2, -9998.6, 40000.0]]]), "int16", -9999)
    assert i16[0, 0].tolist() == [-32768, -10000, -9998, 32767]


def test_to_dtype_float_nodata_and_nan() -> None:
    v = np.array([[[1.5, np.nan, -9999.0]]], dtype=np.float32)
    out = to_dtype(v, "float32", -9999.0)
    assert out[0, 0, 0] == 1.5 and out[0, 0, 1] == -9999.0 and out[0, 0, 2] != -9999.0
    assert np.isclose(out[0, 0, 2], -9999.0)
    kept = to_dtype(v, "float32", None)
    assert np.isnan(kept[0, 0, 1])


def test_to_dtype_needs_bands_axis() -> None:
    with pytest.raises(ValueError):
        to_dtype(np.zeros((2, 2)), "uint8")
