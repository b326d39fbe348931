"""The shipped single-image weights load and beat bicubic on real images they were never trained on.

A guard against shipping a broken export (wrong value scaling, a card for other weights, an
untrained tail): the full numbers are in BENCHMARKS.md (``benchmarks/sisr_quality.py``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from satsr.evaluate import evaluate_sisr, list_images
from satsr.models.registry import list_cards

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
UCM_VAL = DATA / "ucmerced" / "val"
S2_HELD_OUT = DATA / "sentinel2" / "dsen2" / "S2A_MSIL1C_20170527_T33UUB_10m.tif"
RGB_CARDS = [c for c in list_cards() if c.kind == "sisr" and not c.per_band]
MS_CARDS = [c for c in list_cards() if c.kind == "sisr" and c.per_band]


@pytest.mark.skipif(not UCM_VAL.is_dir(), reason="ucmerced/val is absent")
@pytest.mark.parametrize("card", RGB_CARDS, ids=lambda c: c.id)
def test_rgb_weights_beat_bicubic_on_held_out_aerial_images(card: object, tmp_path: Path) -> None:
    files = list_images(UCM_VAL)[5::35]  # 3 images of different classes, never in training
    for f in files:
        shutil.copy(f, tmp_path / f.name)
    rep = evaluate_sisr(tmp_path, card.scale, [card.model])  # type: ignore[attr-defined]
    bic, model = rep.rows
    assert rep.images == 3 and model.model == card.model  # type: ignore[attr-defined]
    assert model.psnr > bic.psnr + 0.3 and model.ssim > bic.ssim


@pytest.mark.skipif(not S2_HELD_OUT.exists(), reason="sentinel2/dsen2 crop is absent")
@pytest.mark.parametrize("card", MS_CARDS, ids=lambda c: c.id)
def test_multispectral_weights_beat_bicubic_under_wald(card: object, tmp_path: Path) -> None:
    import rasterio
    from rasterio.windows import Window

    with rasterio.open(S2_HELD_OUT) as ds:  # a 192 x 192 window keeps the test quick
        data = ds.read(window=Window(200, 200, 192, 192))
        profile = {**ds.profile, "width": 192, "height": 192}
    path = tmp_path / "s2_crop.tif"
    with rasterio.open(path, "w", **profile) as out:
        out.write(data)
    rep = evaluate_sisr(path, card.scale, [card.model], degradation="wald")  # type: ignore[attr-defined]
    bic, model = rep.rows
    assert model.psnr > bic.psnr + 0.5 and model.sam < bic.sam
