"""Training stacks for multi-image models: simulated revisits of real images, mixed with semi-real
pairs from real LR-only revisit stacks (``satsr.data.misr_real``).

``load_sources`` reads the real images once and keeps every band at a few HR pixel sizes in memory;
``RevisitStacks`` draws a crop, turns it into a PROBA-V-like stack (``satsr.data.revisits``) and
normalises it, reproducibly from ``(seed, epoch, index)``.
"""

from __future__ import annotations

import math
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from satsr.data.folders import expand_paths
from satsr.data.misr_real import RealStack, semireal_item
from satsr.data.revisits import RevisitParams, psf_margin, scene_to_dn, simulate_revisits
from satsr.data.sampling import SeededDraws
from satsr.errors import InputError
from satsr.io.image import RASTER_SUFFIXES, read_image
from satsr.io.raster import inspect
from satsr.ops.resize import imresize


def revisit_params(options: dict[str, Any]) -> RevisitParams:
    """``RevisitParams`` with the config's ``sim`` overrides (lists become tuples)."""
    known = {f.name for f in fields(RevisitParams)}
    sim = dict(options.get("sim") or {})
    bad = set(sim) - known
    if bad:
        raise InputError(f"task_options.sim: unknown simulator settings {sorted(bad)}; known: {sorted(known)}")
    return RevisitParams(**{k: tuple(v) if isinstance(v, list) else v for k, v in sim.items()})


def _gsd_of(path: Path) -> float | None:
    """Pixel size in metres of a projected raster, else None (plain images carry none)."""
    if path.suffix.lower() in RASTER_SUFFIXES:
        info = inspect(path)
        if info.crs is not None and info.crs.is_projected:
            return float(info.resolution[0])
    return None


def load_sources(specs: list[dict[str, Any]], base: Path, exclude: list[str], hr_gsd: list[float],
                 min_side: int) -> tuple[list[torch.Tensor], np.ndarray, list[str]]:
    """Read every band of every source file once and resample it to HR pixel sizes in ``hr_gsd``.

    Returns single-band float32 images in source units, their sampling probabilities (each source's
    weight spread over its images by area) and a description per image.
    """
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


class RevisitStacks(SeededDraws):
    """Simulated revisit stacks, reproducible from ``(seed, epoch, index)``.

    All items of one batch share the frame count (drawn per batch), so the default collate works; give
    the global batch (all DDP processes together) so each process's share of it collates too.
    """

    def __init__(self, images: list[torch.Tensor], probs: np.ndarray, patch: int, scale: int,
                 params: RevisitParams, options: dict[str, Any], length: int, batch: int, seed: int = 0,
                 value_scale: float = 65535.0, real: list[RealStack] | None = None) -> None:
        super().__init__(length, seed)
        self.images, self.probs = images, probs
        self.patch, self.scale, self.params = patch, scale, params
        self.opt = options
        self.batch = batch
        self.value_scale = value_scale
        self.margin = psf_margin(params, scale)
        self.real = real or []
        spec = options.get("real_stacks") or {}
        self.real_weight = float(spec.get("weight", 0.5)) if self.real else 0.0
        self.real_noise = tuple(spec.get("noise", (5.0, 30.0)))
        self.real_with_target = float(spec.get("with_target", 0.0))
        # the semi-real pairs may use their own PSF width (their inputs are already real optics once)
        self.real_params = replace(params, psf_sigma=tuple(spec.get("psf_sigma", params.psf_sigma)))

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
        rng = self.rng(index)
        batch_rng = self.rng(index // self.batch, 7)
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
