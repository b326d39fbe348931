"""Pieces every training task shares: losses, LR schedule, weight init/export helpers."""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


def pixel_loss(kind: str, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if kind == "l1":
        return F.l1_loss(pred, target)
    if kind == "l2":
        return F.mse_loss(pred, target)
    if kind == "charbonnier":
        return torch.sqrt((pred - target) ** 2 + 1e-6).mean()
    raise ValueError(f"unknown loss {kind!r}")


def warmup_cosine(step: int, warmup: int, total: int, lr: float, lr_min: float) -> float:
    """Multiplier of the base LR at ``step``: linear warm-up, then cosine decay to ``lr_min``."""
    if step < warmup:
        return (step + 1) / max(warmup, 1)
    t = min(1.0, (step - warmup) / max(total - warmup, 1))
    return (lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * t))) / lr


def load_matching(net: nn.Module, path: str | Path) -> tuple[list[str], list[str]]:
    """Initialise ``net`` from a ``.safetensors`` or Lightning ``.ckpt``, keeping only tensors whose
    name and shape match (e.g. an x4 EDSR from an x2 one: everything but the upsampler tail).

    Returns (loaded, skipped) parameter names.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        state = {k.removeprefix("net."): v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    own = net.state_dict()
    loaded, skipped = [], []
    for k, v in state.items():
        if k in own and own[k].shape == v.shape:
            own[k] = v
            loaded.append(k)
        else:
            skipped.append(k)
    net.load_state_dict(own)
    return loaded, skipped


def export_state(net: nn.Module) -> dict[str, torch.Tensor]:
    """Contiguous fp32 CPU tensors (safetensors needs contiguous storage; channels_last is not)."""
    return {k: v.detach().float().cpu().contiguous() for k, v in net.state_dict().items()}
