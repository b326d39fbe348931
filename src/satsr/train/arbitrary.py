"""Arbitrary-scale training task (Lightning), for models that take any scale (``liif``).

Every batch draws one scale ``s`` uniformly from ``task_options.scales`` (default ``[1, 4]``): HR patches
are cropped to ``round(patch * s)`` px and reduced to ``patch`` px with MATLAB's anti-aliased bicubic (the
benchmark degradation at that exact scale), and the loss (L1) is taken at ``task_options.queries``
random output positions per patch, as in LIIF. Validation scores whole held-out images at each scale
of ``task_options.val_scales`` (default 2, 3, 4) against bicubic.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from satsr.data.folders import FullImages, RandomPatches, load_images
from satsr.metrics import psnr
from satsr.ops.resize import imresize
from satsr.train.common import (
    ValidatedTask,
    adam_warmup_cosine,
    build_initialised_net,
    eight_bit_task_options,
    pixel_loss,
    train_loader,
)
from satsr.train.config import TrainConfig
from satsr.train.sisr import split_files

DEFAULTS: dict[str, Any] = {"scales": [1.0, 4.0], "queries": 2304, "val_scales": [2, 3, 4]}


class ArbitraryScaleTask(ValidatedTask):
    """Trains ``net(lr, out_hw, idx)`` on random scales; validation reports PSNR per scale vs bicubic."""

    def __init__(self, net: nn.Module, cfg: TrainConfig, options: dict[str, Any]) -> None:
        super().__init__(net, cfg)
        self.opt = options
        self.gen = torch.Generator().manual_seed(cfg.seed + 1)

    def on_train_start(self) -> None:
        self.gen.manual_seed(self.cfg.seed + 1 + 1000 * self.global_rank)

    def training_step(self, hr: torch.Tensor, batch_idx: int) -> torch.Tensor:
        lo, hi = (float(v) for v in self.opt["scales"])
        p = self.cfg.patch
        s = lo + (hi - lo) * float(torch.rand(1, generator=self.gen))
        side = min(hr.shape[-1], max(p, round(p * s)))
        y0, x0 = (int(torch.randint(0, hr.shape[-1] - side + 1, (1,), generator=self.gen)) for _ in range(2))
        target = hr[..., y0:y0 + side, x0:x0 + side].float()
        with torch.autocast(hr.device.type, enabled=False):
            lr = imresize(target, (p, p), kernel="bicubic", antialias=True)
        n, c = target.shape[:2]
        q = min(int(self.opt["queries"]), side * side)
        idx = torch.stack([torch.randperm(side * side, generator=self.gen)[:q] for _ in range(n)]).to(hr.device)
        pred = self.net(lr, (side, side), idx)
        truth = torch.gather(target.flatten(2).transpose(1, 2), 1, idx.unsqueeze(-1).expand(-1, -1, c))
        loss = pixel_loss(self.cfg.loss, pred.float(), truth)
        self.log("train_loss", loss, prog_bar=True, sync_dist=True)
        return loss

    def validation_step(self, hr: torch.Tensor, batch_idx: int) -> None:
        row: dict[str, float] = {}
        for s in self.opt["val_scales"]:
            s = int(s)
            h, w = hr.shape[-2] // s * s, hr.shape[-1] // s * s
            t = hr[..., :h, :w].float()
            with torch.autocast(hr.device.type, enabled=False):
                lr = imresize(t, (h // s, w // s), kernel="bicubic", antialias=True)
                lr = torch.round(lr * 255) / 255  # 8-bit LR, as the benchmarks save it
                sr = self.net(lr, (h, w)).float()
                bic = imresize(lr, (h, w), kernel="bicubic")
            ref = t[0].cpu().numpy().astype(np.float64)
            for key, img in (("model", sr), ("bicubic", bic)):
                a = np.round(img[0].clamp(0, 1).cpu().numpy().astype(np.float64) * 255) / 255
                row[f"psnr_{key}_x{s}"] = psnr(a, ref, data_range=1.0, border=s)
        self.val_rows.append(row)

    def summarise(self, mean: dict[str, float]) -> dict[str, float]:
        return {f"psnr_gain_x{int(s)}": mean[f"psnr_model_x{int(s)}"] - mean[f"psnr_bicubic_x{int(s)}"]
                for s in self.opt["val_scales"]}

    def configure_optimizers(self) -> Any:
        return adam_warmup_cosine(self.net.parameters(), self.cfg)


def build(cfg: TrainConfig, base: Any) -> tuple[L.LightningModule, Any, Any]:
    """Task factory used by ``satsr.train.run``: (module, train loader, val loader)."""
    opt = eight_bit_task_options(cfg, DEFAULTS, "arbitrary-scale")
    train_files, val_files = split_files(cfg, base)
    hr_patch = int(np.ceil(cfg.patch * float(opt["scales"][1])))
    train_imgs = load_images(train_files, cfg.data.value_scale, cfg.data.bands, min_size=hr_patch)
    val_imgs = load_images(val_files, cfg.data.value_scale, cfg.data.bands, min_size=16)
    net = build_initialised_net(cfg, base)
    train_ds = RandomPatches(train_imgs, hr_patch, length=cfg.steps * cfg.batch, seed=cfg.seed)
    val_ds = FullImages(val_imgs, 12, max_side=cfg.data.val_max_side)  # sides divisible by 2, 3 and 4
    print(f"data: {len(train_files)} training files, {len(val_files)} validation files; scales {opt['scales']}")
    return (ArbitraryScaleTask(net, cfg, opt), train_loader(train_ds, cfg),
            DataLoader(val_ds, batch_size=1, shuffle=False, num_workers=0))
