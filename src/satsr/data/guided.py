"""Training data for guided models: aligned fields (guide, target, low-res input) and random patches.

``satsr.train.guided`` cuts a scene into ``GuidedField``s by the Wald protocol; ``GuidedPatches`` draws
aligned patches from them with flips and rotations, reproducibly from ``(seed, epoch, index)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from satsr.data.patches import dihedral
from satsr.data.sampling import SeededDraws


@dataclass
class GuidedField:
    """One training (or validation) area: guide and targets on the target grid, plus the input."""

    guide: torch.Tensor  # (g, H, W)
    target: torch.Tensor  # (c, H, W)
    lowres: torch.Tensor  # (c, H / r, W / r)
    names: list[str]
    weight: float = 1.0
    base: torch.Tensor | None = None  # (c, H, W) precomputed HPI of the whole field, for base="hpi" nets


def set_weights(fields: list[GuidedField], main: set[str], extra_weight: float) -> None:
    """Sampling weights: by area x bands within main/extra, extras getting ``extra_weight`` overall."""
    def mass(f: GuidedField) -> float:
        return float(f.target.shape[-2] * f.target.shape[-1] * f.target.shape[0])

    is_main = [all(n in main for n in f.names) for f in fields]
    m_total = sum(mass(f) for f, m in zip(fields, is_main, strict=True) if m)
    e_total = sum(mass(f) for f, m in zip(fields, is_main, strict=True) if not m)
    share_extra = extra_weight if e_total > 0 else 0.0
    for f, m in zip(fields, is_main, strict=True):
        f.weight = (1 - share_extra) * mass(f) / m_total if m else share_extra * mass(f) / e_total


class GuidedPatches(SeededDraws):
    """Random aligned patches (guide, low-res input, target) with flips and 90-degree rotations.

    Reproducible from (seed, epoch, index). Per-band mode returns one random target band a sample.
    """

    def __init__(self, fields: list[GuidedField], patch: int, ratio: int, length: int, seed: int = 0,
                 per_band: bool = False, max_zero_fraction: float = 0.05) -> None:
        usable = [f for f in fields if min(f.lowres.shape[-2:]) >= patch]
        if not usable:
            raise ValueError("no training field is as large as one patch")
        super().__init__(length, seed)
        self.fields = usable
        self.patch, self.ratio = patch, ratio
        self.per_band = per_band
        self.max_zero_fraction = max_zero_fraction
        w = np.array([f.weight for f in usable], np.float64)
        self.probs = w / w.sum()

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = self.rng(index)
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
        return dihedral(item, rng)


class FieldImages(Dataset):
    """Whole validation fields, one per item."""

    def __init__(self, fields: list[GuidedField]) -> None:
        self.fields = fields

    def __len__(self) -> int:
        return len(self.fields)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        f = self.fields[index]
        return {"guide": f.guide, "target": f.target, "lowres": f.lowres}
