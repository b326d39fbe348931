"""The shipped multi-image weights load and beat the PROBA-V baseline on revisits they never saw.

A guard against shipping a broken export: stacks are simulated (``simulate_revisits``, default
settings, fixed seeds) from a Landsat 8 crop that no MISR training config reads (it only monitors
training). The full numbers, real PROBA-V scenes included, are in BENCHMARKS.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from satsr.models.registry import list_cards

L8_HELD_OUT = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "landsat" / "l8"
               / "LC08_L1TP_224077_20200518_20200518_01_RT_B2.TIF")
# revisit fusers only: video models (trained on frame windows, swvsr) are tested in test_video.py
MISR_CARDS = [c for c in list_cards() if c.kind == "misr"
              and c.training.get("config", {}).get("data", {}).get("dataset") != "video"]


Stack = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@pytest.fixture(scope="module")
def stacks() -> list[Stack]:
    """Three stacks (lr (8, 1, h, w), qm, hr (1, H, W), sm) of 90 x 90 HR px at ~100 m, made once."""
    import rasterio

    from satsr.data.revisits import RevisitParams, psf_margin, scene_to_dn, simulate_revisits
    from satsr.ops.resize import imresize

    if not L8_HELD_OUT.exists():
        pytest.skip("landsat/l8 224/077 B2 crop is absent")
    params = RevisitParams(n_frames=(9, 16))
    side = 90 + 2 * psf_margin(params, 3)
    with rasterio.open(L8_HELD_OUT) as ds:
        band = ds.read(1).astype(np.float32)
    coarse = np.asarray(imresize(band, scale=0.3))  # 30 m -> 100 m
    out = []
    for i in range(3):
        y, x = 40 + 110 * i, 60 + 90 * i
        scene = scene_to_dn(coarse[y : y + side, x : x + side], 4000.0, 0.15)
        st = simulate_revisits(scene, 3, params, rng=100 + i)
        out.append((st.lr[:8].numpy(), st.qm[:8].numpy(), st.hr.numpy(), st.sm.numpy()))
    return out


@pytest.mark.parametrize("card", MISR_CARDS, ids=lambda c: c.id)
def test_misr_weights_beat_the_baseline_on_held_out_simulated_revisits(card: object, stacks: list[Stack]) -> None:
    from satsr.fusion import build_fuser
    from satsr.metrics import cpsnr

    fuser, baseline = build_fuser(card.model, 3), build_fuser("baseline", 3)  # type: ignore[attr-defined]
    gains = []
    for lr, qm, hr, sm in stacks:
        model = fuser.apply(lr, qm)[0]
        assert model.shape == hr.shape and np.isfinite(model).all()
        gains.append(float(cpsnr(model, hr, sm)) - float(cpsnr(baseline.apply(lr, qm)[0], hr, sm)))
    assert np.mean(gains) > 0.5, f"{card.id}: cPSNR gains over the baseline {np.round(gains, 2)}"  # type: ignore[attr-defined]


@pytest.mark.skipif(not any(c.model == "piunet" for c in MISR_CARDS), reason="no piunet weights shipped")
def test_piunet_uncertainty_points_at_its_errors(stacks: list[Stack]) -> None:
    """Where the shipped PIUnet says it is unsure, its errors are larger (pixels split at the median
    sigma; the brightness bias cPSNR forgives is removed first), and sigma is in the errors' units."""
    from satsr.models import registry

    fuser = registry.create("piunet", 3)
    vs = float(fuser.value_scale)
    for lr, qm, hr, _ in stacks:
        y, sigma = fuser.fuse_with_uncertainty(lr / vs, qm)
        err = np.asarray(y)[0] * vs - hr[0]
        err = np.abs(err - np.median(err))[3:-3, 3:-3]
        s = np.asarray(sigma)[0, 3:-3, 3:-3] * vs
        unsure = s > np.median(s)
        assert err[unsure].mean() > 1.5 * err[~unsure].mean()
        assert 0.33 < s.mean() / err.mean() < 3.0
