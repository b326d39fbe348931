"""Pieces every training task shares: the validation bookkeeping, losses, LR schedule, weight
init/export helpers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from satsr.errors import InputError

if TYPE_CHECKING:
    from satsr.train.config import TrainConfig


class ValidatedTask(L.LightningModule):
    """A training task whose ``validation_step`` appends one row of numbers per sample to ``val_rows``.

    At the end of validation the rows are averaged into ``last_val`` (recorded in the model card and
    printed by ``satsr train``), with the derived entries ``summarise`` adds, and logged as ``val_*``.
    """

    def __init__(self, net: nn.Module, cfg: TrainConfig) -> None:
        super().__init__()
        self.net = net
        self.cfg = cfg
        self.val_rows: list[dict[str, float]] = []
        self.last_val: dict[str, float] = {}

    def summarise(self, mean: dict[str, float]) -> dict[str, float]:
        """Derived numbers from the mean of the rows (e.g. the gain over a baseline)."""
        return {}

    def on_validation_epoch_end(self) -> None:
        if not self.val_rows:
            return
        keys = self.val_rows[0].keys()
        mean = {k: float(np.mean([r[k] for r in self.val_rows])) for k in keys}
        mean.update(self.summarise(mean))
        self.val_rows = []
        self.last_val = mean
        for k, v in mean.items():  # every process validates the whole set: the values agree across ranks
            self.log(f"val_{k}", v, sync_dist=True)


def eight_bit_task_options(cfg: TrainConfig, defaults: dict[str, Any], task: str) -> dict[str, Any]:
    """``cfg.task_options`` over the task's ``defaults``, for the tasks that train on 8-bit images (gan,
    arbitrary): an unknown option or a value scale other than 255 is one ``InputError``."""
    opt = {**defaults, **cfg.task_options}
    unknown = set(opt) - set(defaults)
    if unknown:
        raise InputError(f"training config {cfg.name}: unknown task_options {sorted(unknown)}; known: "
                         f"{sorted(defaults)}")
    if cfg.data.value_scale != 255.0:
        raise InputError(f"training config {cfg.name}: the {task} task trains on 8-bit images (value_scale 255)")
    return opt


def train_loader(dataset: Dataset, cfg: TrainConfig) -> DataLoader:
    """The training loader of every task: ``cfg.steps`` batches of ``cfg.batch`` (per device) items, each
    DDP process drawing its own share of every global batch (``satsr.data.sampling.RankBatches``), so a
    run is the same draw on one device or many. Validation loaders stay whole on every process."""
    from satsr.data.sampling import RankBatches

    return DataLoader(dataset, batch_size=cfg.batch, sampler=RankBatches(cfg.steps, cfg.batch), num_workers=0,
                      drop_last=True)


SAM_WEIGHT = 0.1  # of the spectral angle in loss "l1_sam" (about the size of the L1 term on reflectance cubes)


def pixel_loss(kind: str, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if kind == "l1":
        return F.l1_loss(pred, target)
    if kind == "l2":
        return F.mse_loss(pred, target)
    if kind == "charbonnier":
        return torch.sqrt((pred - target) ** 2 + 1e-6).mean()
    if kind == "l1_sam":  # hyperspectral: L1 plus the mean spectral angle (radians), which L1 alone neglects
        from satsr.metrics import sam

        return F.l1_loss(pred, target) + SAM_WEIGHT * torch.deg2rad(sam(pred, target))
    raise ValueError(f"unknown loss {kind!r}")


def warmup_cosine(step: int, warmup: int, total: int, lr: float, lr_min: float) -> float:
    """Multiplier of the base LR at ``step``: linear warm-up, then cosine decay to ``lr_min``."""
    if step < warmup:
        return (step + 1) / max(warmup, 1)
    t = min(1.0, (step - warmup) / max(total - warmup, 1))
    return (lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * t))) / lr


def adam_warmup_cosine(params: Any, cfg: TrainConfig, betas: tuple[float, float] = (0.9, 0.99)) -> dict[str, Any]:
    """Lightning ``configure_optimizers`` value every task uses: Adam, warm-up then cosine per step."""
    opt = torch.optim.Adam(params, lr=cfg.lr, betas=betas)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: warmup_cosine(step, cfg.warmup, cfg.steps, cfg.lr, cfg.lr_min)
    )
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def resolve(path: str | Path, base: str | Path) -> Path:
    """A config path: absolute or existing as given, else relative to the config's folder ``base``."""
    p = Path(path)
    return p if p.is_absolute() or p.exists() else Path(base) / p


def check_init_from(cfg: TrainConfig, base: str | Path) -> Path | None:
    """The config's ``init_from`` file (None when it has none); ``InputError`` when it does not exist."""
    if not cfg.init_from:
        return None
    path = resolve(cfg.init_from, base)
    if not path.is_file():
        raise InputError(f"training config {cfg.name}: init_from {cfg.init_from} not found (looked at {path}); "
                         "give a .safetensors or .ckpt file, relative to the config's folder or absolute")
    return path


def build_initialised_net(cfg: TrainConfig, base: str | Path, bands: int | None = None) -> nn.Module:
    """The config's network (``bands`` defaults to ``cfg.bands``), warm-started from ``init_from``."""
    from satsr.models.registry import build_net

    net = build_net(cfg.model, cfg.scale, cfg.bands if bands is None else bands, **cfg.arch)
    path = check_init_from(cfg, base)
    if path is not None:
        loaded, skipped = load_matching(net, path)
        print(f"init_from {cfg.init_from}: loaded {len(loaded)} tensors, skipped {skipped}")
    return net


def load_matching(net: nn.Module, path: str | Path) -> tuple[list[str], list[str]]:
    """Initialise ``net`` from a ``.safetensors`` or Lightning ``.ckpt``, keeping only tensors whose
    name and shape match (e.g. an x4 EDSR from an x2 one: everything but the upsampler tail).

    Returns (loaded, skipped) parameter names.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as exc:  # safetensors raises its own error types for corrupt files
            raise InputError(f"{path}: cannot read weights ({exc}); give a valid .safetensors file") from exc
    else:
        ckpt = load_checkpoint(path)
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


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A Lightning checkpoint, loaded safely: ``weights_only=True`` is passed explicitly (so neither
    torch's default nor ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` can turn pickle loading back on), and
    anything that is not a training checkpoint is one ``InputError``."""
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types: unpickling, zip, EOF, refused globals
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: not a satsr training checkpoint, or one that is unsafe to load ({first}); "
                         "delete it, or pass --fresh to start over") from exc
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise InputError(f"{path}: not a Lightning training checkpoint (no state_dict); delete it or pass --fresh")
    return ckpt


def export_state(net: nn.Module) -> dict[str, torch.Tensor]:
    """Contiguous fp32 CPU tensors (safetensors needs contiguous storage; channels_last is not)."""
    return {k: v.detach().float().cpu().contiguous() for k, v in net.state_dict().items()}
