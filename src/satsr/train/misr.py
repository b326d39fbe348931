"""Multi-image SR training task (Lightning): real HR images in, PROBA-V-like revisit stacks simulated
on the fly (``satsr.data.stacks``), shift-tolerant bias-corrected loss to the HR.

Config (``task: misr``) ``task_options``:

* ``sources``: list of ``{paths: [globs], gsd: native metres per pixel (default: from the raster),
  weight: sampling weight, hr_gsd: [lo, hi] (default: the global one)}`` - the real images;
* ``val_sources``: same form, used only for monitoring (fixed simulated stacks);
* ``hr_gsd``: ``[lo, hi]`` metres of one simulated HR pixel (PROBA-V HR: 100 m); each source is kept
  in memory at three pixel sizes spread over the range;
* ``frames``: ``[lo, hi]`` frames given to the network (the clearest of the simulated stack);
* ``sim``: overrides of ``RevisitParams`` (e.g. ``n_frames: [9, 24]``);
* ``scene_mean``, ``scene_cv``: ``[lo, hi]`` (log-uniform) brightness and contrast of the 14-bit scenes;
* ``uncertainty_weight``: weight of the Laplace likelihood for networks with an uncertainty head;
* ``loss_border``: HR px of shift the loss tolerates (PROBA-V: 3; 0 for targets aligned with the
  reference frame, e.g. video windows);
* ``val_stacks``, ``val_patch``: number and HR side of the validation stacks;
* ``real_stacks``: ``{paths: [imgset folder globs], weight: fraction of training stacks, noise: [lo, hi],
  psf_sigma: [lo, hi], with_target: chance that the target's own reduction is among the inputs}``
  - real LR-only revisit stacks turned into semi-real pairs (``satsr.data.misr_real``): a real frame
  is the target, the other real frames reduced x3 are the inputs. Scenes with ``HR.png`` are refused.

``data.exclude`` globs are removed from every source (evaluation splits never leak in); files under a
``probav`` folder are refused as ``sources`` (real PROBA-V stacks enter only through ``real_stacks``).
A named dataset of real revisit stacks (``data: {dataset: probav | worldstrat, root: ..., split: train}``)
trains on crops of its real stacks instead of simulated ones (``dataset_stacks``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from satsr.data.folders import expand_paths
from satsr.data.misr_real import load_real_stacks
from satsr.data.patches import StackCrops
from satsr.data.revisits import psf_margin
from satsr.data.stacks import RevisitStacks, load_sources, revisit_params
from satsr.errors import InputError
from satsr.io.probav import is_imgset
from satsr.models.misr_layers import prepare
from satsr.ops.resize import imresize
from satsr.train.common import ValidatedTask, adam_warmup_cosine, build_initialised_net, resolve, train_loader
from satsr.train.config import TrainConfig
from satsr.train.misr_loss import cpsnr, laplace_nll_at, shift_tolerant_loss

DEFAULTS: dict[str, Any] = {
    "hr_gsd": [70.0, 130.0],
    "frames": [6, 14],
    "scene_mean": [1500.0, 13000.0],
    "scene_cv": [0.06, 0.3],
    "uncertainty_weight": 0.05,
    "loss_border": 3,
    "val_stacks": 12,
    "val_patch": 192,
    "sim": {},
}


def challenge_baseline(lr: torch.Tensor, qm: torch.Tensor, scale: int) -> torch.Tensor:
    """The PROBA-V baseline for a batch: bicubic of the mean of the frames of maximal clearance."""
    out = []
    for x, m in zip(lr, qm, strict=True):
        c = m.flatten(1).sum(1)
        sel = c == c.max()
        out.append(imresize(x[sel].mean(0), scale=scale, kernel="bicubic"))
    return torch.stack(out)


class MISRTask(ValidatedTask):
    """Trains a ``MISRNet`` on simulated stacks; validation reports cPSNR against the challenge baseline."""

    def __init__(self, net: torch.nn.Module, cfg: TrainConfig, options: dict[str, Any]) -> None:
        super().__init__(net, cfg)
        self.opt = options

    def _norm(self, lr: torch.Tensor, qm: torch.Tensor) -> torch.Tensor:
        return prepare(lr, qm, match=False).s

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        lr, qm, hr, sm = batch["lr"], batch["qm"], batch["hr"], batch["sm"]
        sr, log_sigma = self.net(lr, qm)
        norm = self._norm(lr, qm)
        loss, idx = shift_tolerant_loss(sr.float(), hr, sm, border=int(self.opt["loss_border"]),
                                        kind=self.cfg.loss if self.cfg.loss != "charbonnier" else "l1", norm=norm)
        self.log("train_loss", loss, prog_bar=True, sync_dist=True)  # the global batch's loss under DDP
        if log_sigma is not None:
            nll = laplace_nll_at(sr.float(), hr, sm, log_sigma.float(), idx, norm=norm)
            self.log("train_nll", nll)
            loss = loss + float(self.opt["uncertainty_weight"]) * nll
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        lr, qm, hr, sm = batch["lr"], batch["qm"], batch["hr"], batch["sm"]
        with torch.autocast("cpu", enabled=False):
            sr, _ = self.net(lr.float(), qm)
        base = challenge_baseline(lr, qm, self.cfg.scale)
        c_model = cpsnr(sr.float(), hr, sm)
        c_base = cpsnr(base, hr, sm)
        for a, b in zip(c_model.tolist(), c_base.tolist(), strict=True):
            self.val_rows.append({"cpsnr_model": a, "cpsnr_baseline": b, "score": b / a})

    def summarise(self, mean: dict[str, float]) -> dict[str, float]:
        return {"cpsnr_gain": mean["cpsnr_model"] - mean["cpsnr_baseline"]}

    def configure_optimizers(self) -> Any:
        return adam_warmup_cosine(self.net.parameters(), self.cfg)


def _collate_val(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def build(cfg: TrainConfig, base: Any) -> tuple[L.LightningModule, Any, Any]:
    """Task factory used by ``satsr.train.run``: (module, train loader, val loader)."""
    base = Path(base)
    opt = {**DEFAULTS, **cfg.task_options}
    opt["sim"] = {**DEFAULTS["sim"], **(cfg.task_options.get("sim") or {})}
    if cfg.data.dataset:  # real revisit stacks of a named dataset (PROBA-V, WorldStrat)
        train_ds, val_items = dataset_stacks(cfg, base, opt)
        net = build_initialised_net(cfg, base)
        train_dl = train_loader(train_ds, cfg)
        return MISRTask(net, cfg, opt), train_dl, DataLoader(val_items, batch_size=4, collate_fn=_collate_val)
    params = revisit_params(opt)
    if cfg.patch * cfg.scale <= 6:
        raise InputError(f"training config {cfg.name}: patch {cfg.patch} is too small")
    margin = psf_margin(params, cfg.scale)
    specs = opt.get("sources") or [{"paths": cfg.data.train}]
    images, probs, names = load_sources(specs, base, cfg.data.exclude, opt["hr_gsd"],
                                        cfg.patch * cfg.scale + 2 * margin)
    val_specs = opt.get("val_sources") or []
    real = None
    if opt.get("real_stacks"):
        # the same expansion and exclusion as the sources: an excluded scene loses all its files
        excluded = set(expand_paths(cfg.data.exclude, base)) if cfg.data.exclude else set()
        files = [f for f in expand_paths(opt["real_stacks"]["paths"], base) if f not in excluded]
        real = load_real_stacks(sorted({f.parent for f in files if is_imgset(f.parent)}))
    train_ds = RevisitStacks(images, probs, cfg.patch * cfg.scale, cfg.scale, params, opt,
                             length=cfg.steps * cfg.batch, batch=cfg.global_batch, seed=cfg.seed,
                             value_scale=cfg.data.value_scale, real=real)
    if real:
        print(f"real stacks: {len(real)} LR-only scenes, {train_ds.real_weight:.0%} of stacks")
    val_items: list[dict[str, torch.Tensor]] = []
    if val_specs:
        vp = int(opt["val_patch"])
        vimgs, vprobs, _ = load_sources(val_specs, base, cfg.data.exclude, opt["hr_gsd"], vp + 2 * margin)
        # validation stacks use a fixed frame count (the middle of the range) and fixed seeds
        vopt = {**opt, "frames": [int(np.mean(opt["frames"]))] * 2}
        val_ds = RevisitStacks(vimgs, vprobs, vp, cfg.scale, params, vopt, length=int(opt["val_stacks"]),
                               batch=1, seed=10_000 + cfg.seed, value_scale=cfg.data.value_scale)
        val_items = [val_ds[i] for i in range(len(val_ds))]
    net = build_initialised_net(cfg, base)
    print(f"data: {len(images)} source images (band x pixel size) from {len({n.split(' @')[0] for n in names})} "
          f"files; {len(val_items)} validation stacks")
    train_dl = train_loader(train_ds, cfg)
    val_dl = DataLoader(val_items, batch_size=4, shuffle=False, collate_fn=_collate_val)
    return MISRTask(net, cfg, opt), train_dl, val_dl


def dataset_stacks(cfg: TrainConfig, base: Path, opt: dict[str, Any]) -> tuple[StackCrops, list[dict[str, Any]]]:
    """Training crops and fixed validation crops of the real revisit stacks of a named dataset
    (``data.dataset``: its ``split``, and ``val`` for monitoring), ``patch`` LR px, ``frames`` frames.

    Frames are divided by the dataset's low-res value scale, HR images by ``data.value_scale`` when
    the config sets one (else the dataset's): both sides must end up in the same units.
    """
    from satsr.data.base import open_dataset

    kind = cfg.data.dataset
    assert kind is not None and cfg.data.root is not None
    root = resolve(cfg.data.root, base)
    train = open_dataset(kind, root, cfg.data.split, **cfg.data.options).require()
    if train.produces != "stacks":
        raise InputError(f"dataset {kind} gives {train.produces} samples; multi-image training needs revisit stacks "
                         "(probav, worldstrat)")
    if train.scale != cfg.scale:
        raise InputError(f"dataset {kind} at {root} is x{train.scale}; the config's scale is {cfg.scale} (WorldStrat: "
                         "set options.scale)")
    hr_scale = cfg.data.value_scale if "value_scale" in cfg.data.model_fields_set else train.value_scale
    scales = {"lr_scale": train.input_value_scale, "hr_scale": hr_scale}
    stacks = [train[i] for i in range(len(train))]
    # the frame count is drawn per global batch (all DDP processes of one step agree on it)
    train_ds = StackCrops(stacks, cfg.patch, cfg.scale, opt["frames"], cfg.global_batch,
                          cfg.steps * cfg.global_batch, seed=cfg.seed, **scales)
    val = open_dataset(kind, root, "val", **cfg.data.options)
    mid = int(np.mean(opt["frames"]))
    val_ds = StackCrops([val[i] for i in range(len(val))], cfg.patch, cfg.scale, (mid, mid), 1,
                        int(opt["val_stacks"]), seed=10_000 + cfg.seed, augment=False, **scales) if len(val) else None
    print(f"data: {train.describe()}; {len(val)} validation stacks")
    return train_ds, [val_ds[i] for i in range(len(val_ds))] if val_ds is not None else []
