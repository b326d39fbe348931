"""Leaf helpers every room may import: numpy <-> torch conversion for model inputs and outputs."""

from __future__ import annotations

import numpy as np
import torch

Array = np.ndarray | torch.Tensor


def to_tensor(x: Array, device: torch.device | str | None = None) -> torch.Tensor:
    """numpy or torch -> float32 torch tensor (no copy when already one)."""
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))
    if t.dtype != torch.float32:
        t = t.float()
    if device is not None:
        t = t.to(device)
    return t


def like_input(y: torch.Tensor, x: Array, keep_float64: bool = False) -> Array:
    """Return ``y`` as the same array type as ``x``: numpy in -> float32 numpy out (float64 for float64
    input with ``keep_float64``, as the numerical kernels do so 32-bit pixels stay exact)."""
    if isinstance(x, torch.Tensor):
        return y
    keep = keep_float64 and x.dtype == np.float64
    return y.detach().cpu().numpy().astype(np.float64 if keep else np.float32, copy=False)


def as_float64(x: Array) -> torch.Tensor:
    """A float64 tensor of ``x`` without passing through float32 (regressions want the precision)."""
    if isinstance(x, torch.Tensor):
        return x.double()
    return torch.from_numpy(np.asarray(x, dtype=np.float64))


def to_numpy(x: Array) -> np.ndarray:
    """A torch tensor or array-like as a numpy array (detached, on the CPU)."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)
