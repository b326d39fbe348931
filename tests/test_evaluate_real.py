"""`satsr evaluate real`: alignment recovered on a synthetic pair, nodata excluded, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from helpers import smooth_image, write_geotiff
from satsr import metrics
from satsr.cli import main
from satsr.errors import InputError
from satsr.evaluate.real import evaluate_real
from satsr.ops.filters import wald_degrade
from satsr.ops.registration import apply_shift

ORIGIN = (300000.0, 5000000.0)


def _pair(tmp_path: Path, shift_lr: tuple[float, float], gain: float, offset: float, side: int = 96,
          nodata_box: bool = False) -> tuple[Path, Path, np.ndarray]:
    """LR (Wald-degraded HR, 20 m) and a reference on the 10 m SR grid: the HR moved by ``shift_lr`` LR px,
    with a gain and an offset, extending 8 LR px beyond the LR on every side (real references do)."""
    hr = smooth_image(3, 2 * side + 32, 2 * side + 32, seed=11, lo=20, hi=220, noise=0.0)
    moved = apply_shift(hr, (2 * shift_lr[0], 2 * shift_lr[1])) * gain + offset
    inner = hr[:, 16:-16, 16:-16]
    lr = np.asarray(wald_degrade(inner.astype(np.float64), 2), np.float32)
    t20 = Affine(20.0, 0, ORIGIN[0], 0, -20.0, ORIGIN[1])
    lr_path = write_geotiff(tmp_path / "lr.tif", lr, dtype="float32", transform=t20)
    ref = moved.astype(np.float32)
    nodata = None
    if nodata_box:
        ref[:, 60:90, 100:140] = -9999.0
        nodata = -9999.0
    t10 = Affine(10.0, 0, ORIGIN[0] - 160.0, 0, -10.0, ORIGIN[1] + 160.0)
    ref_path = write_geotiff(tmp_path / "ref.tif", ref, dtype="float32", transform=t10, nodata=nodata)
    return lr_path, ref_path, inner


def test_recovers_shift_gain_offset_and_the_synthetic_psnr(tmp_path: Path) -> None:
    lr_path, ref_path, hr = _pair(tmp_path, (0.3, -0.45), gain=1.7, offset=-25.0)
    rep = evaluate_real(lr_path, ref_path, 2, peak=255.0, border=8)
    dy, dx = rep.alignment["shift_lr_px"]
    assert abs(dy + 0.3) < 0.1 and abs(dx - 0.45) < 0.1, rep.alignment
    assert np.allclose(rep.alignment["gain"], 1 / 1.7, rtol=0.03)
    # the same PSNR as the synthetic evaluation of bicubic against the true HR, same pixels
    import satsr
    from satsr.io.image import read_image

    lr = read_image(lr_path)
    sr = satsr.upscale(lr, scale=2, model="bicubic", tile=None).astype(np.float64)
    keep = np.zeros(hr.shape[-2:], bool)
    keep[8:-8, 8:-8] = True
    synthetic = float(metrics.psnr(sr, hr, 255.0, mask=keep))
    bicubic = rep.rows[0]
    assert bicubic["model"] == "bicubic" and abs(bicubic["psnr"] - synthetic) < 0.1, (bicubic, synthetic)
    # teeth: the same reference, radiometry undone but not co-registered, scores clearly worse
    unaligned = (read_image(ref_path)[:, 16:-16, 16:-16] + 25.0) / 1.7
    assert synthetic - float(metrics.psnr(sr, unaligned, 255.0, mask=keep)) > 1.0


def test_nodata_in_the_reference_is_excluded(tmp_path: Path) -> None:
    lr_path, ref_path, _ = _pair(tmp_path, (0.0, 0.0), gain=1.0, offset=0.0, nodata_box=True)
    out = tmp_path / "aligned"
    out.mkdir()
    rep = evaluate_real(lr_path, ref_path, 2, peak=255.0, border=4, save_aligned=out)
    (tmp_path / "c").mkdir()
    clean = evaluate_real(*_pair(tmp_path / "c", (0.0, 0.0), 1.0, 0.0)[:2], 2, peak=255.0, border=4)
    import rasterio

    with rasterio.open(out / "reference_aligned.tif") as ds:
        ref = ds.read()
    hole = np.isnan(ref[0])
    # the box (ref rows 60:90, cols 100:140 -> SR rows 44:74, cols 84:124) plus a margin is not scored
    assert hole[44:74, 84:124].all() and hole.sum() < 0.2 * hole.size
    assert rep.window["valid_output_pixels"] < clean.window["valid_output_pixels"]
    assert abs(rep.rows[0]["psnr"] - clean.rows[0]["psnr"]) < 0.5  # the -9999 fill never entered the score
    assert {p.name for p in out.iterdir()} == {"reference_aligned.tif", "sr_bicubic.tif"}


def test_a_reference_elsewhere_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lr_path, _, _ = _pair(tmp_path, (0.0, 0.0), 1.0, 0.0)
    far = write_geotiff(tmp_path / "far.tif", np.ones((3, 50, 50), np.float32),
                        transform=Affine(10.0, 0, ORIGIN[0] + 1e5, 0, -10.0, ORIGIN[1]))
    with pytest.raises(InputError, match="does not overlap"):
        evaluate_real(lr_path, far, 2)
    try:
        main(["evaluate", "real", "--lr", str(lr_path), "--reference", str(far), "-s", "2"])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("satsr: error: ") and err.count("\n") == 1 and "far.tif" in err


def test_cli_json_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lr_path, ref_path, _ = _pair(tmp_path, (0.2, 0.1), 1.2, 3.0, side=64)
    main(["evaluate", "real", "--lr", str(lr_path), "--reference", str(ref_path), "-s", "2", "-m", "lanczos",
          "--json"])
    rep = json.loads(capsys.readouterr().out)
    assert rep["scale"] == 2 and [r["model"] for r in rep["rows"]] == ["bicubic", "lanczos"]
    for row in rep["rows"]:
        assert {"psnr", "ssim", "sam", "detail", "improvement", "omission", "hallucination"} <= set(row)
        assert abs(row["improvement"] + row["omission"] + row["hallucination"] - 1) < 1e-3


CROSS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "crosssensor"


@pytest.mark.skipif(not (CROSS / "ngi_rgb_5m_1.tif").exists(), reason="shared/data/crosssensor is absent")
def test_shipped_real_pair_model_beats_bicubic_and_edsr_on_the_held_out_strip() -> None:
    """The shipped edsr-real x2 against real aerial photos on part of the validation strip (never trained on):
    above bicubic and the synthetic-trained EDSR in PSNR and in detail agreement (BENCHMARKS.md: full strip)."""
    rep = evaluate_real(CROSS / "s2_b432_10m.tif", CROSS / "ngi_rgb_5m_1.tif", 2, ["edsr-real", "edsr"],
                        bounds=(-55600.0, -3727000.0, -53200.0, -3724600.0))
    rows = {r["model"]: r for r in rep.to_json()["rows"]}
    real, bic, synth = rows["edsr-real"], rows["bicubic"], rows["edsr"]
    assert real["psnr"] > bic["psnr"] + 0.15 and real["psnr"] > synth["psnr"]
    assert real["detail"] > bic["detail"] + 0.01 and real["detail"] > synth["detail"]
