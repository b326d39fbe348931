"""The SISR training pipeline: a short run on tiny data lowers the loss and exports usable weights."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from helpers import sisr_config
from satsr.models.registry import create
from satsr.ops.resize import imresize
from satsr.train.config import DegradationConfig, load_config
from satsr.train.run import train
from satsr.train.sisr import make_lr, split_files

_config = sisr_config  # the tiny EDSR config lives in helpers (the DDP tests use it too)


def test_holdout_split_and_exclusion(tmp_path: Path) -> None:
    path = _config(tmp_path, 10)
    cfg, base = load_config(path)
    train_files, val_files = split_files(cfg, base)
    assert len(val_files) == 2 and len(train_files) == 4
    assert not set(train_files) & set(val_files)
    cfg.data.exclude = ["hr/img00.png"]
    train_files, val_files = split_files(cfg, base)
    assert all(f.name != "img00.png" for f in train_files + val_files)


def test_make_lr_bicubic_matches_imresize() -> None:
    hr = torch.rand(2, 3, 24, 24)
    lr = make_lr(hr, 3, DegradationConfig(kind="bicubic"), train=False)
    assert lr.shape == (2, 3, 8, 8)
    torch.testing.assert_close(lr, imresize(hr, (8, 8)))


def _l1_on_images(net: torch.nn.Module, folder: Path) -> float:
    errs = []
    for f in sorted(folder.glob("*.png")):
        hr = torch.from_numpy(np.asarray(Image.open(f), np.float32) / 255).permute(2, 0, 1)[None]
        with torch.no_grad():
            errs.append(float((net(imresize(hr, (32, 32))) - hr).abs().mean()))
    return float(np.mean(errs))


def test_short_training_lowers_loss_and_exports(tmp_path: Path) -> None:
    import lightning as L

    from satsr.models.registry import build_net

    cfg_path = _config(tmp_path, 50)
    L.seed_everything(0)
    untrained = build_net("edsr", 2, 3, n_blocks=2, feats=16).eval()
    run_dir = train(cfg_path, accelerator="cpu", devices=1, progress=False)
    with open(run_dir / "log" / "version_0" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len([r for r in rows if r.get("train_loss")]) >= 4
    weights = run_dir / "export" / "edsr_x2.safetensors"
    trained = create("edsr", 2, weights=weights).net
    before, after = _l1_on_images(untrained, tmp_path / "hr"), _l1_on_images(trained, tmp_path / "hr")
    assert after < 0.9 * before, (before, after)
    assert weights.exists() and weights.with_suffix(".json").exists()
    up = create("edsr", 2, weights=weights)
    assert up.card.training["steps"] == 50
    assert "psnr_gain" in up.card.metrics["holdout_validation"]
    assert (run_dir / "ckpt" / "last.ckpt").exists()


def test_resume_continues_from_checkpoint(tmp_path: Path) -> None:
    cfg_path = _config(tmp_path, 30)
    run_dir = train(cfg_path, accelerator="cpu", devices=1, progress=False)
    ckpt = torch.load(run_dir / "ckpt" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 30
    # asking for more steps resumes at 30 instead of starting again
    run_dir = train(cfg_path, accelerator="cpu", devices=1, progress=False, overrides={"steps": 40})
    ckpt = torch.load(run_dir / "ckpt" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 40


@pytest.mark.parametrize("kind", ["gaussian", "wald"])
def test_other_degradations_shapes(kind: str) -> None:
    hr = torch.rand(2, 1, 24, 24)
    lr = make_lr(hr, 2, DegradationConfig(kind=kind, sigma=(0.5, 1.0), noise=0.01))
    assert lr.shape == (2, 1, 12, 12)


@pytest.mark.parametrize("kind", ["bicubic", "wald", "gaussian"])
def test_make_lr_is_fp32_inside_bf16_autocast(kind: str) -> None:
    """Training steps run under bf16 autocast; the LR they learn from must still be the fp32 one."""
    hr = torch.rand(2, 3, 24, 24, generator=torch.Generator().manual_seed(1))
    deg = DegradationConfig(kind=kind, sigma=1.0)
    ref = make_lr(hr, 2, deg, torch.Generator().manual_seed(2), train=False)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        lr = make_lr(hr, 2, deg, torch.Generator().manual_seed(2), train=False)
    assert lr.dtype == torch.float32
    torch.testing.assert_close(lr, ref, rtol=0, atol=0)


def test_a_warm_started_card_records_what_it_started_from(tmp_path: Path) -> None:

    from satsr.models.registry import sha256_of

    cfg_path = _config(tmp_path, 10)
    first = train(cfg_path, accelerator="cpu", devices=1, progress=False) / "export" / "edsr_x2.safetensors"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg.update(name="tiny_stage2", steps=5, init_from=str(first))
    cfg_path.write_text(yaml.safe_dump(cfg))
    second = train(cfg_path, accelerator="cpu", devices=1, progress=False) / "export" / "edsr_x2.safetensors"
    record = create("edsr", 2, weights=second).card.training["init_from"]
    assert record["path"] == str(first) and record["sha256"] == sha256_of(first)
    assert record["steps"] == 10 and "command" in record  # the first stage's recipe, from its card
