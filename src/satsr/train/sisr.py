"""Single-image SR training task (Lightning): HR patches in, LR made on the fly, L1 to HR."""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from satsr.data.folders import FullImages, RandomPatches, expand_paths, load_images
from satsr.errors import InputError
from satsr.metrics import psnr, ssim
from satsr.ops.filters import gaussian_blur, wald_degrade
from satsr.ops.resize import imresize
from satsr.train.common import (
    ValidatedTask,
    adam_warmup_cosine,
    build_initialised_net,
    pixel_loss,
    resolve,
    train_loader,
)
from satsr.train.config import DegradationConfig, TrainConfig


def _draw(value: float | tuple[float, float], n: int, gen: torch.Generator) -> torch.Tensor:
    if isinstance(value, tuple | list):
        lo, hi = value
        return lo + (hi - lo) * torch.rand(n, generator=gen)
    return torch.full((n,), float(value))


def make_lr(hr: torch.Tensor, scale: int, deg: DegradationConfig, gen: torch.Generator | None = None,
            train: bool = True) -> torch.Tensor:
    """Degrade a batch ``(B, C, H, W)`` of HR patches to LR.

    bicubic: MATLAB anti-aliased bicubic (the SR benchmark convention). gaussian: per-sample PSF
    blur then sampling at block centres. wald: the Wald-protocol MTF Gaussian. Noise only in training.
    """
    with torch.autocast(hr.device.type, enabled=False):  # fp32 LR even inside a bf16 training step
        return _make_lr(hr.float(), scale, deg, gen or torch.Generator().manual_seed(0), train)


def _make_lr(hr: torch.Tensor, scale: int, deg: DegradationConfig, gen: torch.Generator, train: bool) -> torch.Tensor:
    b = hr.shape[0]
    h, w = hr.shape[-2] // scale, hr.shape[-1] // scale
    if deg.kind == "bicubic":
        lr = imresize(hr, (h, w), kernel="bicubic", antialias=True)
    elif deg.kind == "wald":
        lr = wald_degrade(hr, scale)
    else:
        sig = _draw(deg.sigma, b, gen)
        c = scale // 2
        lr = torch.stack([gaussian_blur(hr[i], float(sig[i]))[..., c::scale, c::scale][..., :h, :w] for i in range(b)])
    if train:
        nz = _draw(deg.noise, b, gen)
        if float(nz.max()) > 0:
            lr = lr + nz.view(b, 1, 1, 1) * torch.randn(lr.shape, generator=gen)
    return lr.contiguous()


class SISRTask(ValidatedTask):
    """Wraps a SISR network for training; validation compares with bicubic on whole images."""

    def __init__(self, net: nn.Module, cfg: TrainConfig) -> None:
        super().__init__(net, cfg)
        self.gen = torch.Generator().manual_seed(cfg.seed + 1)

    def on_train_start(self) -> None:
        """Each DDP process draws its own degradation noise (rank 0 keeps the single-device stream)."""
        self.gen.manual_seed(self.cfg.seed + 1 + 1000 * self.global_rank)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.net(lr)

    def training_step(self, batch: torch.Tensor | dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        # real pairs come as {"lr", "hr"}; HR patches get their LR made on the fly
        hr, lr = (batch["hr"], batch["lr"]) if isinstance(batch, dict) else \
            (batch, make_lr(batch, self.cfg.scale, self.cfg.degradation, self.gen))
        if self.cfg.channels_last:
            lr = lr.contiguous(memory_format=torch.channels_last)
        sr = self.net(lr)
        loss = pixel_loss(self.cfg.loss, sr.float(), hr)
        self.log("train_loss", loss, prog_bar=True, sync_dist=True)  # the global batch's loss under DDP
        return loss

    def validation_step(self, batch: torch.Tensor | dict[str, torch.Tensor], batch_idx: int) -> None:
        s = self.cfg.scale
        hr, lr = (batch["hr"], batch["lr"]) if isinstance(batch, dict) else \
            (batch, make_lr(batch, s, self.cfg.degradation, train=False))
        with torch.autocast("cpu", enabled=False):  # validation in fp32, as at inference
            sr = self.net(lr).float()
            bic = imresize(lr, hr.shape[-2:], kernel="bicubic")
        peak = 1.0 if self.cfg.data.value_scale == 255.0 else float(hr.max())
        row: dict[str, float] = {}
        for key, img in (("model", sr), ("bicubic", bic)):
            a = img[0].clamp(0, peak).cpu().numpy().astype(np.float64)
            t = hr[0].cpu().numpy().astype(np.float64)
            if self.cfg.data.value_scale == 255.0:  # 8-bit data: round as the benchmarks do
                a = np.round(a * 255) / 255
            row[f"psnr_{key}"] = psnr(a, t, data_range=peak, border=s)
            row[f"ssim_{key}"] = ssim(a, t, data_range=peak, border=s)
        self.val_rows.append(row)

    def summarise(self, mean: dict[str, float]) -> dict[str, float]:
        return {"psnr_gain": mean["psnr_model"] - mean["psnr_bicubic"]}

    def configure_optimizers(self) -> Any:
        return adam_warmup_cosine(self.net.parameters(), self.cfg)


def build(cfg: TrainConfig, base: Any) -> tuple[L.LightningModule, Any, Any]:
    """Task factory used by ``satsr.train.run``: (module, train loader, val loader)."""
    if cfg.data.dataset:
        train_ds, val_ds = dataset_draws(cfg, base)
    else:
        train_files, val_files = split_files(cfg, base)
        hr_patch = cfg.patch * cfg.scale
        train_imgs = load_images(train_files, cfg.data.value_scale, cfg.data.bands, cfg.data.per_band,
                                 min_size=hr_patch)
        val_imgs = load_images(val_files, cfg.data.value_scale, cfg.data.bands, cfg.data.per_band,
                               min_size=4 * cfg.scale)
        train_ds = RandomPatches(train_imgs, hr_patch, length=cfg.steps * cfg.batch, seed=cfg.seed)
        val_ds = FullImages(val_imgs, cfg.scale, max_side=cfg.data.val_max_side)
        print(f"data: {len(train_files)} training files ({len(train_imgs)} images), {len(val_files)} validation files")
    net = build_initialised_net(cfg, base, bands=1 if cfg.data.per_band else cfg.bands)
    if cfg.channels_last:
        net = net.to(memory_format=torch.channels_last)
    train_dl = train_loader(train_ds, cfg)
    val_dl = DataLoader(val_ds, batch_size=1, shuffle=False, num_workers=0)
    return SISRTask(net, cfg), train_dl, val_dl


def split_files(cfg: TrainConfig, base: Any) -> tuple[list[Any], list[Any]]:
    """Training and validation files: explicit ``val`` globs, else every ``holdout``-th file.

    ``exclude`` globs (evaluation splits) are removed from both, so they can never leak in.
    """
    files = expand_paths(cfg.data.train, base)
    excluded = set(expand_paths(cfg.data.exclude, base)) if cfg.data.exclude else set()
    files = [f for f in files if f not in excluded]
    if cfg.data.val:
        val = [f for f in expand_paths(cfg.data.val, base) if f not in excluded]
        train = [f for f in files if f not in set(val)]
    else:
        val = files[cfg.data.holdout - 1 :: cfg.data.holdout] if cfg.data.holdout > 0 else []
        train = [f for f in files if f not in set(val)]
    if not train:
        raise InputError(f"training config {cfg.name}: no training images matched {cfg.data.train}")
    return train, val


def dataset_draws(cfg: TrainConfig, base: Any) -> tuple[Dataset, Dataset]:
    """Training draws and validation images from a named dataset (``data.dataset``, its ``split`` and
    its ``val`` split): real LR/HR pairs as aligned patches, HR-only samples as patches whose LR is made
    on the fly (``degradation``). Samples are decoded once, in this process, and kept in memory.

    Without an explicit ``data.value_scale`` the dataset's own (255 for 8-bit, 10000 for reflectance
    x 10000, ...) is used and recorded in the config, hence in the model card.
    """
    from satsr.data.base import dataset_options, open_dataset
    from satsr.data.patches import FullPairs, PairedPatches

    kind = cfg.data.dataset
    assert kind is not None and cfg.data.root is not None
    root = resolve(cfg.data.root, base)
    options = dict(cfg.data.options)
    if cfg.data.bands and "bands" in dataset_options(kind):
        options.setdefault("bands", cfg.data.bands)
    train = open_dataset(kind, root, cfg.data.split, **options).require()
    try:
        val: Any = open_dataset(kind, root, "val", **options)
    except InputError as exc:  # e.g. split folders without val/: train without monitoring
        print(f"no validation split ({exc})")
        val = []
    if train.produces not in ("pairs", "hr"):
        raise InputError(f"dataset {kind} gives {train.produces} samples; single-image training needs pairs or HR "
                         "images (revisit stacks train with task: misr)")
    if train.produces == "pairs" and train.scale != cfg.scale:
        raise InputError(f"dataset {kind} at {root} pairs images at x{train.scale}; the config's scale is {cfg.scale}")
    if "value_scale" not in cfg.data.model_fields_set:
        cfg.data.value_scale = train.value_scale
    vs = np.float32(cfg.data.value_scale)
    want = 1 if cfg.data.per_band else cfg.bands

    def arrays(ds: Any, key: str) -> list[np.ndarray]:
        out = []
        for i in range(len(ds)):
            arr = ds[i][key]
            if not cfg.data.per_band and want and arr.shape[-3] != want:  # bands 0: any count
                raise InputError(f"dataset {kind}: sample {ds.names[i]} has {arr.shape[-3]} band(s), the model takes "
                                 f"{want}; choose bands (data.bands) or per_band: true")
            out.extend([a[None] for a in arr] if cfg.data.per_band else [arr])
        return [a / vs for a in out]

    length = cfg.steps * cfg.batch
    print(f"data: {train.describe()}; {len(val)} validation samples; value scale {cfg.data.value_scale:g}")
    if train.produces == "pairs":
        train_pairs = list(zip(arrays(train, "lr"), arrays(train, "hr"), strict=True))
        val_pairs = list(zip(arrays(val, "lr"), arrays(val, "hr"), strict=True))
        return (PairedPatches(train_pairs, cfg.patch, cfg.scale, length, seed=cfg.seed),
                FullPairs(val_pairs, cfg.scale, max_side=max(cfg.data.val_max_side // cfg.scale, 4)))
    hr_patch = cfg.patch * cfg.scale
    images = [a for a in arrays(train, "hr") if min(a.shape[-2:]) >= hr_patch]
    if not images:
        raise InputError(f"dataset {kind} at {root}: no image is as large as one {hr_patch}-px HR patch")
    return RandomPatches(images, hr_patch, length, seed=cfg.seed), FullImages(arrays(val, "hr"), cfg.scale,
                                                                               max_side=cfg.data.val_max_side)
