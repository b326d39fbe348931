"""Run a training config with Lightning (CPU, one GPU, or many devices/nodes) and export weights.

``satsr train CONFIG.yaml`` -> ``runs/<name>/`` holding the resolved config, checkpoints
(``ckpt/last.ckpt``, resumed automatically), a CSV log, and at the end ``export/<id>.safetensors``
with its model card ``export/<id>.json``.
"""

from __future__ import annotations

import importlib
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch

from satsr.models.registry import get_spec
from satsr.train.common import check_init_from, load_checkpoint
from satsr.train.config import TrainConfig, load_config, with_trainer_flags

TASK_MODULES = {"sisr": "satsr.train.sisr", "misr": "satsr.train.misr", "guided": "satsr.train.guided",
                "arbitrary": "satsr.train.arbitrary", "gan": "satsr.train.gan"}


class PrintProgress(L.Callback):
    """Plain-text progress every ``every`` steps (readable in nohup logs, unlike a progress bar)."""

    def __init__(self, every: int, total: int) -> None:
        self.every = every
        self.total = total
        self.t0 = time.time()
        self.s0 = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.t0, self.s0 = time.time(), trainer.global_step

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        step = trainer.global_step
        if step % self.every == 0 and trainer.is_global_zero:
            rate = (time.time() - self.t0) / max(step - self.s0, 1)
            loss = float(outputs["loss"]) if isinstance(outputs, dict) else float(outputs)
            lr = trainer.optimizers[0].param_groups[0]["lr"]
            eta = rate * (self.total - step) / 3600
            print(f"step {step}/{self.total} loss {loss:.5f} lr {lr:.2e} {rate:.2f}s/step eta {eta:.1f}h", flush=True)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        val = getattr(pl_module, "last_val", {})
        if val and trainer.is_global_zero:
            text = " ".join(f"{k} {v:.4f}" for k, v in val.items())
            print(f"val @ {trainer.global_step}: {text}", flush=True)


class ReseedPatches(L.Callback):
    """Make a resumed run draw new patches (the patch stream is keyed by the start step)."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        ds = getattr(trainer.train_dataloader, "dataset", None)
        if hasattr(ds, "set_epoch"):
            ds.set_epoch(trainer.global_step)


def train(config: str | Path, devices: str | int | list[int] | None = None, num_nodes: int | None = None,
          accelerator: str | None = None, resume: bool = True, progress: bool = True,
          overrides: dict[str, Any] | None = None, threads: int | None = None, strategy: str | None = None) -> Path:
    """Train from a YAML config; returns the run directory.

    ``devices``, ``num_nodes``, ``accelerator`` and ``strategy`` override the config's ``trainer`` section
    (None keeps it). With several devices (e.g. ``strategy="ddp"``) every process runs this function:
    Lightning starts the others by running the same command again; only rank 0 writes files.
    """
    cfg, base = load_config(config, overrides)
    cfg = with_trainer_flags(cfg, devices=devices, num_nodes=num_nodes, accelerator=accelerator, strategy=strategy)
    # every input is checked before Lightning starts (and logs), so a bad one is a single error line
    check_init_from(cfg, base)
    last = cfg.run_dir / "ckpt" / "last.ckpt"
    resume_from = last if resume and last.exists() else None
    if resume_from is not None:
        load_checkpoint(resume_from)  # a corrupt or unsafe file is refused here, before Lightning loads it
    if threads:
        torch.set_num_threads(threads)
    if "spawn" in cfg.trainer.strategy or "fork" in cfg.trainer.strategy:
        # the in-memory datasets travel to the new processes as shared tensors; passing them as file
        # descriptors failed here ("unable to resize file ... Invalid argument"), named files work
        torch.multiprocessing.set_sharing_strategy("file_system")
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    run_dir = cfg.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_dir = run_dir / "ckpt"
    ckpt_cb = L.pytorch.callbacks.ModelCheckpoint(
        dirpath=ckpt_dir, filename="step{step}", every_n_train_steps=cfg.ckpt_every, save_last=True,
        save_top_k=1, auto_insert_metric_name=False,
    )
    callbacks: list[L.Callback] = [ckpt_cb, PrintProgress(cfg.log_every, cfg.steps), ReseedPatches()]
    trainer = L.Trainer(
        max_steps=cfg.steps,
        max_epochs=-1,
        accelerator=cfg.trainer.accelerator,
        devices=cfg.trainer.devices,
        num_nodes=cfg.trainer.num_nodes,
        strategy=cfg.trainer.strategy,
        precision=cfg.trainer.precision,
        use_distributed_sampler=False,  # each task's loader shards itself (satsr.data.sampling.RankBatches)
        val_check_interval=cfg.val_every,
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        gradient_clip_val=cfg.grad_clip or None,
        callbacks=callbacks,
        logger=L.pytorch.loggers.CSVLogger(run_dir, name="log", version=0),
        enable_progress_bar=progress,
        enable_model_summary=False,
        default_root_dir=run_dir,
        log_every_n_steps=cfg.log_every,
    )
    cfg._world = trainer.world_size  # the global batch: `batch` is per device
    if trainer.is_global_zero:
        (run_dir / "config.json").write_text(cfg.model_dump_json(indent=2))
        (run_dir / "command.txt").write_text(" ".join(shlex.quote(a) for a in ["satsr", *sys.argv[1:]]) + "\n")
    task = importlib.import_module(TASK_MODULES[cfg.task])
    module, train_dl, val_dl = task.build(cfg, base)
    t0 = time.time()
    trainer.fit(module, train_dl, val_dl, ckpt_path=str(resume_from) if resume_from else None, weights_only=True)
    trainer.save_checkpoint(last)  # the periodic checkpoint may predate the final step
    # final validation on the trained weights, recorded in the card
    trainer.validate(module, val_dl, verbose=False, weights_only=True)
    elapsed = time.time() - t0
    if trainer.is_global_zero:
        # under ddp_spawn the validation ran in other processes: its numbers come back as callback metrics
        if not getattr(module, "last_val", None):
            module.last_val = {k[4:]: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val_")}
        export(cfg, module, run_dir, elapsed, base, hardware=hardware_record(trainer, cfg.trainer.strategy))
    return run_dir


def hardware_record(trainer: L.Trainer, strategy: str) -> dict[str, Any]:
    """What a run trained on, for its model card: accelerator, devices per node, nodes, processes, and the
    strategy asked for (``strategy``) with the one Lightning ran."""
    return {"accelerator": type(trainer.accelerator).__name__.removesuffix("Accelerator").lower(),
            "devices": trainer.num_devices, "num_nodes": trainer.num_nodes, "world_size": trainer.world_size,
            "strategy": strategy, "strategy_class": type(trainer.strategy).__name__,
            "cpu_threads": torch.get_num_threads()}


def warm_start_record(init_from: str, base: str | Path) -> dict[str, Any]:
    """What a warm-started run started from: the file, its sha256 and, when a model card lies beside
    it, that card's training command, steps and earlier warm start (so a fine-tuned card keeps the
    whole recipe)."""
    from satsr.models.registry import sha256_of
    from satsr.train.common import resolve

    path = resolve(init_from, base)
    record: dict[str, Any] = {"path": init_from}
    if path.is_file():
        record["sha256"] = sha256_of(path)
    card = path.with_suffix(".json")
    if card.is_file():
        earlier = json.loads(card.read_text()).get("training", {})
        record.update({k: earlier[k] for k in ("command", "steps", "init_from") if k in earlier})
    return record


def export(cfg: TrainConfig, module: L.LightningModule, run_dir: Path, elapsed: float, base: str | Path,
           hardware: dict[str, Any] | None = None) -> Path:
    """Write ``export/<id>.safetensors`` and its model card from a trained task module (``base``: the
    config's folder, against which ``init_from`` is resolved; ``hardware``: ``hardware_record``)."""
    from safetensors.torch import save_file

    from satsr.models.base import ModelCard
    from satsr.models.registry import sha256_of
    from satsr.train.common import export_state

    out = run_dir / "export"
    out.mkdir(exist_ok=True)
    net = module.net
    weights = out / f"{cfg.export.id}.safetensors"
    tmp = weights.with_suffix(".tmp")
    save_file(export_state(net), str(tmp), metadata={"id": cfg.export.id, "model": cfg.model})
    tmp.replace(weights)
    weights.chmod(0o644)
    command = (run_dir / "command.txt").read_text().strip()
    val = {k: round(float(v), 4) for k, v in getattr(module, "last_val", {}).items()}
    card = ModelCard(
        id=cfg.export.id,
        model=cfg.model,
        scale=cfg.scale,
        bands=1 if cfg.data.per_band else cfg.bands,
        per_band=cfg.data.per_band,
        value_scale=cfg.data.value_scale,
        arch=dict(cfg.arch),
        kind=get_spec(cfg.model).kind,  # the contract (a gan or arbitrary-scale task still makes a sisr model)
        description=cfg.export.description,
        band_names=cfg.export.band_names,
        training={
            "command": command,
            "config": cfg.model_dump(mode="json"),
            "steps": cfg.steps,
            "batch": cfg.batch,  # per device
            "global_batch": cfg.global_batch,
            "lr_patch": cfg.patch,
            "wall_time_h_last_session": round(elapsed / 3600, 2),
            "hardware": f"{torch.get_num_threads()} CPU threads" if not torch.cuda.is_available() else "GPU",
            "devices": hardware or {"world_size": cfg.world_size},
            **({"init_from": warm_start_record(cfg.init_from, base)} if cfg.init_from else {}),
        },
        metrics={"holdout_validation": val},
        validity=cfg.export.validity,
        n_parameters=sum(p.numel() for p in net.parameters()),
        sha256=sha256_of(weights),
    )
    (out / f"{cfg.export.id}.json").write_text(card.to_json())
    print(f"exported {weights} ({card.n_parameters} parameters); holdout validation {json.dumps(val)}", flush=True)
    return weights
