"""Semi-real multi-image training pairs from real revisit stacks that have no HR image.

The simulator (``satsr.data.revisits.simulate_revisits``) gets the optics right by construction but not the
way real surfaces change between revisits: on real PROBA-V stacks the deep fusers lose to the
baseline because they trust frames that show another state of the ground. Real LR-only stacks carry
exactly that missing information. One frame of such a stack plays the high-resolution target (at
its own 300 m pixel size) and the *other* real frames, seen once more through the sensor model
(box footprint + Gaussian, x3 decimation, noise), are the inputs. Texture, temporal change, clouds
and quality-map misses are all real; only the last reduction is simulated. The fuser learns to
predict one real date from the others, which is what the challenge's HR image asks of it.

Only stacks WITHOUT ``HR.png`` are accepted (the scenes that can be scored are evaluation data).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import binary_erosion

from satsr.data.revisits import RevisitParams, psf_margin, sample_frames, uniform
from satsr.errors import InputError
from satsr.io.probav import read_imgset


@dataclass
class RealStack:
    """One real LR-only stack: frames ``(T, h, w)`` in DN, clear masks ``(T, h, w)``, and the frames
    allowed to act as targets (mostly clear, not an outlier against the stack's median)."""

    name: str
    lr: torch.Tensor
    qm: torch.Tensor
    targets: np.ndarray


def target_frames(lr: np.ndarray, qm: np.ndarray, min_clear: float = 0.95, max_z: float = 2.5) -> np.ndarray:
    """Indices of frames fit to be a target: at least ``min_clear`` clear, and a distance to the
    stack's median (after a gain/offset fit) not far above the others' (robust z-score), which drops
    frames with unflagged clouds or haze when a stack has no quality maps."""
    med = np.median(lr, 0)
    dist = []
    for f, m in zip(lr, qm, strict=True):
        sel = m & np.isfinite(f)
        if sel.sum() < 16:
            dist.append(np.inf)
            continue
        a = np.vstack([f[sel], np.ones(sel.sum())]).T
        coef, *_ = np.linalg.lstsq(a, med[sel], rcond=None)
        dist.append(float(np.mean((a @ coef - med[sel]) ** 2)))
    d = np.asarray(dist)
    fin = np.isfinite(d)
    centre = np.median(d[fin])
    spread = 1.4826 * np.median(np.abs(d[fin] - centre)) + 1e-9
    clear = qm.reshape(len(qm), -1).mean(1) >= min_clear
    return np.flatnonzero(clear & fin & ((d - centre) / spread <= max_z))


def load_real_stacks(paths: list[Path]) -> list[RealStack]:
    """Read LR-only imgset folders; an imgset with ``HR.png`` is refused (it is evaluation data)."""
    stacks = []
    for p in paths:
        if (Path(p) / "HR.png").exists():
            raise InputError(f"{p}: has HR.png, so it can be scored; real training stacks must be LR-only scenes")
        s = read_imgset(p)
        valid = s.lr < RevisitParams.fill_value  # PROBA-V no-data
        qm = s.qm & valid
        tg = target_frames(s.lr, qm)
        if len(s.lr) < 3 or len(tg) == 0:
            continue
        stacks.append(RealStack(str(p), torch.from_numpy(s.lr.astype(np.float32)), torch.from_numpy(qm), tg))
    if not stacks:
        raise InputError("misr training: no usable real stacks (need LR-only imgsets with >= 3 frames)")
    return stacks


def semireal_item(stack: RealStack, patch: int, scale: int, params: RevisitParams, n_frames: int,
                  rng: np.random.Generator, noise: tuple[float, float] = (5.0, 30.0),
                  include_target: bool = False) -> dict[str, torch.Tensor]:
    """One training stack: a real frame's ``patch x patch`` crop as HR (its QM as the status mask) and
    up to ``n_frames`` other real frames reduced ``scale`` times through the sensor model as inputs
    (clearest first; missing frames are padded as fully cloudy). Values in DN.

    ``include_target`` adds the target frame's own reduction (with its own PSF and noise draw) to the
    inputs, ordered by clearance like the rest: a challenge stack may hold a frame of the HR's date,
    and the network should then sharpen it rather than average it away."""
    m = psf_margin(params, scale)
    side = patch + 2 * m
    t, h, w = stack.lr.shape
    if min(h, w) < side:
        raise ValueError(f"{stack.name}: frames {h}x{w} are too small for a {patch}-px patch with margin {m}")
    k = int(rng.choice(stack.targets))
    y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    win = (slice(y0, y0 + side), slice(x0, x0 + side))
    others = [i for i in range(t) if include_target or i != k]
    lr_hr = stack.lr[others][:, win[0], win[1]]
    qm_hr = stack.qm[others][:, win[0], win[1]]
    # rotate/flip the whole scene so that both directions of real change are seen
    rot, flip = int(rng.integers(0, 4)), bool(rng.random() < 0.5)

    def aug(x: torch.Tensor) -> torch.Tensor:
        x = torch.rot90(x, rot, (-2, -1))
        return x.flip(-1) if flip else x

    lr_hr, qm_hr = aug(lr_hr), aug(qm_hr)
    hr = aug(stack.lr[k][win[0], win[1]])[m : m + patch, m : m + patch]
    sm = aug(stack.qm[k][win[0], win[1]])[m : m + patch, m : m + patch]
    # each other frame through the sensor model: no extra shift (the real frames already differ by
    # real sub-pixel offsets), its own PSF width, then noise
    n = len(others)
    base_sigma = uniform(rng, params.psf_sigma)
    sigmas = base_sigma * (1 + params.psf_jitter * rng.uniform(-1, 1, n))
    # cloudy pixels would be smeared by the PSF: fill them with the median of the clear ones first and
    # mark every low-res pixel whose footprint touches one as not clear
    fill = torch.where(qm_hr, lr_hr, torch.nan).nanmedian(0).values
    fill = torch.nan_to_num(fill, nan=float(lr_hr.float().median()))
    frames = torch.where(qm_hr, lr_hr, fill.expand_as(lr_hr))
    lr = torch.cat([sample_frames(frames[i : i + 1], np.zeros((1, 2)), sigmas[i : i + 1], scale, params.psf_box, m)
                    for i in range(n)])[:, 0].double()
    sd = uniform(rng, noise)
    lr = (lr + sd * torch.from_numpy(rng.standard_normal(lr.shape))).clamp(0, params.max_value).round().float()
    reach = max(1, int(round(params.psf_box / 2 + base_sigma)))
    c = scale // 2
    qm = []
    for q in qm_hr.numpy():
        eroded = binary_erosion(q, iterations=reach, border_value=1)
        qm.append(eroded[m + c : m + patch : scale, m + c : m + patch : scale])
    qm_t = torch.from_numpy(np.stack(qm))
    order = torch.argsort(-qm_t.flatten(1).float().sum(1), stable=True)[:n_frames]
    lr, qm_t = lr[order], qm_t[order]
    if len(lr) < n_frames:  # pad: fully cloudy copies of the clearest frame
        pad = n_frames - len(lr)
        lr = torch.cat([lr, lr[:1].expand(pad, -1, -1)], 0)
        qm_t = torch.cat([qm_t, torch.zeros(pad, *qm_t.shape[1:], dtype=torch.bool)], 0)
    return {"lr": lr[:, None], "qm": qm_t, "hr": hr[None].float(), "sm": sm}
