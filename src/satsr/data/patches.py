"""Training draws from real dataset samples (``satsr.data.base``): aligned LR/HR patches of real pairs
(``PairedPatches``), whole pairs for validation (``FullPairs``) and crops of real revisit stacks
(``StackCrops``), each reproducible from ``(seed, epoch, index)`` like the other ``SeededDraws``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from satsr.data.sampling import SeededDraws


def dihedral(tensors: dict[str, torch.Tensor], rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """The same random flips (left-right, up-down) and 90-degree rotation applied to every tensor (over
    the last two axes): the augmentation of aligned training samples."""
    flip_x, flip_y, rot = rng.random() < 0.5, rng.random() < 0.5, int(rng.integers(0, 4))
    out = {}
    for key, t in tensors.items():
        if flip_x:
            t = t.flip(-1)
        if flip_y:
            t = t.flip(-2)
        out[key] = torch.rot90(t, rot, dims=(-2, -1)).contiguous()
    return out


def _area_probs(sizes: Sequence[tuple[int, int]], patch: int) -> np.ndarray:
    areas = np.array([max(h - patch + 1, 1) * max(w - patch + 1, 1) for h, w in sizes], np.float64)
    return areas / areas.sum()


class PairedPatches(SeededDraws):
    """Random aligned patches ``{"lr": (C, p, p), "hr": (C, p*s, p*s)}`` of real pairs (normalised
    arrays held in memory), images drawn by usable area, with flips and rotations."""

    def __init__(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]], patch: int, scale: int, length: int,
                 seed: int = 0, augment: bool = True) -> None:
        usable = [(lr, hr) for lr, hr in pairs if min(lr.shape[-2:]) >= patch]
        if not usable:
            raise ValueError(f"no training pair is as large as one {patch}-px LR patch")
        super().__init__(length, seed)
        self.pairs = [(torch.from_numpy(np.ascontiguousarray(lr)), torch.from_numpy(np.ascontiguousarray(hr)))
                      for lr, hr in usable]
        self.patch, self.scale, self.augment = patch, scale, augment
        self.probs = _area_probs([lr.shape[-2:] for lr, _ in usable], patch)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = self.rng(index)
        lr, hr = self.pairs[int(rng.choice(len(self.pairs), p=self.probs))]
        p, s = self.patch, self.scale
        y, x = int(rng.integers(0, lr.shape[-2] - p + 1)), int(rng.integers(0, lr.shape[-1] - p + 1))
        item = {"lr": lr[:, y:y + p, x:x + p], "hr": hr[:, y * s:(y + p) * s, x * s:(x + p) * s]}
        return dihedral(item, rng) if self.augment else item


class FullPairs(Dataset):
    """Whole validation pairs (LR side cropped to ``max_side`` px), one per item."""

    def __init__(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]], scale: int, max_side: int = 128) -> None:
        self.items = []
        for lr, hr in pairs:
            h, w = (min(n, max_side) for n in lr.shape[-2:])
            self.items.append({"lr": torch.from_numpy(np.ascontiguousarray(lr[:, :h, :w])),
                               "hr": torch.from_numpy(np.ascontiguousarray(hr[:, :h * scale, :w * scale]))})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.items[index]


class StackCrops(SeededDraws):
    """Random aligned crops of real revisit stacks for multi-image training.

    ``stacks`` are ``satsr.data`` stack samples (``lr`` ``(T, C, h, w)``, ``qm``, ``hr``, ``sm``, in file
    units, frames clearest first). A crop of ``patch`` LR px keeps the ``k`` clearest frames (``k``
    drawn per batch from ``frames``, so the default collate works; missing frames are fully cloudy
    copies), divided by ``lr_scale`` (frames) and ``hr_scale`` (HR), with flips and rotations.
    """

    def __init__(self, stacks: Sequence[dict[str, Any]], patch: int, scale: int, frames: Sequence[int],
                 batch: int, length: int, seed: int = 0, lr_scale: float = 1.0, hr_scale: float = 1.0,
                 augment: bool = True) -> None:
        usable = [s for s in stacks if "hr" in s and min(s["lr"].shape[-2:]) >= patch]
        if not usable:
            raise ValueError(f"no stack with HR is as large as one {patch}-px patch")
        super().__init__(length, seed)
        self.stacks = [{k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in s.items() if k != "name"}
                       for s in usable]
        self.patch, self.scale, self.frames, self.batch = patch, scale, tuple(frames), batch
        self.lr_scale, self.hr_scale, self.augment = lr_scale, hr_scale, augment
        self.probs = _area_probs([s["lr"].shape[-2:] for s in usable], patch)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = self.rng(index)
        k = int(self.rng(index // self.batch, 7).integers(self.frames[0], self.frames[1] + 1))
        st = self.stacks[int(rng.choice(len(self.stacks), p=self.probs))]
        p, s = self.patch, self.scale
        h, w = st["lr"].shape[-2:]
        y, x = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
        lr, qm = st["lr"][:k, :, y:y + p, x:x + p].float(), st["qm"][:k, y:y + p, x:x + p]
        if len(lr) < k:  # pad with fully cloudy copies of the clearest frame
            lr = torch.cat([lr, lr[:1].expand(k - len(lr), -1, -1, -1)])
            qm = torch.cat([qm, torch.zeros(k - len(qm), p, p, dtype=torch.bool)])
        item = {"lr": lr / self.lr_scale, "qm": qm, "hr": st["hr"][:, y * s:(y + p) * s, x * s:(x + p) * s].float()
                / self.hr_scale, "sm": st["sm"][y * s:(y + p) * s, x * s:(x + p) * s]}
        return dihedral(item, rng) if self.augment else item
