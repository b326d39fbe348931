"""The benchmark harness and its CLI: PROBA-V scoring and SISR PSNR/SSIM."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage.metrics import peak_signal_noise_ratio
from typer.testing import CliRunner

from helpers import write_imgset
from satsr.cli import app, main
from satsr.errors import OptionError
from satsr.evaluate import degrade_for_eval, evaluate_probav, evaluate_sisr, list_images

runner = CliRunner()



def _png_folder(root: Path, n: int = 3, size: int = 48) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        d = root / f"class{i % 2}"
        d.mkdir(parents=True, exist_ok=True)
        yy, xx = np.mgrid[0:size, 0:size]
        wave = np.sin(xx / (3 + i)) * np.cos(yy / 5)
        img = 127 + 60 * wave[..., None] + rng.normal(0, 5, (size, size, 3))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(d / f"img{i}.png")
    return root


def test_sisr_bicubic_against_itself_and_an_independent_psnr(tmp_path: Path) -> None:
    from satsr.ops.resize import downsample_bicubic, imresize

    folder = _png_folder(tmp_path / "hr")
    rep = evaluate_sisr(folder, 4, ["bicubic"])
    assert rep.images == 3 and [r.model for r in rep.rows] == ["bicubic", "bicubic"]
    assert rep.rows[0].psnr == rep.rows[1].psnr and rep.rows[0].ssim == rep.rows[1].ssim
    # independent recomputation of image 0: MATLAB bicubic down, rounded; bicubic up, rounded; skimage PSNR
    f = list_images(folder)[0]
    hr = np.moveaxis(np.asarray(Image.open(f)), -1, 0).astype(np.float32)
    lr = np.clip(np.round(downsample_bicubic(hr, 4)), 0, 255)
    sr = np.clip(np.round(imresize(lr, hr.shape[-2:])), 0, 255)
    ref = np.mean([peak_signal_noise_ratio(hr[c, 4:-4, 4:-4], sr[c, 4:-4, 4:-4], data_range=255) for c in range(3)])
    assert rep.per_image["bicubic#0"][0] == pytest.approx(ref, abs=1e-6)
    assert evaluate_sisr(folder, 2, [], limit=2).images == 2


def test_sisr_cli_table_and_json(tmp_path: Path) -> None:
    folder = _png_folder(tmp_path / "hr")
    res = runner.invoke(app, ["evaluate", "sisr", "--hr-dir", str(folder), "--scale", "3", "--model", "bicubic"])
    assert res.exit_code == 0, res.output
    assert res.output.count("│ bicubic ") == 2 and "PSNR" in res.output
    res = runner.invoke(app, ["evaluate", "sisr", "--hr-dir", str(folder), "--scale", "2", "--json", "--limit", "1"])
    data = json.loads(res.output)
    assert data["scale"] == 2 and data["images"] == 1 and [r["model"] for r in data["rows"]] == ["bicubic"]
    # RGB images are multi-band: the mean spectral angle comes with PSNR/SSIM
    assert set(data["rows"][0]) == {"model", "psnr", "ssim", "sam", "consistency_rmse"}
    assert 0 < data["rows"][0]["sam"] < 45


def test_sisr_on_one_geotiff_with_wald_degradation(tmp_path: Path) -> None:
    """A single 16-bit GeoTIFF is a one-image evaluation; Wald LR differs from bicubic LR; SAM per row."""
    import rasterio

    from satsr.ops.filters import wald_degrade

    rng = np.random.default_rng(3)
    hr = (1000 + 3000 * gaussian_filter(rng.random((2, 64, 64)), (0, 2, 2))).astype(np.uint16)
    path = tmp_path / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", width=64, height=64, count=2, dtype="uint16") as ds:
        ds.write(hr)
    assert list_images(path) == [path]
    hr_c, lr = degrade_for_eval(hr.astype(np.float32), 2, False, "wald")
    np.testing.assert_allclose(lr, wald_degrade(hr.astype(np.float64), 2), atol=1e-3)
    assert not np.allclose(lr, degrade_for_eval(hr.astype(np.float32), 2, False)[1], atol=1.0)
    rep = evaluate_sisr(path, 2, ["lanczos"], degradation="wald")
    assert rep.images == 1 and [r.model for r in rep.rows] == ["bicubic", "lanczos"]
    assert all(np.isfinite(r.sam) and r.sam > 0 for r in rep.rows)
    with pytest.raises(OptionError):
        evaluate_sisr(path, 2, [], degradation="gauss")


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "sisr", "--hr-dir", str(tmp_path / "nope")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("satsr: error:") and err.count("\n") == 1
    with pytest.raises(SystemExit):
        main(["evaluate", "sisr", "--hr-dir", str(tmp_path), "--model", "shiftadd"])
    assert "single-image" in capsys.readouterr().err
    write_imgset(tmp_path / "p" / "imgset0001", np.full((2, 4, 4), 5))
    with pytest.raises(SystemExit):
        main(["evaluate", "probav", str(tmp_path / "p")])
    assert "no PROBA-V scene with HR" in capsys.readouterr().err


def test_probav_on_a_synthetic_scene(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    hr = rng.integers(2000, 3000, (30, 30))
    lr = np.stack([hr.reshape(10, 3, 10, 3).mean((1, 3)) for _ in range(3)])
    clear_lr, clear_hr = np.ones(lr.shape, bool), np.ones(hr.shape, bool)
    d = write_imgset(tmp_path / "train" / "RED" / "imgset0007", lr, clear_lr, hr, clear_hr)
    (tmp_path / "norm.csv").write_text("imgset0007 40.0\n")
    rep = evaluate_probav(tmp_path, "baseline", cssim=True)
    assert len(rep.scenes) == 1 and rep.scenes[0].band == "RED" and rep.scenes[0].path == str(d)
    s = rep.scenes[0]
    assert s.score == pytest.approx(40.0 / s.cpsnr) and rep.score == s.score and 0 < s.cssim <= 1
    (tmp_path / "norm.csv").write_text("imgset9999 40.0\n")
    assert evaluate_probav(tmp_path).score is None  # scene not in norm.csv: cPSNR only


def test_probav_real_scenes_cli(shared_data: Path) -> None:
    res = runner.invoke(app, ["evaluate", "probav", str(shared_data / "probav"), "--method", "baseline", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["method"] == "baseline" and len(data["scenes"]) == 2
    for s in data["scenes"]:
        assert set(s) == {"name", "band", "cpsnr", "score"}
        assert 0.99 <= s["score"] <= 1.01
    assert {s["band"] for s in data["scenes"]} == {"RED", "NIR"}
    assert data["score"] == pytest.approx(np.mean([s["score"] for s in data["scenes"]]))
    table = runner.invoke(app, ["evaluate", "probav", str(shared_data / "probav" / "train" / "RED"), "--method",
                                "baseline"])
    assert table.exit_code == 0 and "imgset0000" in table.output and "challenge score" in table.output


def test_sisr_real_ucmerced(shared_data: Path) -> None:
    rep = evaluate_sisr(shared_data / "ucmerced" / "val", 4, ["bicubic"], limit=3)
    assert rep.images == 3 and rep.rows[0].psnr == rep.rows[1].psnr
    assert 18 < rep.rows[0].psnr < 35 and 0 < rep.rows[0].ssim < 1
