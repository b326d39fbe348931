"""The two model contracts and the model card.

* ``Upscaler`` (single image): ``(bands, h, w)`` float -> ``(bands, h*scale, w*scale)``.
* ``Fuser`` (multi image): frames ``(T, bands, h, w)`` + clear masks ``(T, h, w)`` -> ``(bands, H, W)``
  and optionally a per-pixel uncertainty ``(bands, H, W)``.
* ``GuidedUpscaler``: high-res guide ``(g, H, W)`` + low-res bands ``(c, h, w)`` -> ``(c, H, W)``.

Values reaching a model are already normalised (``ModelCard.value_scale``); models never see files,
nodata or dtypes. Classical methods and neural networks implement the same contracts, so tiling,
evaluation and figures never care which one runs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

Array = np.ndarray | torch.Tensor


@dataclass
class ModelCard:
    """What a set of weights is, how it was made and where it is valid.

    Stored as JSON beside the ``.safetensors`` file with the same stem.
    """

    id: str  # weights id, e.g. "edsr_x4"
    model: str  # registry name of the architecture, e.g. "edsr"
    scale: int
    bands: int  # band count the network takes (1 = applied to each band separately)
    per_band: bool = False  # True: a 1-band network run on every band of the input
    value_scale: float = 1.0  # inputs are divided by this before the network, outputs multiplied
    arch: dict[str, Any] = field(default_factory=dict)  # constructor kwargs
    kind: str = "sisr"  # sisr | misr | guided
    description: str = ""
    band_names: list[str] = field(default_factory=list)
    training: dict[str, Any] = field(default_factory=dict)  # data, command, iterations, seed, ...
    metrics: dict[str, Any] = field(default_factory=dict)  # measured validation numbers
    validity: str = ""  # where the weights can be trusted
    n_parameters: int = 0
    sha256: str = ""  # of the safetensors file

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, path: Path) -> ModelCard:
        from satsr.errors import ModelError

        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelError(f"{path}: cannot read model card ({exc}); reinstall satsr or pass a valid card") from exc
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ModelError(f"{path}: unknown model card fields {sorted(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ModelError(f"{path}: incomplete model card ({exc})") from exc


def to_tensor(x: Array, device: torch.device | str | None = None) -> torch.Tensor:
    """numpy or torch -> float32 torch tensor (no copy when already one)."""
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))
    if t.dtype != torch.float32:
        t = t.float()
    if device is not None:
        t = t.to(device)
    return t


def like_input(y: torch.Tensor, x: Array) -> Array:
    """Return ``y`` as the same array type as ``x`` (numpy in -> numpy out)."""
    if isinstance(x, torch.Tensor):
        return y
    return y.detach().cpu().numpy().astype(np.float32, copy=False)


class Upscaler:
    """Single-image super-resolution contract.

    Attributes:
        name: registry name.
        scale: integer factor this instance produces.
        scales: factors the family supports.
        bands: band counts supported (``None`` = any).
        margin: context in input pixels needed on each side so that a tile's centre is exact
            (the receptive-field radius); the tiler reads at least this much extra.
    """

    name: str = "upscaler"
    scale: int = 2
    scales: tuple[int, ...] = (2, 3, 4)
    bands: tuple[int, ...] | None = None
    margin: int = 0
    card: ModelCard | None = None

    def __call__(self, x: Array) -> Array:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def value_scale(self) -> float:
        return self.card.value_scale if self.card else 1.0

    def describe(self) -> str:
        return f"{self.name} x{self.scale}"


class TorchUpscaler(Upscaler):
    """Runs an ``nn.Module`` that maps ``(N, C, h, w)`` -> ``(N, C, h*s, w*s)`` as an Upscaler.

    Handles numpy/torch conversion, device placement, fp32 inference and per-band application
    (a 1-band network run on every band of a multispectral input).
    """

    def __init__(
        self,
        net: nn.Module,
        name: str,
        scale: int,
        margin: int,
        bands: tuple[int, ...] | None = None,
        card: ModelCard | None = None,
        device: str | torch.device = "cpu",
        per_band: bool = False,
        batch_bands: int = 16,
    ) -> None:
        # channels_last: 1.2-2.2x faster convolutions on CPU, same numbers (BENCHMARKS.md, issue 7)
        self.net = net.eval().to(device, memory_format=torch.channels_last)
        self.name = name
        self.scale = scale
        self.scales = (scale,)
        self.margin = margin
        self.card = card
        self.device = torch.device(device)
        self.per_band = per_band
        self.bands = None if per_band else bands
        self.batch_bands = batch_bands

    @torch.inference_mode()
    def __call__(self, x: Array) -> Array:
        t = to_tensor(x, self.device)
        if t.ndim != 3:
            raise ValueError(f"expected (bands, h, w), got shape {tuple(t.shape)}")
        if self.per_band:
            outs = [self.net(_nhwc(chunk.unsqueeze(1))).squeeze(1) for chunk in t.split(self.batch_bands)]
            y = torch.cat(outs, 0)
        else:
            if self.bands is not None and t.shape[0] not in self.bands:
                from satsr.errors import OptionError

                raise OptionError(
                    f"{self.describe()} takes {self.bands} bands, got {t.shape[0]}; choose bands with --bands"
                )
            y = self.net(_nhwc(t.unsqueeze(0))).squeeze(0)
        return like_input(y.float().contiguous(), x)


def _nhwc(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last)


class Fuser:
    """Multi-image super-resolution contract.

    ``__call__(frames (T, bands, h, w), masks (T, h, w) bool, True = clear)`` returns
    ``(bands, h*scale, w*scale)``; ``fuse_with_uncertainty`` also returns a per-pixel sigma or None.
    Frames arrive ordered by clearance (clearest first).
    """

    name: str = "fuser"
    scale: int = 3
    scales: tuple[int, ...] = (3,)
    bands: tuple[int, ...] | None = None
    card: ModelCard | None = None

    def __call__(self, frames: Array, masks: Array) -> Array:
        return self.fuse_with_uncertainty(frames, masks)[0]

    def fuse_with_uncertainty(self, frames: Array, masks: Array) -> tuple[Array, Array | None]:  # pragma: no cover
        raise NotImplementedError

    @property
    def value_scale(self) -> float:
        return self.card.value_scale if self.card else 1.0


class GuidedUpscaler:
    """Guided super-resolution contract (band sharpening, pan-sharpening).

    ``__call__(guide (g, H, W), lowres (c, h, w))`` with ``H == h * ratio`` returns ``(c, H, W)``.
    """

    name: str = "guided"
    ratios: tuple[int, ...] = (2, 4, 6)
    card: ModelCard | None = None

    def __call__(self, guide: Array, lowres: Array) -> Array:  # pragma: no cover - interface
        raise NotImplementedError
