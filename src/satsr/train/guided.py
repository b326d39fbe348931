"""Guided super-resolution training task (Lightning), Wald protocol on Sentinel-2-like band files.

The training scene is a set of single-band files named like a ``.SAFE`` ``IMG_DATA`` folder
(``..._B02.jp2``, ``..._B8A.jp2``; ``data.train`` globs, ``data.exclude`` removes evaluation scenes).
For a ratio ``r`` (``scale``), each target band at its native grid is the high-res truth; the guide
bands are Wald-degraded from their native grid to the target's grid, and the network input is the
target Wald-degraded by ``r`` (``satsr.ops.filters.wald_degrade`` everywhere, as in evaluation).

``task_options`` (validated by ``GuidedOptions``):

* ``guide``: guide band names in network order (default ``[B04, B03, B02, B08]``, the DSen2 order);
* ``targets``: the bands the model sharpens, whose native grid is ``r`` x coarser than the guide;
* ``extra_targets``: cross-band training data for per-band models (``data.per_band: true``): bands
  of another native resolution used as additional targets at the same ratio ``r`` (e.g. the 20 m
  bands degraded by 6 to teach the 60 m model); ``extra_weight`` is their share of the samples;
* ``val_fraction``: the eastern (rightmost) fraction of the scene held out for validation; training
  patches never come from it and it is degraded separately, so nothing of it leaks into training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch import nn
from torch.utils.data import DataLoader

from satsr.data.folders import expand_paths
from satsr.data.guided import FieldImages, GuidedField, GuidedPatches, set_weights
from satsr.errors import InputError
from satsr.io.image import read_image
from satsr.io.sentinel2 import band_files
from satsr.metrics import rmse, sam
from satsr.models.guided_classical import hpi_sharpen, upsample
from satsr.ops.filters import wald_degrade
from satsr.train.common import ValidatedTask, adam_warmup_cosine, build_initialised_net, pixel_loss, train_loader
from satsr.train.config import TrainConfig


class GuidedOptions(BaseModel):
    """``task_options`` of a guided training config."""

    model_config = ConfigDict(extra="forbid")

    guide: list[str] = Field(default_factory=lambda: ["B04", "B03", "B02", "B08"])
    targets: list[str]
    extra_targets: list[str] = Field(default_factory=list)
    extra_weight: float = Field(0.5, ge=0.0, le=1.0)
    val_fraction: float = Field(0.125, ge=0.0, lt=0.5)
    max_zero_fraction: float = 0.05


def _read(path: Path, value_scale: float) -> np.ndarray:
    """The first band of a band file in network units."""
    return read_image(path, bands=[1])[0] / np.float32(value_scale)


def build_fields(cfg: TrainConfig, base: Path) -> tuple[list[GuidedField], list[GuidedField], GuidedOptions]:
    """Read the scene and cut it into training and validation fields (see the module docstring)."""
    try:
        opts = GuidedOptions(**cfg.task_options)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InputError(f"training config {cfg.name}: invalid task_options.{'.'.join(map(str, err['loc']))}: "
                         f"{err['msg']}") from exc
    r = cfg.scale
    files = expand_paths(cfg.data.train, base)
    excluded = set(expand_paths(cfg.data.exclude, base)) if cfg.data.exclude else set()
    bands = band_files([f for f in files if f not in excluded], f"training config {cfg.name}")
    needed = opts.guide + opts.targets + opts.extra_targets
    missing = [b for b in needed if b not in bands]
    if missing:
        raise InputError(f"training config {cfg.name}: bands {missing} not found in {cfg.data.train} "
                         "(files must be named like T33UUU_20170216T102101_B05.jp2)")
    if opts.extra_targets and not cfg.data.per_band:
        raise InputError(f"training config {cfg.name}: extra_targets need a per-band model (data.per_band: true)")
    n_out = 1 if cfg.data.per_band else len(opts.targets)
    if cfg.bands != n_out:
        raise InputError(f"training config {cfg.name}: bands is {cfg.bands}, the targets need {n_out}")

    vs = cfg.data.value_scale
    guide = np.stack([_read(bands[b], vs) for b in opts.guide])
    groups: dict[int, list[str]] = {}
    arrays: dict[str, np.ndarray] = {}
    for b in opts.targets + opts.extra_targets:
        arrays[b] = _read(bands[b], vs)
        q = _native_ratio(guide.shape[-2:], arrays[b].shape, bands[b])
        if b in opts.targets and q != r:
            raise InputError(f"{bands[b]}: target {b} is {q} x coarser than the guide, the config's scale is {r}")
        groups.setdefault(q, []).append(b)

    train_fields: list[GuidedField] = []
    val_fields: list[GuidedField] = []
    main = set(opts.targets)
    for q, names in sorted(groups.items()):
        g_q = guide if q == 1 else wald_degrade(torch.from_numpy(guide[:, :, :]).double(), q).float().numpy()
        t = np.stack([arrays[b] for b in names])
        h, w = t.shape[-2:]
        g_q = g_q[:, :h, :w]
        split = int(round(w * (1 - opts.val_fraction))) // r * r
        is_main = all(b in main for b in names)
        parts = [(slice(0, split), train_fields)]
        if opts.val_fraction > 0 and is_main:
            parts.append((slice(split, w), val_fields))
        for cols, dest in parts:
            tt, gg = t[:, :, cols], g_q[:, :, cols]
            hh, ww = tt.shape[-2] // r * r, tt.shape[-1] // r * r
            if dest is train_fields and min(hh, ww) < r * cfg.patch:
                raise InputError(f"training config {cfg.name}: {names} at ratio {r} is smaller than one patch "
                                 f"({hh}x{ww} < {r * cfg.patch}); lower `patch`")
            tt, gg = tt[:, :hh, :ww], gg[:, :hh, :ww]
            lr = wald_degrade(torch.from_numpy(np.ascontiguousarray(tt)).double(), r).float()
            dest.append(GuidedField(torch.from_numpy(np.ascontiguousarray(gg)),
                                    torch.from_numpy(np.ascontiguousarray(tt)), lr.contiguous(), list(names)))
    set_weights(train_fields, main, opts.extra_weight)
    if cfg.arch.get("base") == "hpi":  # HPI once per field, with the whole field's regression (as at inference)
        radius, eps = int(cfg.arch.get("hpi_radius", 2)), float(cfg.arch.get("hpi_eps", 1e-4))
        for f in train_fields:
            f.base = hpi_sharpen(f.guide[None].double(), f.lowres[None].double(), r, radius, eps)[0].float()
    return train_fields, val_fields, opts


def _native_ratio(guide_hw: tuple[int, ...], band_hw: tuple[int, ...], path: Path) -> int:
    q = guide_hw[0] / band_hw[0]
    if q < 1 or abs(q - round(q)) > 1e-9 or abs(guide_hw[1] / band_hw[1] - q) > 1e-9:
        raise InputError(f"{path}: size {band_hw[::-1]} is not an integer fraction of the guide {guide_hw[::-1]}")
    return int(round(q))


class GuidedTask(ValidatedTask):
    """Trains a guided network; validation compares RMSE (DN) with bicubic and HPI on held-out fields."""

    def __init__(self, net: nn.Module, cfg: TrainConfig) -> None:
        super().__init__(net, cfg)
        self.per_band = cfg.data.per_band

    def forward(self, guide: torch.Tensor, lowres: torch.Tensor) -> torch.Tensor:
        if self.per_band and lowres.shape[1] > 1:
            c = lowres.shape[1]
            out = self.net(guide.expand(c, -1, -1, -1) if guide.shape[0] == 1 else guide, lowres.transpose(0, 1))
            return out.transpose(0, 1)
        return self.net(guide, lowres)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        sr = self.net(batch["guide"], batch["lowres"], batch.get("base"))
        loss = pixel_loss(self.cfg.loss, sr.float(), batch["target"])
        self.log("train_loss", loss, prog_bar=True, sync_dist=True)  # the global batch's loss under DDP
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        r, vs = self.cfg.scale, self.cfg.data.value_scale
        guide, lowres, target = batch["guide"], batch["lowres"], batch["target"]
        with torch.autocast(guide.device.type, enabled=False):
            sr = self(guide.float(), lowres.float()).float()
        outs = {"model": sr, "bicubic": upsample(lowres.float(), r),
                "hpi": hpi_sharpen(guide.double(), lowres.double(), r).float()}
        t = target[0].cpu().numpy().astype(np.float64) * vs
        row: dict[str, float] = {}
        for key, img in outs.items():
            a = img[0].detach().cpu().numpy().astype(np.float64) * vs
            row[f"rmse_{key}"] = float(rmse(a, t))  # mean over bands of per-band RMSE (DN)
            if t.shape[0] > 1:
                row[f"sam_{key}"] = float(sam(a, t))
        self.val_rows.append(row)

    def summarise(self, mean: dict[str, float]) -> dict[str, float]:
        return {"rmse_gain_vs_bicubic_pct": 100 * (1 - mean["rmse_model"] / mean["rmse_bicubic"])}

    def configure_optimizers(self) -> Any:
        return adam_warmup_cosine(self.net.parameters(), self.cfg, betas=(0.9, 0.999))


def build(cfg: TrainConfig, base: Any) -> tuple[L.LightningModule, DataLoader, DataLoader]:
    """Task factory used by ``satsr.train.run``: (module, train loader, val loader)."""
    train_fields, val_fields, opts = build_fields(cfg, Path(base))
    net = build_initialised_net(cfg, base)
    train_ds = GuidedPatches(train_fields, cfg.patch, cfg.scale, length=cfg.steps * cfg.batch, seed=cfg.seed,
                             per_band=cfg.data.per_band, max_zero_fraction=opts.max_zero_fraction)
    desc = ", ".join(f"{'+'.join(f.names)} {tuple(f.target.shape[-2:])} w={f.weight:.2f}" for f in train_fields)
    print(f"guided data: train fields {desc}; {len(val_fields)} validation fields", flush=True)
    train_dl = train_loader(train_ds, cfg)
    val_dl = DataLoader(FieldImages(val_fields), batch_size=1, shuffle=False, num_workers=0)
    return GuidedTask(net, cfg), train_dl, val_dl
