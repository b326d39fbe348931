"""Zero-shot super-resolution: models that learn from the input image alone, at run time.

* ``zssr`` (Shocher, Cohen & Irani, CVPR 2018, "Zero-Shot Super-Resolution using Deep Internal
  Learning"): random crops of the input (flipped, rotated) are degraded by the scale with the chosen
  degradation, and a small CNN learns to undo that (crop -> its own downscaled copy); it is then applied
  to the input itself. As in the paper, crops also come from copies of the input downscaled by 0.9 ... 0.5,
  the training inputs get a little noise (``noise``, 0.05 of a band's deviation), and x4 is done gradually:
  a x2 network learns from the input, a second one from the first one's output, each for half the budget
  (on small inputs this holds up far better over long budgets than one x4 network: BENCHMARKS.md).
* ``dip`` (after Ulyanov, Vedaldi & Lempitsky, CVPR 2018, "Deep Image Prior"): a randomly initialised CNN
  is optimised so that its output, degraded, equals the input; the network's structure and the budget
  (early stopping) are the prior. Departure: the network's input is the LR image itself rather than fixed
  noise, so that the fitted network can be applied tile by tile to a scene larger than what it was fitted
  on (DIP with a noise input only ever describes the one image it was fitted to).

Both use the same light network (convolutions at the LR resolution, pixel shuffle, a residual over
bicubic, started near bicubic), run band by band on bands normalised by their own mean and deviation (any
band count, any dtype, 8 or 16 bit), and train for a budget: ``budget_s`` seconds and/or ``steps``
optimiser steps, whichever ends first, with the learning rate on a cosine over the budget. Crops and
initial weights come from ``seed``: with a ``steps`` budget (and ``budget_s=0``) the result is
reproducible bit for bit; a time budget gives as many steps as the machine manages. Invalid pixels never
enter a loss (the tiler fills them with valid neighbours; their targets carry weight 0).

Options (``--set``): ``budget_s``, ``steps``, ``seed``, ``degradation`` (bicubic or wald), the network's
``feats`` and ``layers``, ``lr``, ``batch``, ``crop`` (side of the training crops, input px), ``noise``.

The scene-level ``fit`` hook trains once on a sample of the scene (``satsr.api.upscale`` calls it before
tiling); every tile then runs the fitted network. Called without a fit, each call trains on its own input.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from satsr.arrays import Array, to_numpy
from satsr.errors import OptionError
from satsr.models.base import FitProgress, Upscaler
from satsr.models.layers import add_bicubic, conv3x3, damp_last_conv
from satsr.models.registry import register
from satsr.ops.filters import DEGRADATIONS, wald_degrade
from satsr.ops.geometry import dihedral
from satsr.ops.resize import downsample_bicubic, imresize

SCALES = (2, 3, 4)


class ZeroShotNet(nn.Module):
    """``layers`` 3x3 convolutions at the LR resolution, pixel shuffle, plus bicubic: ``(N, 1, h, w)`` ->
    ``(N, 1, h*s, w*s)``; the last convolution is damped so that training starts near bicubic."""

    def __init__(self, scale: int, feats: int = 32, layers: int = 6) -> None:
        super().__init__()
        if layers < 2:
            raise OptionError(f"zero-shot networks need at least 2 layers, got {layers}")
        body: list[nn.Module] = [conv3x3(1, feats), nn.ReLU(inplace=True)]
        for _ in range(layers - 2):
            body += [conv3x3(feats, feats), nn.ReLU(inplace=True)]
        body += [conv3x3(feats, scale * scale), nn.PixelShuffle(scale)]
        self.body = nn.Sequential(*body)
        self.scale = scale
        damp_last_conv(self.body)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return add_bicubic(self.body(x), x, self.scale)


def degrade_tensor(x: torch.Tensor, scale: int, kind: str) -> torch.Tensor:
    """``(..., H, W)`` degraded by ``scale`` (MATLAB bicubic or the Wald MTF), differentiable."""
    return downsample_bicubic(x, scale) if kind == "bicubic" else wald_degrade(x, scale)


@dataclass
class Fitted:
    """The trained network(s), applied in turn, and the band statistics inputs are normalised with."""

    nets: list[ZeroShotNet]
    mean: np.ndarray  # (C,)
    std: np.ndarray  # (C,)
    steps: int
    seconds: float


class ZeroShotUpscaler(Upscaler):
    """What ``zssr`` and ``dip`` share: normalisation, the budgeted training loop, inference."""

    scales = SCALES
    bands = None

    def __init__(self, scale: int, budget_s: float = 60.0, steps: int | None = None, seed: int = 0,
                 degradation: str = "bicubic", feats: int = 32, layers: int = 6, lr: float = 1e-3,
                 batch: int = 8, crop: int = 32, noise: float = 0.0) -> None:
        if degradation not in DEGRADATIONS:
            raise OptionError(f"{self.name}: unknown degradation {degradation!r}; use {' or '.join(DEGRADATIONS)}")
        if budget_s < 0 or (steps is not None and steps < 1) or (not budget_s and steps is None):
            raise OptionError(f"{self.name}: give a positive budget_s (seconds) and/or steps (optimiser steps), "
                              "e.g. --set budget_s=60")
        if feats < 1 or batch < 1 or crop < 4 or lr <= 0:
            raise OptionError(f"{self.name}: feats and batch must be at least 1, crop at least 4, lr positive")
        self.scale = int(scale)
        self.scales = (self.scale,)
        self.budget_s, self.steps, self.seed = float(budget_s), steps, int(seed)
        self.degradation = degradation
        self.feats, self.layers, self.lr, self.batch, self.crop = feats, layers, lr, batch, crop
        self.noise = float(noise)  # zssr: std of the noise added to its training inputs (normalised units)
        # the network's own factor and how many times it runs (zssr does x4 as x2 twice)
        self.stage, self.stages = self.stage_plan(self.scale)
        reach = layers + 3  # one LR px per 3x3 convolution, plus the bicubic path
        self.margin = reach + (reach + 1) // 2 if self.stages == 2 else reach
        self.fitted: Fitted | None = None

    def stage_plan(self, scale: int) -> tuple[int, int]:
        """(factor the network learns, times it is applied): one step unless a method says otherwise."""
        return scale, 1

    def describe(self) -> str:
        budget = " and ".join(([f"{self.budget_s:g} s"] if self.budget_s else [])
                              + ([f"{self.steps} steps"] if self.steps else []))
        return f"{self.name} x{self.scale} ({budget}, {self.degradation} degradation, seed {self.seed})"

    # ------------------------------------------------------------------ the two methods differ here

    def sources(self, z: torch.Tensor, valid: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """What training crops are cut from: the normalised bands ``(C, h, w)`` and their validity."""
        return [(z, valid)]

    def draw(self, sources: list[tuple[torch.Tensor, torch.Tensor]], gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        """One training batch ``(input, target, weight)`` cut from ``sources``."""
        raise NotImplementedError

    def loss(self, net: ZeroShotNet, inp: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # ------------------------------------------------------------------ shared

    def fit(self, x: np.ndarray | None, valid: np.ndarray | None = None,
            progress: FitProgress | None = None) -> None:
        """Train on ``x`` (a sample of the scene, data units, invalid pixels filled); None forgets."""
        self.fitted = None if x is None else self._train(np.asarray(to_numpy(x)), valid, progress)

    def _train(self, x: np.ndarray, valid: np.ndarray | None, progress: FitProgress | None) -> Fitted:
        if x.ndim != 3:
            raise ValueError(f"expected (bands, h, w), got shape {x.shape}")
        ok = np.ones(x.shape, bool) if valid is None else np.asarray(valid, bool)
        if not ok.any():
            raise OptionError(f"{self.name}: the input has no valid pixel to learn from")
        mean, std = band_stats(x, ok)
        z = torch.from_numpy(((x - mean[:, None, None]) / std[:, None, None]).astype(np.float32))
        v = torch.from_numpy(ok)
        gen = torch.Generator().manual_seed(self.seed)
        t0 = time.perf_counter()
        nets, steps = [], 0
        for stage in range(self.stages):  # each stage learns from the previous one's output (its budget share)
            if stage:
                with torch.inference_mode():
                    z = nets[-1](z[:, None])[:, 0]
                v = v.repeat_interleave(self.stage, -2).repeat_interleave(self.stage, -1)

            def report(done: float, stage: int = stage) -> None:
                if progress is not None:
                    progress(min((stage + min(done, 1.0)) / self.stages, 1.0))

            net, n = self._train_net(z.contiguous(), v, gen, stage, report)
            nets.append(net)
            steps += n
        return Fitted(nets, mean, std, steps, time.perf_counter() - t0)

    def _train_net(self, z: torch.Tensor, v: torch.Tensor, gen: torch.Generator, stage: int,
                   report: FitProgress) -> tuple[ZeroShotNet, int]:
        """One network trained on normalised bands ``z`` for its share of the budget; (net, steps)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + stage)
            net = ZeroShotNet(self.stage, self.feats, self.layers)
        opt = torch.optim.Adam(net.parameters(), lr=self.lr)
        sources = self.sources(z, v)
        t0 = time.perf_counter()
        step = 0
        net.train()
        while True:
            done = self._done(step, time.perf_counter() - t0)
            report(done)
            if done >= 1.0:
                break
            for group in opt.param_groups:  # cosine decay over the budget, to 1% of the start
                group["lr"] = self.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * done)))
            inp, target, weight = self.draw(sources, gen)
            if weight.sum() > 0:
                opt.zero_grad(set_to_none=True)
                self.loss(net, inp, target, weight).backward()
                opt.step()
            step += 1
        return net.eval(), step

    def _done(self, step: int, seconds: float) -> float:
        """Share of one network's budget used (the budget split over the stages): the larger of the step
        and time shares."""
        by_steps = step * self.stages / self.steps if self.steps else 0.0
        by_time = seconds * self.stages / self.budget_s if self.budget_s else 0.0
        return max(by_steps, by_time)

    def call_masked(self, x: np.ndarray, valid: np.ndarray | None) -> Array:
        """The fitted network(s) on ``x``; without a prior ``fit``, trained on ``x`` itself."""
        arr = np.asarray(to_numpy(x))
        fitted = self.fitted or self._train(arr, valid, None)
        if arr.ndim != 3 or arr.shape[0] != fitted.mean.size:
            raise ValueError(f"{self.name} was fitted on {fitted.mean.size} band(s), got shape {arr.shape}")
        z = (arr - fitted.mean[:, None, None]) / fitted.std[:, None, None]
        with torch.inference_mode():
            t = torch.from_numpy(z.astype(np.float32))[:, None]
            for net in fitted.nets:
                t = torch.cat([net(chunk) for chunk in t.split(16)])
            y = t[:, 0].numpy()
        out = y.astype(np.float64) * fitted.std[:, None, None] + fitted.mean[:, None, None]
        return out.astype(np.float64 if arr.dtype == np.float64 else np.float32)

    def __call__(self, x: Array) -> Array:
        return self.call_masked(np.asarray(to_numpy(x)), None)

    def random_crop(self, sources: list[tuple[torch.Tensor, torch.Tensor]], size: int,
                    gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A ``size`` x ``size`` crop of one band of one source (chosen in proportion to its area; mostly
        valid when possible), randomly flipped/rotated."""
        area = torch.tensor([float(src.shape[-1] * src.shape[-2]) for src, _ in sources])
        for _ in range(8):  # prefer crops with some valid pixels (masked scenes)
            z, valid = sources[int(torch.multinomial(area, 1, generator=gen))]
            c, h, w = z.shape
            size = min(size, h, w)
            b = int(torch.randint(c, (1,), generator=gen))
            y0 = int(torch.randint(h - size + 1, (1,), generator=gen))
            x0 = int(torch.randint(w - size + 1, (1,), generator=gen))
            k = int(torch.randint(8, (1,), generator=gen))
            cv = valid[b, y0:y0 + size, x0:x0 + size]
            if cv.float().mean() >= 0.5:
                break
        return dihedral(z[b, y0:y0 + size, x0:x0 + size], k), dihedral(cv, k)


def band_stats(x: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and standard deviation of the valid pixels (deviation floored so flat bands work)."""
    mean, std = np.zeros(x.shape[0]), np.ones(x.shape[0])
    for b in range(x.shape[0]):
        v = x[b][valid[b]].astype(np.float64)
        if v.size:
            mean[b] = v.mean()
            std[b] = max(float(v.std()), 1e-3 * abs(mean[b]), 1e-6)
    return mean, std


class ZSSR(ZeroShotUpscaler):
    """ZSSR (module docstring): learns crop -> its own downscaled copy, L1 on valid target pixels."""

    name = "zssr"

    def stage_plan(self, scale: int) -> tuple[int, int]:
        """x4 gradually, as the paper does for large factors: a x2 network learns from the input (its training
        pairs are 4 times larger than x4 ones could be, which matters on small inputs), then a second one
        from the first one's output, each for half the budget."""
        return (2, 2) if scale == 4 else (scale, 1)

    def sources(self, z: torch.Tensor, valid: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The bands and, as in the paper, copies downscaled by 0.9 ... 0.5: more (and more varied) examples
        of how the scene's structures look one scale down. A downscaled pixel is valid when everything it
        was made from was."""
        levels = [(z, valid)]
        h, w = z.shape[-2:]
        for f in (0.9, 0.8, 0.7, 0.6, 0.5):
            oh, ow = round(h * f), round(w * f)
            if min(oh, ow) < min(self.crop, h, w):
                break
            small = imresize(z, (oh, ow))
            ok = imresize(valid.float(), (oh, ow), kernel="bilinear") > 1 - 1e-6
            levels.append((small.contiguous(), ok))
        return levels

    def draw(self, sources: list[tuple[torch.Tensor, torch.Tensor]], gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        s = self.stage
        fathers, weights = [], []
        h, w = sources[0][0].shape[-2:]
        size = min(self.crop, h, w) // s * s  # small crops: many, so it generalises
        if size < s:
            raise OptionError(f"zssr: the input ({w}x{h} px) is too small to learn x{s} from")
        for _ in range(self.batch):
            father, fv = self.random_crop(sources, size, gen)
            fathers.append(father)
            weights.append(fv)
        hr = torch.stack(fathers)[:, None].contiguous()
        sons = degrade_tensor(hr, s, self.degradation)
        if self.noise > 0:  # as in the paper: robust to noisy inputs, and to its own first pass at x4
            sons = sons + self.noise * torch.randn(sons.shape, generator=gen)
        return sons, hr, torch.stack(weights)[:, None].float()

    def loss(self, net: ZeroShotNet, inp: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return ((net(inp) - target).abs() * weight).sum() / weight.sum()


class DIP(ZeroShotUpscaler):
    """Deep image prior (module docstring): degrade(net(crop)) == crop, L2 on valid pixels."""

    name = "dip"
    edge = 2  # LR px at a crop's edge left out of the loss (the degradation reads outside the crop there)

    def draw(self, sources: list[tuple[torch.Tensor, torch.Tensor]], gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        crops, weights = [], []
        for _ in range(self.batch):
            crop, cv = self.random_crop(sources, self.crop, gen)
            crops.append(crop)
            w = cv.float().clone()
            e = min(self.edge, (w.shape[-1] - 1) // 2)
            if e:
                w[:e], w[-e:], w[:, :e], w[:, -e:] = 0, 0, 0, 0
            weights.append(w)
        lr = torch.stack(crops)[:, None].contiguous()
        return lr, lr, torch.stack(weights)[:, None]

    def loss(self, net: ZeroShotNet, inp: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        back = degrade_tensor(net(inp), self.scale, self.degradation)
        return (F.mse_loss(back, target, reduction="none") * weight).sum() / weight.sum()


def _factory(cls: type[ZeroShotUpscaler], default_budget: float, default_noise: float) -> Any:
    def build(scale: int, budget_s: float = default_budget, steps: int | None = None, seed: int = 0,
              degradation: str = "bicubic", feats: int = 32, layers: int = 6, lr: float = 1e-3, batch: int = 8,
              crop: int = 32, noise: float = default_noise) -> ZeroShotUpscaler:
        return cls(scale, budget_s=budget_s, steps=steps, seed=seed, degradation=degradation, feats=feats,
                   layers=layers, lr=lr, batch=batch, crop=crop, noise=noise)

    return build


register("zssr", kind="sisr", neural=False, scales=SCALES, margin=9,
         description="zero-shot SR: a small CNN trained at run time on the input and its own downscaled copy "
                     "(--set budget_s=60, steps, seed, degradation=bicubic|wald)",
         paper="Shocher et al. 2018, Zero-Shot Super-Resolution using Deep Internal Learning",
         )(_factory(ZSSR, 60.0, 0.05))
register("dip", kind="sisr", neural=False, scales=SCALES, margin=9,
         description="deep image prior: a CNN fitted so that its output, degraded, equals the input "
                     "(--set budget_s=120, steps, seed, degradation=bicubic|wald)",
         paper="Ulyanov et al. 2018, Deep Image Prior")(_factory(DIP, 120.0, 0.0))
