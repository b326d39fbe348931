"""Training configuration (YAML -> pydantic), shared by every task (sisr, misr, guided).

Relative data paths are resolved against the directory of the YAML file, so configs in
``configs/`` can point at ``../../shared/data`` and run from anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from satsr.errors import InputError, OptionError


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
    train: list[str] = Field(default_factory=list)  # files, folders or globs (HR images); or `dataset`:
    dataset: str | None = None  # a dataset kind by name (satsr.data.base.dataset_kinds), read from `root`
    root: str | None = None  # the dataset's root folder, in its published layout
    split: Literal["train", "val", "test"] = "train"  # the split trained on (validation: `val`)
    options: dict[str, Any] = Field(default_factory=dict)  # the dataset kind's options (e.g. classes, scale)
    val: list[str] = Field(default_factory=list)  # if empty: every `holdout`-th training file
    holdout: int = 20  # hold out every n-th training file for validation when `val` is empty
    exclude: list[str] = Field(default_factory=list)  # globs never used (evaluation splits)
    bands: list[int] | None = None  # 1-based band selection
    value_scale: float = 255.0  # DN / value_scale = network units
    per_band: bool = False  # split multi-band images into 1-band samples
    val_max_side: int = 384

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        """Either image globs (``train``) or a named dataset with its root, never both."""
        if self.dataset is None:
            if not self.train:
                raise ValueError("give `train` (HR image files, folders or globs) or `dataset` and `root`")
            return self
        from satsr.data.base import dataset_kinds

        kinds = dataset_kinds()
        if self.dataset not in kinds:
            raise ValueError(f"unknown dataset {self.dataset!r}; known datasets: {', '.join(kinds)}")
        if self.root is None:
            raise ValueError(f"dataset {self.dataset!r} needs `root`, the folder holding it")
        if self.train or self.val:
            raise ValueError("give either `dataset` (with its own splits) or `train`/`val` globs, not both")
        return self


class ExportConfig(_Strict):
    id: str  # weights id, e.g. edsr_x4
    description: str = ""
    validity: dict[str, Any] | str = ""  # see satsr.models.base.ModelCard.validity
    band_names: list[str] = Field(default_factory=list)


Precision = Literal["32", "bf16-mixed", "16-mixed"]


class TrainerConfig(_Strict):
    """Where training runs (Lightning's Trainer flags): the same config trains on a laptop's CPU, several GPUs
    or several nodes by changing these numbers. ``batch`` is per device: a step sees ``batch * devices *
    num_nodes`` samples (recorded as ``global_batch`` in the model card)."""

    accelerator: Literal["auto", "cpu", "gpu", "cuda", "mps"] = "auto"
    devices: int | list[int] | Literal["auto"] = "auto"  # a count (-1: all), device indices, or auto
    num_nodes: int = Field(1, ge=1)
    strategy: str = "auto"  # auto, ddp, ddp_spawn, fsdp, ... (Lightning's strategy names)
    precision: Precision | None = None  # None: the config's top-level `precision`

    @field_validator("devices")
    @classmethod
    def _devices(cls, value: int | list[int] | str) -> int | list[int] | str:
        if isinstance(value, int) and value != -1 and value < 1:
            raise ValueError("devices must be a count of 1 or more, -1 (all), a list of device indices, or auto")
        if isinstance(value, list) and (not value or min(value) < 0 or len(set(value)) != len(value)):
            raise ValueError("a device list names each device index (0, 1, ...) once")
        return value

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, value: str) -> str:
        from lightning.pytorch.strategies import StrategyRegistry

        known = ["auto", *StrategyRegistry.available_strategies()]
        if value not in known:
            raise ValueError(f"unknown strategy {value!r}; Lightning knows {', '.join(known)}")
        return value

    @property
    def world_size(self) -> int | None:
        """Processes taking part (devices x nodes), when the devices are given as a count or list."""
        if isinstance(self.devices, list):
            return len(self.devices) * self.num_nodes
        return self.devices * self.num_nodes if isinstance(self.devices, int) and self.devices > 0 else None


class TrainConfig(_Strict):
    name: str
    task: Literal["sisr", "misr", "guided", "arbitrary", "gan"] = "sisr"
    model: str
    scale: int
    bands: int = 3
    arch: dict[str, Any] = Field(default_factory=dict)
    data: DataConfig
    degradation: DegradationConfig = Field(default_factory=DegradationConfig)
    task_options: dict[str, Any] = Field(default_factory=dict)  # task-specific (misr simulator, guided)
    patch: int = 48  # LR patch side
    batch: int = 16  # per device (see TrainerConfig)
    steps: int = 10000
    lr: float = 2e-4
    lr_min: float = 1e-6
    warmup: int = 200
    loss: Literal["l1", "l2", "charbonnier", "l1_sam"] = "l1"  # l1_sam: + 0.1 x spectral angle (radians)
    grad_clip: float = 0.0
    precision: Precision = "bf16-mixed"  # the default of trainer.precision
    channels_last: bool = True
    seed: int = 0
    val_every: int = 1000
    ckpt_every: int = 250
    log_every: int = 50
    init_from: str | None = None  # .safetensors or .ckpt to initialise matching weights from
    out_dir: str = "runs"
    export: ExportConfig
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    # processes training together, set by `satsr.train.run` once Lightning has resolved the devices
    _world: int = PrivateAttr(default=1)

    @model_validator(mode="after")
    def _one_precision(self) -> TrainConfig:
        """``trainer.precision`` and the top-level ``precision`` are one setting: given twice, they must agree."""
        if self.trainer.precision is None:
            self.trainer.precision = self.precision
        elif "precision" in self.model_fields_set and self.precision != self.trainer.precision:
            raise ValueError(f"precision {self.precision} and trainer.precision {self.trainer.precision} differ; "
                             "give one of them")
        else:
            self.precision = self.trainer.precision
        return self

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name

    @property
    def world_size(self) -> int:
        return self._world

    @property
    def global_batch(self) -> int:
        """Samples per optimiser step: the per-device ``batch`` times the processes training together."""
        return self.batch * self._world


def with_trainer_flags(cfg: TrainConfig, **flags: Any) -> TrainConfig:
    """``cfg`` with command-line Trainer flags (``--devices``, ``--accelerator``, ...) over its ``trainer``
    section; None leaves the config's value. A bad value is one ``OptionError`` naming the flag."""
    given = {k: v for k, v in flags.items() if v is not None}
    try:
        cfg.trainer = TrainerConfig(**{**cfg.trainer.model_dump(), **given})
    except ValidationError as exc:
        err = exc.errors()[0]
        flag = "--" + str(err["loc"][0]).replace("_", "-") if err["loc"] else "a trainer flag"
        raise OptionError(f"{flag}: {err['msg']}") from exc
    return cfg


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
