"""Adversarial SR training (ESRGAN's second stage), Lightning manual optimisation with two optimisers.

The generator (``model``, started from its PSNR-trained weights with ``init_from``) is trained with

    L_G = pixel * L1(SR, HR) + spectral * S(SR, HR) + feature * FM + adversarial * RaGAN_G

* the spectral term compares the power in radial frequency bands (positions free): it asks for the right
  *amount* of detail at every scale, which a PSNR-trained network under-produces at the finest ones (it
  averages plausible textures away);
* the feature-matching term (FM) is the L1 distance between the discriminator's intermediate features of
  SR and HR, satsr's perceptual loss: ESRGAN's VGG loss needs a downloaded ImageNet network, satsr never
  downloads one, and the discriminator's features are learned on this very data;
* RaGAN is the relativistic average GAN loss of ESRGAN (the discriminator judges whether a real image is
  more realistic than the average fake, and the reverse).

The discriminator (``satsr.models.esrgan.PatchDiscriminator``, spectral normalisation) minimises the
relativistic loss. ``task_options``: ``pixel``, ``spectral``, ``feature``, ``adversarial`` (weights),
``d_lr`` (discriminator learning rate, default the config's ``lr``), ``d_feats``.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from satsr.data.folders import FullImages, RandomPatches, load_images
from satsr.metrics import hf_power_ratio, psnr
from satsr.models.esrgan import PatchDiscriminator
from satsr.ops.resize import imresize
from satsr.train.common import (
    ValidatedTask,
    build_initialised_net,
    eight_bit_task_options,
    train_loader,
    warmup_cosine,
)
from satsr.train.config import TrainConfig
from satsr.train.sisr import make_lr, split_files

DEFAULTS: dict[str, Any] = {"pixel": 1.0, "spectral": 0.02, "feature": 0.1, "adversarial": 0.01, "d_lr": None,
                            "d_feats": 32}


def spectral_loss(sr: torch.Tensor, hr: torch.Tensor, n_bands: int = 8) -> torch.Tensor:
    """How far the power of ``sr`` is from the power of ``hr`` in radial frequency bands (log-spaced from
    1/32 to 1/2 cycle per pixel): the mean absolute difference of the log band powers, per image and band.
    Positions are free; what it asks for is the right amount of detail at every scale, which an L1-trained
    network lacks at the finest ones (satsr.metrics.hf_power_ratio measures the top band)."""
    with torch.autocast(sr.device.type, enabled=False):
        h, w = sr.shape[-2:]
        fy = torch.fft.fftfreq(h, device=sr.device)[:, None]
        fx = torch.fft.rfftfreq(w, device=sr.device)[None, :]
        radius = torch.sqrt(fy * fy + fx * fx)
        edges = torch.logspace(-5, -1, n_bands + 1, base=2.0, device=sr.device)
        ps = torch.fft.rfft2(sr.float() - sr.float().mean((-2, -1), keepdim=True), norm="ortho").abs() ** 2
        ph = torch.fft.rfft2(hr.float() - hr.float().mean((-2, -1), keepdim=True), norm="ortho").abs() ** 2
        loss = sr.new_zeros(())
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            band = (radius >= lo) & (radius < hi)
            a = ps[..., band].mean(-1)
            b = ph[..., band].mean(-1)
            loss = loss + (torch.log(a + 1e-8) - torch.log(b + 1e-8)).abs().mean()
        return loss / n_bands


def relativistic(real: torch.Tensor, fake: torch.Tensor, real_is_real: bool) -> torch.Tensor:
    """RaGAN: BCE of (real - mean fake) towards ``real_is_real`` and (fake - mean real) towards the reverse."""
    t = 1.0 if real_is_real else 0.0
    a = F.binary_cross_entropy_with_logits(real - fake.mean(), torch.full_like(real, t))
    b = F.binary_cross_entropy_with_logits(fake - real.mean(), torch.full_like(fake, 1.0 - t))
    return 0.5 * (a + b)


class GANTask(ValidatedTask):
    """Trains ``net`` (generator) against a patch discriminator; validation: PSNR and HF power ratio."""

    def __init__(self, net: nn.Module, cfg: TrainConfig, options: dict[str, Any]) -> None:
        super().__init__(net, cfg)
        self.opt = options
        self.disc = PatchDiscriminator(bands=cfg.bands, feats=int(options["d_feats"]))
        self.gen_noise = torch.Generator().manual_seed(cfg.seed + 1)
        self.automatic_optimization = False

    def on_train_start(self) -> None:
        self.gen_noise.manual_seed(self.cfg.seed + 1 + 1000 * self.global_rank)

    def training_step(self, hr: torch.Tensor, batch_idx: int) -> torch.Tensor:
        o = self.opt
        g_opt, d_opt = self.optimizers()  # type: ignore[misc]
        g_sched, d_sched = self.lr_schedulers()  # type: ignore[misc]
        lr = make_lr(hr, self.cfg.scale, self.cfg.degradation, self.gen_noise)
        sr = self.net(lr)
        # discriminator step on a detached SR
        real_logit, _ = self.disc(hr)
        fake_logit, _ = self.disc(sr.detach().float())
        d_loss = relativistic(real_logit.float(), fake_logit.float(), real_is_real=True)
        d_opt.zero_grad()
        self.manual_backward(d_loss)
        # the raw optimiser: Lightning counts every LightningOptimizer.step() as a training step, and a
        # step of this task is one generator update (``steps``, ``val_every``, the LR schedule)
        d_opt.optimizer.step()
        # generator step
        real_logit, real_feats = self.disc(hr)
        fake_logit, fake_feats = self.disc(sr.float())
        fm = sum(F.l1_loss(f.float(), r.detach().float()) for f, r in zip(fake_feats, real_feats, strict=True))
        adv = relativistic(real_logit.detach().float(), fake_logit.float(), real_is_real=False)
        pix = F.l1_loss(sr.float(), hr)
        spec = spectral_loss(sr, hr)
        g_loss = o["pixel"] * pix + o["spectral"] * spec + o["feature"] * fm + o["adversarial"] * adv
        g_opt.zero_grad()
        self.manual_backward(g_loss)
        g_opt.step()
        g_sched.step()
        d_sched.step()
        self.log_dict({"train_loss": g_loss, "pixel": pix, "spectral": spec, "fm": fm, "adv": adv, "d_loss": d_loss},
                      prog_bar=True, sync_dist=True)
        return g_loss.detach()

    def validation_step(self, hr: torch.Tensor, batch_idx: int) -> None:
        s = self.cfg.scale
        lr = make_lr(hr, s, self.cfg.degradation, train=False)
        with torch.autocast("cpu", enabled=False):
            sr = self.net(lr).float()
            bic = imresize(lr, hr.shape[-2:], kernel="bicubic")
        t = hr[0].cpu().numpy().astype(np.float64)
        row: dict[str, float] = {}
        for key, img in (("model", sr), ("bicubic", bic)):
            a = np.round(img[0].clamp(0, 1).cpu().numpy().astype(np.float64) * 255) / 255
            row[f"psnr_{key}"] = psnr(a, t, data_range=1.0, border=s)
            row[f"hf_ratio_{key}"] = hf_power_ratio(a, t)
        self.val_rows.append(row)

    def summarise(self, mean: dict[str, float]) -> dict[str, float]:
        return {"psnr_gain": mean["psnr_model"] - mean["psnr_bicubic"]}

    def configure_optimizers(self) -> Any:
        cfg = self.cfg
        d_lr = float(self.opt["d_lr"] or cfg.lr)
        g = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
        d = torch.optim.Adam(self.disc.parameters(), lr=d_lr, betas=(0.9, 0.99))

        def sched(opt: torch.optim.Optimizer, base: float) -> torch.optim.lr_scheduler.LambdaLR:
            return torch.optim.lr_scheduler.LambdaLR(
                opt, lambda step: warmup_cosine(step, cfg.warmup, cfg.steps, base, cfg.lr_min * base / cfg.lr))

        return [g, d], [sched(g, cfg.lr), sched(d, d_lr)]


def build(cfg: TrainConfig, base: Any) -> tuple[L.LightningModule, Any, Any]:
    """Task factory used by ``satsr.train.run``: (module, train loader, val loader)."""
    opt = eight_bit_task_options(cfg, DEFAULTS, "GAN")
    train_files, val_files = split_files(cfg, base)
    hr_patch = cfg.patch * cfg.scale
    train_imgs = load_images(train_files, cfg.data.value_scale, cfg.data.bands, min_size=hr_patch)
    val_imgs = load_images(val_files, cfg.data.value_scale, cfg.data.bands, min_size=4 * cfg.scale)
    net = build_initialised_net(cfg, base)
    train_ds = RandomPatches(train_imgs, hr_patch, length=cfg.steps * cfg.batch, seed=cfg.seed)
    val_ds = FullImages(val_imgs, cfg.scale, max_side=cfg.data.val_max_side)
    print(f"data: {len(train_files)} training files, {len(val_files)} validation files; losses "
          f"{ {k: opt[k] for k in ('pixel', 'spectral', 'feature', 'adversarial')} }")
    return (GANTask(net, cfg, opt), train_loader(train_ds, cfg),
            DataLoader(val_ds, batch_size=1, shuffle=False, num_workers=0))
