"""HR image collections held in memory, and random-patch datasets for training.

Training a small SR model on a 2-core CPU is dominated by convolution time only if the data path is
cheap, so HR images are decoded once into float32 arrays and patches are cut from memory (reading
windows from disk each step costs ~40% of a small model's step).
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from satsr.data.sampling import SeededDraws
from satsr.io.image import IMAGE_SUFFIXES, read_image


def expand_paths(patterns: Sequence[str | Path], base: Path | None = None) -> list[Path]:
    """Expand globs (``**`` allowed) and folders into a sorted, de-duplicated list of image files."""
    out: list[Path] = []
    for pat in patterns:
        p = Path(pat)
        if base is not None and not p.is_absolute():
            p = base / p
        if p.is_dir():
            hits = [q for q in p.rglob("*") if q.suffix.lower() in IMAGE_SUFFIXES]
        else:
            hits = [Path(h) for h in glob.glob(str(p), recursive=True)]
        out.extend(h for h in hits if h.is_file())
    return sorted(set(out))


def load_images(
    paths: Sequence[Path],
    value_scale: float,
    bands: Sequence[int] | None = None,
    per_band: bool = False,
    min_size: int = 0,
) -> list[np.ndarray]:
    """Decode every file once (``satsr.io.image.read_image``); divide by ``value_scale``; optionally split
    bands into 1-band images.

    Images smaller than ``min_size`` on either side are dropped (they cannot give a patch).
    """
    images: list[np.ndarray] = []
    for p in paths:
        arr = read_image(p, bands) / np.float32(value_scale)
        parts = [a[None] for a in arr] if per_band else [arr]
        images.extend(a for a in parts if min(a.shape[-2:]) >= min_size)
    return images


class RandomPatches(SeededDraws):
    """Random HR patches with flips and 90-degree rotations, reproducible from (seed, index).

    ``length`` is a virtual epoch size; Lightning stops on ``max_steps`` anyway. Patches whose
    fraction of exact zeros exceeds ``max_zero_fraction`` (scene borders, fill) are re-drawn.
    """

    def __init__(self, images: Sequence[np.ndarray], patch: int, length: int, seed: int = 0,
                 augment: bool = True, max_zero_fraction: float = 0.05) -> None:
        if not images:
            raise ValueError("no training images")
        super().__init__(length, seed)
        self.images = [torch.from_numpy(np.ascontiguousarray(im)) for im in images]
        self.patch = patch
        self.augment = augment
        self.max_zero_fraction = max_zero_fraction
        # sample images proportionally to their usable area, so big scenes are not under-used
        areas = np.array([max(im.shape[-2] - patch + 1, 1) * max(im.shape[-1] - patch + 1, 1) for im in images],
                         np.float64)
        self.probs = areas / areas.sum()

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = self.rng(index)
        for _ in range(20):
            k = int(rng.choice(len(self.images), p=self.probs))
            im = self.images[k]
            h, w = im.shape[-2:]
            y = int(rng.integers(0, h - self.patch + 1))
            x = int(rng.integers(0, w - self.patch + 1))
            crop = im[:, y : y + self.patch, x : x + self.patch]
            if (crop == 0).float().mean() <= self.max_zero_fraction:
                break
        if self.augment:
            if rng.random() < 0.5:
                crop = crop.flip(-1)
            if rng.random() < 0.5:
                crop = crop.flip(-2)
            crop = torch.rot90(crop, int(rng.integers(0, 4)), dims=(-2, -1))
        return crop.contiguous()


class FullImages(Dataset):
    """Whole images (cropped to a multiple of ``scale``) for validation."""

    def __init__(self, images: Sequence[np.ndarray], scale: int, max_side: int = 512) -> None:
        self.items = []
        for im in images:
            h, w = (min(s, max_side) for s in im.shape[-2:])
            h, w = h - h % scale, w - w % scale
            self.items.append(torch.from_numpy(np.ascontiguousarray(im[:, :h, :w])))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.items[index]
