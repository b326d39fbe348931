"""Training configuration (YAML -> pydantic), shared by every task (sisr, misr, guided).

Relative data paths are resolved against the directory of the YAML file, so configs in
``configs/`` can point at ``../../shared/data`` and run from anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from satsr.errors import InputError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DegradationConfig(_Strict):
    """How LR inputs are made from HR patches on the fly."""

    kind: Literal["bicubic", "gaussian", "wald"] = "bicubic"
    # gaussian: PSF sigma in HR pixels, a fixed value or a [min, max] range drawn per sample
    sigma: float | tuple[float, float] = 0.0
    # additive noise std in normalised units, fixed or [min, max]
    noise: float | tuple[float, float] = 0.0


class DataConfig(_Strict):
    train: list[str]  # files, folders or globs (HR images)
    val: list[str] = Field(default_factory=list)  # if empty: every `holdout`-th training file
    holdout: int = 20  # hold out every n-th training file for validation when `val` is empty
    exclude: list[str] = Field(default_factory=list)  # globs never used (evaluation splits)
    bands: list[int] | None = None  # 1-based band selection
    value_scale: float = 255.0  # DN / value_scale = network units
    per_band: bool = False  # split multi-band images into 1-band samples
    val_max_side: int = 384


class ExportConfig(_Strict):
    id: str  # weights id, e.g. edsr_x4
    description: str = ""
    validity: str = ""
    band_names: list[str] = Field(default_factory=list)


class TrainConfig(_Strict):
    name: str
    task: Literal["sisr", "misr", "guided"] = "sisr"
    model: str
    scale: int
    bands: int = 3
    arch: dict[str, Any] = Field(default_factory=dict)
    data: DataConfig
    degradation: DegradationConfig = Field(default_factory=DegradationConfig)
    task_options: dict[str, Any] = Field(default_factory=dict)  # task-specific (misr simulator, guided)
    patch: int = 48  # LR patch side
    batch: int = 16
    steps: int = 10000
    lr: float = 2e-4
    lr_min: float = 1e-6
    warmup: int = 200
    loss: Literal["l1", "l2", "charbonnier"] = "l1"
    grad_clip: float = 0.0
    precision: Literal["32", "bf16-mixed", "16-mixed"] = "bf16-mixed"
    channels_last: bool = True
    seed: int = 0
    val_every: int = 1000
    ckpt_every: int = 250
    log_every: int = 50
    init_from: str | None = None  # .safetensors or .ckpt to initialise matching weights from
    out_dir: str = "runs"
    export: ExportConfig

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> tuple[TrainConfig, Path]:
    """Read a YAML config; returns the config and the directory relative paths are resolved from."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: training config not found")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    for key, value in (overrides or {}).items():
        raw[key] = value
    try:
        cfg = TrainConfig(**raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InputError(f"{path}: invalid training config at '{where}': {err['msg']}") from exc
    return cfg, path.parent.resolve()
