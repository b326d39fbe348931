"""Multi-image SR training task (Lightning): real HR images in, PROBA-V-like revisit stacks simulated
on the fly (``satsr.degrade.simulate_revisits``), shift-tolerant bias-corrected loss to the HR.

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
* ``val_stacks``, ``val_patch``: number and HR side of the validation stacks;
* ``real_stacks``: ``{paths: [imgset folder globs], weight: fraction of training stacks, noise: [lo, hi],
  psf_sigma: [lo, hi], with_target: chance that the target's own reduction is among the inputs}``
  - real LR-only revisit stacks turned into semi-real pairs (``satsr.train.misr_real``): a real frame
  is the target, the other real frames reduced x3 are the inputs. Scenes with ``HR.png`` are refused.

``data.exclude`` globs are removed from every source (evaluation splits never leak in); files under a
``probav`` folder are refused as ``sources`` (real PROBA-V stacks enter only through ``real_stacks``).
"""

from __future__ import annotations

import math
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from satsr.degrade import RevisitParams, imresize, psf_margin, scene_to_dn, simulate_revisits
from satsr.train.common import adam_warmup_cosine, build_initialised_net
from satsr.train.config import TrainConfig
from satsr.train.misr_loss import cpsnr, laplace_nll_at, shift_tolerant_loss
from satsr.train.misr_real import RealStack, load_real_stacks, semireal_item

DEFAULTS: dict[str, Any] = {
    "hr_gsd": [70.0, 130.0],
    "frames": [6, 14],
    "scene_mean": [1500.0, 13000.0],
    "scene_cv": [0.06, 0.3],
    "uncertainty_weight": 0.05,
    "val_stacks": 12,
    "val_patch": 192,
    "sim": {},
}


def revisit_params(options: dict[str, Any]) -> RevisitParams:
    """``RevisitParams`` with the config's ``sim`` overrides (lists become tuples)."""
    known = {f.name for f in fields(RevisitParams)}
    sim = dict(options.get("sim") or {})
    bad = set(sim) - known
    if bad:
        from satsr.errors import InputError

        raise InputError(f"task_options.sim: unknown simulator settings {sorted(bad)}; known: {sorted(known)}")
    return RevisitParams(**{k: tuple(v) if isinstance(v, list) else v for k, v in sim.items()})


def _gsd_of(path: Path) -> float | None:
    if path.suffix.lower() in {".tif", ".tiff", ".jp2", ".vrt"}:
        import rasterio

        with rasterio.open(path) as ds:
            if ds.crs is not None and ds.crs.is_projected:
                return float(abs(ds.res[0]))
    return None


def load_sources(specs: list[dict[str, Any]], base: Path, exclude: list[str], hr_gsd: list[float],
                 min_side: int) -> tuple[list[torch.Tensor], np.ndarray, list[str]]:
    """Read every band of every source file once and resample it to HR pixel sizes in ``hr_gsd``.

    Returns single-band float32 images in source units, their sampling probabilities (each source's
    weight spread over its images by area) and a description per image.
    """
    from satsr.data.folders import expand_paths, read_image
    from satsr.errors import InputError

    excluded = set(expand_paths(exclude, base)) if exclude else set()
    images: list[torch.Tensor] = []
    weights: list[float] = []
    names: list[str] = []
    for spec in specs:
        files = [f for f in expand_paths(spec["paths"], base) if f not in excluded]
        if any("probav" in f.parts for f in files):
            raise InputError("misr training sources must not include PROBA-V scenes (evaluation data)")
        lo, hi = spec.get("hr_gsd", hr_gsd)
        levels = np.geomspace(lo, hi, 3)
        start = len(images)
        for f in files:
            gsd = spec.get("gsd") or _gsd_of(f)
            if gsd is None:
                raise InputError(f"{f}: pixel size unknown; give `gsd` for this source in task_options.sources")
            arr = read_image(f)
            for band in arr:
                valid = band > 0
                if valid.mean() < 0.5:
                    continue
                for target in levels:
                    factor = gsd / target
                    h, w = (max(int(round(n * factor)), 1) for n in band.shape)
                    if min(h, w) < min_side:
                        continue
                    img = imresize(torch.from_numpy(np.ascontiguousarray(band)), (h, w), kernel="bicubic")
                    images.append(img.float())
                    names.append(f"{f.name} @ {target:.0f} m")
        areas = np.array([im.numel() for im in images[start:]], np.float64)
        if len(areas):
            weights.extend(float(spec.get("weight", 1.0)) * areas / areas.sum())
    if not images:
        raise InputError("misr training: no usable source images (check task_options.sources)")
    p = np.asarray(weights)
    return images, p / p.sum(), names


class RevisitStacks(Dataset):
    """Simulated revisit stacks, reproducible from ``(seed, epoch, index)``.

    All items of one batch share the frame count (drawn per batch), so the default collate works.
    """

    def __init__(self, images: list[torch.Tensor], probs: np.ndarray, patch: int, scale: int,
                 params: RevisitParams, options: dict[str, Any], length: int, batch: int, seed: int = 0,
                 value_scale: float = 65535.0, real: list[RealStack] | None = None) -> None:
        self.images, self.probs = images, probs
        self.patch, self.scale, self.params = patch, scale, params
        self.opt = options
        self.length, self.batch, self.seed = length, batch, seed
        self.value_scale = value_scale
        self.margin = psf_margin(params, scale)
        self.epoch = 0
        self.real = real or []
        spec = options.get("real_stacks") or {}
        self.real_weight = float(spec.get("weight", 0.5)) if self.real else 0.0
        self.real_noise = tuple(spec.get("noise", (5.0, 30.0)))
        self.real_with_target = float(spec.get("with_target", 0.0))
        # the semi-real pairs may use their own PSF width (their inputs are already real optics once)
        self.real_params = replace(params, psf_sigma=tuple(spec.get("psf_sigma", params.psf_sigma)))

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def scene(self, rng: np.random.Generator) -> torch.Tensor:
        side = self.patch + 2 * self.margin
        for _ in range(20):
            k = int(rng.choice(len(self.images), p=self.probs))
            im = self.images[k]
            h, w = im.shape
            if h < side or w < side:
                continue
            y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
            crop = im[y : y + side, x : x + side]
            if (crop <= 0).float().mean() <= 0.01 and float(crop.std()) > 0:
                break
        if rng.random() < 0.5:
            crop = crop.flip(-1)
        crop = torch.rot90(crop, int(rng.integers(0, 4)), dims=(-2, -1))
        mean = math.exp(rng.uniform(*np.log(self.opt["scene_mean"])))
        cv = math.exp(rng.uniform(*np.log(self.opt["scene_cv"])))
        return scene_to_dn(crop.contiguous(), mean, cv, self.params.max_value)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        batch_rng = np.random.default_rng((self.seed, self.epoch, index // self.batch, 7))
        lo, hi = self.opt["frames"]
        k = int(batch_rng.integers(lo, hi + 1))
        if self.real_weight > 0 and rng.random() < self.real_weight:
            stack = self.real[int(rng.integers(len(self.real)))]
            # the extra draw only when the option is on, so runs without it keep their random stream
            with_target = self.real_with_target > 0 and bool(rng.random() < self.real_with_target)
            item = semireal_item(stack, self.patch, self.scale, self.real_params, k, rng,
                                 self.real_noise, include_target=with_target)  # type: ignore[arg-type]
            return {**item, "lr": item["lr"] / self.value_scale, "hr": item["hr"] / self.value_scale}
        n_sim = max(k, int(rng.integers(self.params.n_frames[0], self.params.n_frames[1] + 1)))
        st = simulate_revisits(self.scene(rng), self.scale, self.params, rng, n_frames=n_sim)
        return {"lr": st.lr[:k] / self.value_scale, "qm": st.qm[:k], "hr": st.hr / self.value_scale, "sm": st.sm}


def challenge_baseline(lr: torch.Tensor, qm: torch.Tensor, scale: int) -> torch.Tensor:
    """The PROBA-V baseline for a batch: bicubic of the mean of the frames of maximal clearance."""
    out = []
    for x, m in zip(lr, qm, strict=True):
        c = m.flatten(1).sum(1)
        sel = c == c.max()
        out.append(imresize(x[sel].mean(0), scale=scale, kernel="bicubic"))
    return torch.stack(out)


class MISRTask(L.LightningModule):
    """Trains a ``MISRNet`` on simulated stacks; validation reports cPSNR against the challenge baseline."""

    def __init__(self, net: torch.nn.Module, cfg: TrainConfig, options: dict[str, Any]) -> None:
        super().__init__()
        self.net = net
        self.cfg = cfg
        self.opt = options
        self.val_rows: list[dict[str, float]] = []
        self.last_val: dict[str, float] = {}

    def _norm(self, lr: torch.Tensor, qm: torch.Tensor) -> torch.Tensor:
        from satsr.models.misr_layers import prepare

        return prepare(lr, qm, match=False).s

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        lr, qm, hr, sm = batch["lr"], batch["qm"], batch["hr"], batch["sm"]
        sr, log_sigma = self.net(lr, qm)
        norm = self._norm(lr, qm)
        loss, idx = shift_tolerant_loss(sr.float(), hr, sm, kind=self.cfg.loss if self.cfg.loss != "charbonnier"
                                        else "l1", norm=norm)
        self.log("train_loss", loss, prog_bar=True)
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

    def on_validation_epoch_end(self) -> None:
        if not self.val_rows:
            return
        keys = self.val_rows[0].keys()
        mean = {k: float(np.mean([r[k] for r in self.val_rows])) for k in keys}
        mean["cpsnr_gain"] = mean["cpsnr_model"] - mean["cpsnr_baseline"]
        self.val_rows = []
        self.last_val = mean
        for k, v in mean.items():
            self.log(f"val_{k}", v)

    def configure_optimizers(self) -> Any:
        return adam_warmup_cosine(self.net.parameters(), self.cfg)


def _collate_val(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def build(cfg: TrainConfig, base: Any) -> tuple[L.LightningModule, Any, Any]:
    """Task factory used by ``satsr.train.run``: (module, train loader, val loader)."""
    from satsr.errors import InputError

    base = Path(base)
    opt = {**DEFAULTS, **cfg.task_options}
    opt["sim"] = {**DEFAULTS["sim"], **(cfg.task_options.get("sim") or {})}
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
        from satsr.data.folders import expand_paths
        from satsr.data.probav import is_imgset

        # the same expansion and exclusion as the sources: an excluded scene loses all its files
        excluded = set(expand_paths(cfg.data.exclude, base)) if cfg.data.exclude else set()
        files = [f for f in expand_paths(opt["real_stacks"]["paths"], base) if f not in excluded]
        real = load_real_stacks(sorted({f.parent for f in files if is_imgset(f.parent)}))
    train_ds = RevisitStacks(images, probs, cfg.patch * cfg.scale, cfg.scale, params, opt,
                             length=cfg.steps * cfg.batch, batch=cfg.batch, seed=cfg.seed,
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
    train_dl = DataLoader(train_ds, batch_size=cfg.batch, shuffle=False, num_workers=0, drop_last=True)
    val_dl = DataLoader(val_items, batch_size=4, shuffle=False, collate_fn=_collate_val)
    return MISRTask(net, cfg, opt), train_dl, val_dl
