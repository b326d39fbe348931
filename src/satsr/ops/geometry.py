"""The 8 flips/rotations of an image (the dihedral group), for numpy arrays and torch tensors alike:
test-time augmentation (``satsr.trust.maps``) and the augmentation of self-supervised training pairs
(``satsr.models.rfsr``, ``satsr.models.zeroshot``)."""

from __future__ import annotations

import numpy as np
import torch

from satsr.arrays import Array


def dihedral(x: Array, k: int) -> Array:
    """The ``k``-th of the 8 flips/rotations of ``(..., h, w)``: ``k % 4`` quarter turns, then a
    left-right flip when ``k >= 4``."""
    if isinstance(x, torch.Tensor):
        y = torch.rot90(x, k % 4, dims=(-2, -1))
        return torch.flip(y, (-1,)) if k >= 4 else y
    y = np.rot90(x, k % 4, axes=(-2, -1))
    return np.flip(y, -1) if k >= 4 else y


def undo_dihedral(y: Array, k: int) -> Array:
    """Inverse of ``dihedral(., k)``."""
    if isinstance(y, torch.Tensor):
        if k >= 4:
            y = torch.flip(y, (-1,))
        return torch.rot90(y, -(k % 4), dims=(-2, -1))
    if k >= 4:
        y = np.flip(y, -1)
    return np.rot90(y, -(k % 4), axes=(-2, -1))
