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


def _trained_with(card: object) -> str:
    """The degradation the weights were trained on: bicubic (the UC Merced RGB protocol), wald (multispectral)
    or real (pairs of two sensors: judged on their own held-out strip in test_real_world.py, since they learn
    the target sensor's look and a synthetic bicubic pair is outside where they are valid)."""
    config = (card.training or {}).get("config") or {}  # type: ignore[attr-defined]
    if card.trained_on_real_pairs:  # type: ignore[attr-defined]
        return "real"
    return str((config.get("degradation") or {}).get("kind", "bicubic"))


RGB_CARDS = [c for c in list_cards() if c.kind == "sisr" and _trained_with(c) == "bicubic"]
MS_CARDS = [c for c in list_cards() if c.kind == "sisr" and _trained_with(c) == "wald"]


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


@pytest.mark.skipif(not S2_HELD_OUT.exists(), reason="sentinel2/dsen2 crop is absent")
def test_multispectral_upscale_of_a_16bit_scene_end_to_end(tmp_path: Path) -> None:
    """`satsr upscale --model edsr-ms` on a uint16 GeoTIFF with nodata, through several tiles.

    The LR is a Wald-degraded held-out Sentinel-2 crop, so the real 10 m crop is the truth: the
    output must be georeferenced at half the pixel size, stay uint16, keep the nodata strip, and
    be closer to the truth than the CLI's own bicubic output (PSNR and SAM).
    """
    import numpy as np
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    from satsr.cli import main
    from satsr.metrics import psnr, sam
    from satsr.ops.filters import wald_degrade

    with rasterio.open(S2_HELD_OUT) as ds:
        hr = ds.read(window=Window(100, 300, 160, 160)).astype(np.float64)
        crs = ds.crs or "EPSG:32633"
    lr = np.clip(np.round(wald_degrade(hr, 2)), 1, 65535).astype(np.uint16)
    lr[:, :, :5] = 0  # a nodata strip on the left edge
    transform = Affine(20.0, 0, 300000.0, 0, -20.0, 5100000.0)
    src = tmp_path / "lr.tif"
    with rasterio.open(src, "w", driver="GTiff", width=80, height=80, count=4, dtype="uint16",
                       crs=crs, transform=transform, nodata=0) as out:
        out.write(lr)

    def upscale(model: str) -> np.ndarray:
        dst = tmp_path / f"{model}.tif"
        try:
            main(["upscale", str(src), str(dst), "--scale", "2", "--model", model, "--tile", "40",
                  "--overlap", "12", "--quiet"])
        except SystemExit as exc:
            assert not exc.code, f"satsr upscale --model {model} exited with {exc.code}"
        with rasterio.open(dst) as ds:
            assert ds.count == 4 and ds.shape == (160, 160) and ds.dtypes == ("uint16",) * 4
            assert ds.transform == transform @ Affine.scale(0.5) and ds.crs == crs and ds.nodata == 0
            return ds.read().astype(np.float64)

    sr, bic = upscale("edsr-ms"), upscale("bicubic")
    assert (sr[:, :, :10] == 0).all() and (sr[:, :, 12:] > 0).all()  # nodata kept, nowhere else
    valid = np.zeros((160, 160), bool)
    valid[4:-4, 16:-4] = True  # away from the image border and the nodata strip
    gain = psnr(sr, hr, 10000.0, mask=valid) - psnr(bic, hr, 10000.0, mask=valid)
    assert gain > 0.5, f"edsr-ms gains only {gain:.2f} dB over bicubic"
    assert sam(sr, hr, mask=valid) < sam(bic, hr, mask=valid)
