"""What the evaluation protocols share: running a single-image model as the benchmarks do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from satsr.models import registry
from satsr.models.base import SingleImageModel

Progress = Callable[[str], None] | None


def super_resolve(upscaler: SingleImageModel, lr: np.ndarray, eight_bit: bool) -> np.ndarray:
    """The model's output in data units (float64); 8-bit data: clipped and rounded as saved images are."""
    arr = upscaler.apply(lr, None, np.float64)
    if eight_bit:
        arr = np.clip(np.round(arr), 0, 255)
    return arr


def sisr_upscaler(m: str | Any, scale: int, bands: int | None, device: str) -> tuple[str, SingleImageModel]:
    """(label, model) for a registry name or a ready single-image model; other kinds are a user error.

    ``bands`` lets a band-specific model refuse a wrong band count up front.
    """
    model = registry.resolve(m, scale, kind="sisr", bands=bands, device=device)
    return (m if isinstance(m, str) else model.name), model
