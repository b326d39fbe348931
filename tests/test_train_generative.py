"""`satsr train` for the two newer tasks: a GAN (two optimisers, manual optimisation) and an arbitrary-scale
LIIF run. A few steps on tiny data must run, keep the losses finite and export weights that load as a
single-image model (the card's kind is the contract, ``sisr``, not the training task)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import yaml

from helpers import sisr_config
from satsr.models.registry import create
from satsr.train.run import train


def _config(tmp_path: Path, **changes: object) -> Path:
    path = sisr_config(tmp_path, 6)
    cfg = yaml.safe_load(path.read_text())
    cfg.update(changes)
    path.write_text(yaml.safe_dump(cfg))
    return path


def _losses(run_dir: Path) -> list[float]:
    with open(run_dir / "log" / "version_0" / "metrics.csv") as f:
        return [float(r["train_loss"]) for r in csv.DictReader(f) if r.get("train_loss")]


def test_gan_task_trains_and_exports_a_sisr_model(tmp_path: Path) -> None:
    cfg = _config(tmp_path, name="tiny_gan", task="gan", model="esrgan", scale=4, patch=8,
                  arch={"n_blocks": 1, "feats": 8, "grow": 4}, log_every=1, task_options={"d_feats": 8},
                  export={"id": "esrgan_x4"})
    run_dir = train(cfg, accelerator="cpu", devices=1, progress=False)
    losses = _losses(run_dir)
    assert losses and all(math.isfinite(v) for v in losses)
    up = create("esrgan", 4, weights=run_dir / "export" / "esrgan_x4.safetensors")
    assert up.card.kind == "sisr" and up.card.training["steps"] == 6
    out = up(np.random.default_rng(0).uniform(0, 255, (3, 9, 7)).astype(np.float32))
    assert out.shape == (3, 36, 28) and np.isfinite(out).all()


def test_arbitrary_scale_task_trains_and_runs_at_a_fractional_scale(tmp_path: Path) -> None:
    cfg = _config(tmp_path, name="tiny_liif", task="arbitrary", model="liif", scale=4, patch=8,
                  arch={"n_blocks": 1, "feats": 8, "hidden": 16, "layers": 2}, log_every=1,
                  task_options={"queries": 32, "val_scales": [2, 3]}, export={"id": "liif_x4"})
    run_dir = train(cfg, accelerator="cpu", devices=1, progress=False)
    losses = _losses(run_dir)
    assert losses and all(math.isfinite(v) for v in losses)
    up = create("liif", 2.5, weights=run_dir / "export" / "liif_x4.safetensors")
    assert up.card.kind == "sisr"
    out = up(np.random.default_rng(0).uniform(0, 255, (3, 10, 7)).astype(np.float32))
    assert out.shape == (3, 25, 17) and np.isfinite(out).all()


def test_network_interpolation_blends_tensor_by_tensor(tmp_path: Path) -> None:
    """alpha 0 and 1 give back the two inputs exactly, 0.25 the weighted mean; other architectures are refused."""
    import json

    import pytest
    import torch
    from safetensors.torch import load_file, save_file

    from satsr.errors import InputError
    from satsr.train.interpolate import interpolate_weights

    a = {"w": torch.zeros(2, 3), "b": torch.full((4,), 2.0)}
    b = {"w": torch.ones(2, 3), "b": torch.full((4,), 6.0)}
    save_file(a, str(tmp_path / "psnr.safetensors"))
    save_file(b, str(tmp_path / "gan.safetensors"))
    card = {"id": "esrgan_x4", "model": "esrgan", "training": {}, "sha256": "x"}
    (tmp_path / "gan.json").write_text(json.dumps(card))
    for alpha, w, bias in [(0.0, 0.0, 2.0), (1.0, 1.0, 6.0), (0.25, 0.25, 3.0)]:
        out = interpolate_weights(tmp_path / "psnr.safetensors", tmp_path / "gan.safetensors", alpha,
                                  tmp_path / f"mix{alpha}.safetensors")
        mixed = load_file(str(out))
        assert torch.equal(mixed["w"], torch.full((2, 3), w)) and torch.equal(mixed["b"], torch.full((4,), bias))
        written = json.loads(out.with_suffix(".json").read_text())
        assert written["training"]["interpolation"]["alpha"] == alpha and written["sha256"] != "x"
    save_file({"w": torch.zeros(3, 3), "b": torch.zeros(4)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(InputError, match="not the same architecture"):
        interpolate_weights(tmp_path / "other.safetensors", tmp_path / "gan.safetensors", 0.5,
                            tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()
