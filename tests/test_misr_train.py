"""Multi-image training: the shift-tolerant loss, simulated-stack data, and a short run that learns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import misr_config, texture, write_geotiff
from satsr.errors import InputError
from satsr.train.misr_loss import cpsnr, per_shift_errors, shift_tolerant_loss


def test_loss_forgives_whole_pixel_shifts_and_brightness_bias() -> None:
    torch.manual_seed(0)
    hr = torch.rand(2, 1, 30, 30)
    sr = torch.roll(hr, (2, -1), (-2, -1)) + 0.3  # moved by whole pixels, brighter
    loss, idx = shift_tolerant_loss(sr, hr, None)
    assert float(loss) < 1e-6
    assert idx.tolist() == [(3 - 2) * 7 + (3 + 1)] * 2  # the HR crop at offset (3 - dy, 3 - dx)
    worse, _ = shift_tolerant_loss(sr + 0.1 * torch.rand_like(sr), hr, None)
    assert float(worse) > 0.01


def test_loss_ignores_pixels_outside_the_status_mask() -> None:
    hr = torch.zeros(1, 1, 20, 20)
    sr = torch.zeros(1, 1, 20, 20)
    sr[..., 8:12, 8:12] = 5.0
    sm = torch.ones(1, 20, 20, dtype=torch.bool)
    assert float(shift_tolerant_loss(sr, hr, sm)[0]) > 0
    sm[:, 4:16, 4:16] = False  # the bad pixels are unknown in the HR under every shift
    assert float(shift_tolerant_loss(sr, hr, sm)[0]) == pytest.approx(0.0, abs=1e-7)


def test_cpsnr_matches_the_metrics_module() -> None:
    from satsr import metrics

    rng = np.random.default_rng(0)
    hr = rng.uniform(0.02, 0.2, (48, 48))
    sr = hr + rng.normal(0, 0.003, hr.shape) + 0.01
    sm = rng.random((48, 48)) > 0.1
    ours = float(cpsnr(torch.from_numpy(sr)[None, None], torch.from_numpy(hr)[None, None],
                       torch.from_numpy(sm)[None])[0])
    assert ours == pytest.approx(float(metrics.cpsnr(sr, hr, sm, value_scale=1.0)), abs=1e-6)
    errs = per_shift_errors(torch.from_numpy(sr)[None, None], torch.from_numpy(hr)[None, None], None, kind="mse")
    assert errs.shape == (1, 49)


def _fixed_batch_loss(net: torch.nn.Module, batch: dict[str, torch.Tensor]) -> float:
    from satsr.models.misr_layers import prepare

    with torch.no_grad():
        sr, _ = net(batch["lr"], batch["qm"])
        norm = prepare(batch["lr"], batch["qm"], match=False).s
        return float(shift_tolerant_loss(sr, batch["hr"], batch["sm"], norm=norm)[0])


def test_short_training_on_simulated_stacks_lowers_the_loss(tmp_path: Path) -> None:
    import lightning as L

    from satsr.models.registry import build_net, create
    from satsr.train import misr
    from satsr.train.config import load_config
    from satsr.train.run import train

    path = misr_config(tmp_path, 40)
    cfg, base = load_config(path)
    _, train_dl, _ = misr.build(cfg, base)
    batch = next(iter(train_dl))
    assert batch["lr"].shape[:2] == (4, batch["lr"].shape[1]) and batch["hr"].shape == (4, 1, 24, 24)
    L.seed_everything(0)
    before = _fixed_batch_loss(build_net("highresnet", 3, 1, feats=8, enc_blocks=1).eval(), batch)
    run_dir = train(path, accelerator="cpu", devices=1, progress=False)
    weights = run_dir / "export" / "highresnet_x3.safetensors"
    fuser = create("highresnet", 3, weights=weights)
    after = _fixed_batch_loss(fuser.net, batch)
    assert after < 0.95 * before, (before, after)
    assert fuser.card.kind == "misr" and "cpsnr_gain" in fuser.card.metrics["holdout_validation"]
    out = fuser(batch["lr"][0].numpy(), batch["qm"][0].numpy())
    assert out.shape == (1, 24, 24) and np.isfinite(out).all()


def test_probav_sources_are_refused(tmp_path: Path) -> None:
    from satsr.train import misr

    pv = tmp_path / "probav" / "train"
    pv.mkdir(parents=True)
    write_geotiff(pv / "x.tif", texture(60, 0).astype(np.uint16), dtype="uint16")
    with pytest.raises(InputError, match="PROBA-V"):
        misr.load_sources([{"paths": [str(pv / "*.tif")]}], tmp_path, [], [100, 100], 10)
