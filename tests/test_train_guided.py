"""The guided training task: Wald fields, the spatial hold-out, a short run that lowers the loss."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from helpers import smooth_image, write_geotiff
from satsr.errors import InputError
from satsr.models.base import ModelCard
from satsr.models.registry import create
from satsr.ops.filters import wald_degrade
from satsr.train.config import load_config
from satsr.train.guided import GuidedPatches, build_fields

PREFIX = "T99XXX_20200101T000000"


def _scene(folder: Path, h10: int = 96, w10: int = 144) -> None:
    """10 m guide bands and 20/60 m bands that depend on them non-linearly (something to learn)."""
    folder.mkdir(parents=True)
    g = smooth_image(4, h10, w10, seed=11, lo=500, hi=4000, noise=0.05)
    bands = dict(zip(("B04", "B03", "B02", "B08"), g, strict=True))
    for k, (b, q) in enumerate({"B05": 2, "B06": 2, "B01": 6, "B09": 6}.items()):
        hr = 0.4 * g[k] + 0.6 * g[3] ** 2 / 4000 + 200
        bands[b] = wald_degrade(torch.from_numpy(hr[None]), q)[0].numpy()
    for b, data in bands.items():
        write_geotiff(folder / f"{PREFIX}_{b}.tif", np.round(data)[None].astype(np.uint16))
    write_geotiff(folder.parent / f"heldout_{PREFIX}_B05.tif", np.ones((1, 48, 72), np.uint16))


def _config(tmp_path: Path, steps: int = 60, **changes: Any) -> Path:
    _scene(tmp_path / "scene")
    cfg: dict[str, Any] = {
        "name": "tiny_guided", "task": "guided", "model": "dsen2", "scale": 2, "bands": 2,
        "arch": {"guide_bands": 4, "n_blocks": 2, "feats": 16, "base": "bicubic"},
        "data": {"train": ["scene/*.tif", "heldout_*.tif"], "exclude": ["heldout_*.tif"], "value_scale": 10000},
        "task_options": {"targets": ["B05", "B06"], "val_fraction": 0.25},
        "degradation": {"kind": "wald"},
        "patch": 8, "batch": 8, "steps": steps, "lr": 2e-3, "warmup": 5, "val_every": steps, "ckpt_every": 1000,
        "log_every": 10, "precision": "32", "channels_last": False, "out_dir": str(tmp_path / "runs"),
        "export": {"id": "dsen2_r2", "band_names": ["B05", "B06"]},
    }
    for key, value in changes.items():
        cfg[key] = value
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_fields_hold_out_the_east_and_follow_wald(tmp_path: Path) -> None:
    cfg, base = load_config(_config(tmp_path))
    train, val, opts = build_fields(cfg, base)
    assert opts.guide == ["B04", "B03", "B02", "B08"]
    (t,), (v,) = train, val
    assert t.names == ["B05", "B06"] and tuple(t.target.shape) == (2, 48, 54)  # 72 cols * 0.75
    assert tuple(v.target.shape) == (2, 48, 18) and tuple(v.lowres.shape) == (2, 24, 9)
    assert tuple(t.guide.shape) == (4, 48, 54) and tuple(t.lowres.shape) == (2, 24, 27)
    # the input is the target degraded by the ratio, the truth the native 20 m band
    torch.testing.assert_close(t.lowres, wald_degrade(t.target.double(), 2).float())
    # no pixel of the held-out east is in a training field; the excluded file was never read
    import rasterio

    with rasterio.open(tmp_path / "scene" / f"{PREFIX}_B05.tif") as ds:
        native = ds.read(1).astype(np.float32) / 10000
    assert np.array_equal(t.target[0].numpy(), native[:, :54]) and np.array_equal(v.target[0].numpy(), native[:, 54:])


def test_patches_are_aligned_and_augmented_consistently(tmp_path: Path) -> None:
    cfg, base = load_config(_config(tmp_path))
    train, _, _ = build_fields(cfg, base)
    ds = GuidedPatches(train, patch=8, ratio=2, length=20, seed=1)
    for i in range(20):
        item = ds[i]
        assert tuple(item["guide"].shape) == (4, 16, 16) and tuple(item["target"].shape) == (2, 16, 16)
        # the degraded target patch equals the low-res patch away from the patch border
        deg = wald_degrade(item["target"].double(), 2).float()
        torch.testing.assert_close(deg[:, 2:-2, 2:-2], item["lowres"][:, 2:-2, 2:-2], atol=2e-3, rtol=0)
    assert all(torch.equal(ds[3][k], ds[3][k]) for k in ("guide", "target", "lowres"))  # reproducible


def test_cross_band_targets_for_a_per_band_model(tmp_path: Path) -> None:
    opts = {"targets": ["B01", "B09"], "extra_targets": ["B05", "B06"], "extra_weight": 0.7, "val_fraction": 0.25}
    cfg, base = load_config(_config(tmp_path, scale=6, bands=1, task_options=opts, patch=2,
                                    data={"train": ["scene/*.tif"], "value_scale": 10000, "per_band": True}))
    train, val, _ = build_fields(cfg, base)
    by_names = {"+".join(f.names): f for f in train}
    assert set(by_names) == {"B05+B06", "B01+B09"}
    assert by_names["B05+B06"].weight == pytest.approx(0.7) and by_names["B01+B09"].weight == pytest.approx(0.3)
    assert [f.names for f in val] == [["B01", "B09"]]  # validated on the real 60 m bands only
    item = GuidedPatches(train, patch=2, ratio=6, length=4, per_band=True)[0]
    assert item["target"].shape[0] == 1 and item["lowres"].shape[0] == 1
    # a joint (multi-band) model cannot take cross-band targets
    cfg2, base2 = load_config(_config(tmp_path / "b", scale=6, bands=2, task_options=opts, patch=2))
    with pytest.raises(InputError, match="per-band"):
        build_fields(cfg2, base2)


def test_missing_band_is_a_clear_error(tmp_path: Path) -> None:
    cfg, base = load_config(_config(tmp_path, task_options={"targets": ["B05", "B07"]}))
    with pytest.raises(InputError, match=r"\['B07'\] not found"):
        build_fields(cfg, base)


def test_short_training_lowers_the_loss_and_exports(tmp_path: Path) -> None:
    from satsr.train.run import train

    path = _config(tmp_path, steps=200, lr=3e-3)
    cfg, base = load_config(path)
    train_fields, _, _ = build_fields(cfg, base)
    field = train_fields[0]

    def field_l1(model: Any) -> float:
        y = model(field.guide.numpy(), field.lowres.numpy())
        return float(np.abs(y - field.target.numpy()).mean())

    torch.manual_seed(0)
    untrained = create("dsen2", 2, bands=2, pretrained=False, **cfg.arch)
    run_dir = train(path, accelerator="cpu", devices=1, progress=False, threads=1)
    weights = run_dir / "export" / "dsen2_r2.safetensors"
    card = ModelCard.from_json(weights.with_suffix(".json"))
    assert card.kind == "guided" and card.scale == 2 and card.bands == 2 and card.value_scale == 10000
    assert card.band_names == ["B05", "B06"] and card.arch["n_blocks"] == 2
    assert {"rmse_model", "rmse_bicubic", "rmse_hpi"} <= set(card.metrics["holdout_validation"])
    trained = create("dsen2", 2, weights=weights)
    assert field_l1(trained) < 0.8 * field_l1(untrained)
