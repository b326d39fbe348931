"""Guided super-resolution training task (Lightning), Wald protocol on Sentinel-2-like band files.

The training scene is a set of single-band files named like a ``.SAFE`` ``IMG_DATA`` folder
(``..._B02.jp2``, ``..._B8A.jp2``; ``data.train`` globs, ``data.exclude`` removes evaluation scenes).
For a ratio ``r`` (``scale``), each target band at its native grid is the high-res truth; the guide
bands are Wald-degraded from their native grid to the target's grid, and the network input is the
target Wald-degraded by ``r`` (``satsr.degrade.wald_degrade`` everywhere, as in evaluation).

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

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch import nn
from torch.utils.data import DataLoader, Dataset

from satsr.degrade import wald_degrade
from satsr.errors import InputError
from satsr.train.common import adam_warmup_cosine, build_initialised_net, pixel_loss
from satsr.train.config import TrainConfig

BAND_RE = re.compile(r"_(B(?:0[1-9]|1[0-2]|8A))\.[A-Za-z0-9]+$", re.IGNORECASE)


class GuidedOptions(BaseModel):
    """``task_options`` of a guided training config."""

    model_config = ConfigDict(extra="forbid")

    guide: list[str] = Field(default_factory=lambda: ["B04", "B03", "B02", "B08"])
    targets: list[str]
    extra_targets: list[str] = Field(default_factory=list)
    extra_weight: float = Field(0.5, ge=0.0, le=1.0)
    val_fraction: float = Field(0.125, ge=0.0, lt=0.5)
    max_zero_fraction: float = 0.05


def band_name(path: Path) -> str | None:
    """Sentinel-2 band name (``B01``..``B12``, ``B8A``) from a file name, or None."""
    m = BAND_RE.search(path.name)
    return m.group(1).upper() if m else None


def band_files(paths: list[Path], where: str) -> dict[str, Path]:
    """Band name -> file, ``InputError`` when a band appears twice."""
    out: dict[str, Path] = {}
    for p in paths:
        name = band_name(p)
        if name is None:
            continue
        if name in out:
            raise InputError(f"{p}: band {name} also in {out[name]}; {where} must hold one scene")
        out[name] = p
    return out


@dataclass
class GuidedField:
    """One training (or validation) area: guide and targets on the target grid, plus the input."""

    guide: torch.Tensor  # (g, H, W)
    target: torch.Tensor  # (c, H, W)
    lowres: torch.Tensor  # (c, H / r, W / r)
    names: list[str]
    weight: float = 1.0
    base: torch.Tensor | None = None  # (c, H, W) precomputed HPI of the whole field, for base="hpi" nets


def _read(path: Path, value_scale: float) -> np.ndarray:
    import rasterio

    try:
        with rasterio.open(path) as ds:
            return ds.read(1).astype(np.float32) / np.float32(value_scale)
    except Exception as exc:  # rasterio raises several types for unreadable files
        raise InputError(f"{path}: cannot read band ({exc}); check the training data") from exc


def build_fields(cfg: TrainConfig, base: Path) -> tuple[list[GuidedField], list[GuidedField], GuidedOptions]:
    """Read the scene and cut it into training and validation fields (see the module docstring)."""
    from satsr.data.folders import expand_paths

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
    _set_weights(train_fields, main, opts)
    if cfg.arch.get("base") == "hpi":  # HPI once per field, with the whole field's regression (as at inference)
        from satsr.models.guided import hpi_sharpen

        radius, eps = int(cfg.arch.get("hpi_radius", 2)), float(cfg.arch.get("hpi_eps", 1e-4))
        for f in train_fields:
            f.base = hpi_sharpen(f.guide[None].double(), f.lowres[None].double(), r, radius, eps)[0].float()
    return train_fields, val_fields, opts


def _native_ratio(guide_hw: tuple[int, ...], band_hw: tuple[int, ...], path: Path) -> int:
    q = guide_hw[0] / band_hw[0]
    if q < 1 or abs(q - round(q)) > 1e-9 or abs(guide_hw[1] / band_hw[1] - q) > 1e-9:
        raise InputError(f"{path}: size {band_hw[::-1]} is not an integer fraction of the guide {guide_hw[::-1]}")
    return int(round(q))


def _set_weights(fields: list[GuidedField], main: set[str], opts: GuidedOptions) -> None:
    """Sampling weights: by area x bands within main/extra, extras getting ``extra_weight`` overall."""
    def mass(f: GuidedField) -> float:
        return float(f.target.shape[-2] * f.target.shape[-1] * f.target.shape[0])

    is_main = [all(n in main for n in f.names) for f in fields]
    m_total = sum(mass(f) for f, m in zip(fields, is_main, strict=True) if m)
    e_total = sum(mass(f) for f, m in zip(fields, is_main, strict=True) if not m)
    share_extra = opts.extra_weight if e_total > 0 else 0.0
    for f, m in zip(fields, is_main, strict=True):
        f.weight = (1 - share_extra) * mass(f) / m_total if m else share_extra * mass(f) / e_total


class GuidedPatches(Dataset):
    """Random aligned patches (guide, low-res input, target) with flips and 90-degree rotations.

    Reproducible from (seed, epoch, index). Per-band mode returns one random target band a sample.
    """

    def __init__(self, fields: list[GuidedField], patch: int, ratio: int, length: int, seed: int = 0,
                 per_band: bool = False, max_zero_fraction: float = 0.05) -> None:
        usable = [f for f in fields if min(f.lowres.shape[-2:]) >= patch]
        if not usable:
            raise ValueError("no training field is as large as one patch")
        self.fields = usable
        self.patch, self.ratio, self.length, self.seed = patch, ratio, length, seed
        self.per_band = per_band
        self.max_zero_fraction = max_zero_fraction
        w = np.array([f.weight for f in usable], np.float64)
        self.probs = w / w.sum()
        self.epoch = 0

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        p, r = self.patch, self.ratio
        for _ in range(20):
            f = self.fields[int(rng.choice(len(self.fields), p=self.probs))]
            h, w = f.lowres.shape[-2:]
            y, x = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
            band = slice(None)
            if self.per_band:
                k = int(rng.integers(0, f.target.shape[0]))
                band = slice(k, k + 1)
            target = f.target[band, y * r:(y + p) * r, x * r:(x + p) * r]
            if (target == 0).float().mean() <= self.max_zero_fraction:
                break
        item = {"guide": f.guide[:, y * r:(y + p) * r, x * r:(x + p) * r], "target": target,
                "lowres": f.lowres[band, y:y + p, x:x + p]}
        if f.base is not None:
            item["base"] = f.base[band, y * r:(y + p) * r, x * r:(x + p) * r]
        flip_x, flip_y, rot = rng.random() < 0.5, rng.random() < 0.5, int(rng.integers(0, 4))
        for key, t in item.items():
            if flip_x:
                t = t.flip(-1)
            if flip_y:
                t = t.flip(-2)
            item[key] = torch.rot90(t, rot, dims=(-2, -1)).contiguous()
        return item


class FieldImages(Dataset):
    """Whole validation fields, one per item."""

    def __init__(self, fields: list[GuidedField]) -> None:
        self.fields = fields

    def __len__(self) -> int:
        return len(self.fields)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        f = self.fields[index]
        return {"guide": f.guide, "target": f.target, "lowres": f.lowres}


class GuidedTask(L.LightningModule):
    """Trains a guided network; validation compares RMSE (DN) with bicubic and HPI on held-out fields."""

    def __init__(self, net: nn.Module, cfg: TrainConfig) -> None:
        super().__init__()
        self.net = net
        self.cfg = cfg
        self.per_band = cfg.data.per_band
        self.val_rows: list[dict[str, float]] = []
        self.last_val: dict[str, float] = {}

    def forward(self, guide: torch.Tensor, lowres: torch.Tensor) -> torch.Tensor:
        if self.per_band and lowres.shape[1] > 1:
            c = lowres.shape[1]
            out = self.net(guide.expand(c, -1, -1, -1) if guide.shape[0] == 1 else guide, lowres.transpose(0, 1))
            return out.transpose(0, 1)
        return self.net(guide, lowres)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        sr = self.net(batch["guide"], batch["lowres"], batch.get("base"))
        loss = pixel_loss(self.cfg.loss, sr.float(), batch["target"])
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        from satsr.metrics import rmse, sam
        from satsr.models.guided import hpi_sharpen, upsample

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

    def on_validation_epoch_end(self) -> None:
        if not self.val_rows:
            return
        keys = self.val_rows[0].keys()
        mean = {k: float(np.mean([r[k] for r in self.val_rows])) for k in keys}
        mean["rmse_gain_vs_bicubic_pct"] = 100 * (1 - mean["rmse_model"] / mean["rmse_bicubic"])
        self.val_rows = []
        self.last_val = mean
        for k, v in mean.items():
            self.log(f"val_{k}", v)

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
    train_dl = DataLoader(train_ds, batch_size=cfg.batch, shuffle=False, num_workers=0, drop_last=True)
    val_dl = DataLoader(FieldImages(val_fields), batch_size=1, shuffle=False, num_workers=0)
    return GuidedTask(net, cfg), train_dl, val_dl
