"""What the evaluation protocols share: running a single-image model as the benchmarks do."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from satsr.models import registry
from satsr.models.base import SingleImageModel

Progress = Callable[[str], None] | None


def super_resolve(upscaler: SingleImageModel, lr: np.ndarray, eight_bit: bool) -> np.ndarray:
    """The model's output in data units (float64); 8-bit data: clipped and rounded as saved images are.
    A model that learns from its input (``fit``: zero-shot models) is fitted on ``lr`` first, as
    ``satsr upscale`` fits it on the scene."""
    upscaler.fit(lr, None)
    arr = upscaler.apply(lr, None, np.float64)
    if eight_bit:
        arr = np.clip(np.round(arr), 0, 255)
    return arr


def sisr_upscaler(m: str | Any, scale: int, bands: int | None, device: str,
                  options: dict[str, Any] | None = None) -> tuple[str, SingleImageModel]:
    """(label, model) for a registry name or a ready single-image model; other kinds are a user error.

    ``bands`` lets a band-specific model refuse a wrong band count up front. ``NAME@WEIGHTS.safetensors``
    builds the model from those weights (e.g. a fine-tuned copy beside the shipped one), labelled
    ``NAME@<weights stem>``. ``options`` go to the model's constructor (``--set KEY=VALUE``).
    """
    opts = options or {}
    if isinstance(m, str) and "@" in m:
        name, _, weights = m.partition("@")
        model = registry.resolve(name, scale, kind="sisr", bands=bands, device=device, weights=weights, **opts)
        return f"{name}@{Path(weights).stem}", model
    model = registry.resolve(m, scale, kind="sisr", bands=bands, device=device, **opts)
    return (m if isinstance(m, str) else model.name), model
