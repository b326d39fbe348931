"""Fine-tuning a shipped single-image model on one's own images in one call (``satsr finetune``).

The images are a folder in the ``folders`` layout (``satsr.data.pairs``): ``LR/`` + ``HR/`` pairs, or HR
images only whose LR is made by a degradation (``bicubic`` or ``wald``; default: the one the shipped
weights were trained with). A deterministic share of the files is held out. The run starts from the
shipped weights (``init_from``), trains ``steps`` steps through the ordinary training pipeline
(``satsr.train.run.train`` on a config written to ``runs/<name>/finetune.yaml``), exports weights and
a model card to ``runs/<name>/export/``, then scores bicubic, the starting weights and the fine-tuned
ones on the held-out images (PSNR/SSIM, ``scale`` px border excluded; 8-bit outputs rounded, the
convention of ``satsr evaluate sisr``) and records that table in the card.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from satsr.data.base import open_dataset
from satsr.errors import InputError, ModelError, OptionError
from satsr.io.files import atomic_path
from satsr.io.image import image_shape
from satsr.metrics import psnr, ssim
from satsr.models import registry
from satsr.ops.filters import DEGRADATIONS

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass
class FinetuneResult:
    """Where the run landed and how it did on the held-out images."""

    run_dir: Path
    weights: Path
    card: Path
    holdout: dict[str, Any]

    def lines(self) -> list[str]:
        """The held-out table as text lines (what ``satsr finetune`` prints)."""
        h = self.holdout
        rows = [f"held-out: {h['images']} image(s), x{h['scale']}, LR by {h['degradation']}"]
        for key in ("bicubic", "start", "finetuned"):
            r = h["rows"][key]
            rows.append(f"  {r['label']:<28} PSNR {r['psnr']:8.3f} dB  SSIM {r['ssim']:.4f}")
        rows.append(f"gain over the starting model: {h['gain_vs_start']:+.3f} dB; over bicubic: "
                    f"{h['gain_vs_bicubic']:+.3f} dB (starting model over bicubic: {h['start_vs_bicubic']:+.3f} dB)")
        return rows


def _degradation_of(card: Any) -> str:
    kind = (card.training.get("config") or {}).get("degradation", {}).get("kind", "bicubic")
    return kind if kind in DEGRADATIONS else "bicubic"


def _min_lr_side(ds: Any, scale: int) -> int:
    sides = [min(image_shape(it.lr)[1:]) if it.lr is not None else min(image_shape(it.hr)[1:]) // scale
             for it in ds.items]
    return min(sides)


def _predict(model: Any, lr: np.ndarray, eight_bit: bool) -> np.ndarray:
    out = model.apply(lr, None, np.float64)
    return np.clip(np.round(out), 0, 255) if eight_bit else out


def score_holdout(pairs: list[tuple[np.ndarray, np.ndarray]], models: dict[str, Any], scale: int,
                  eight_bit: bool) -> dict[str, dict[str, float]]:
    """Mean PSNR/SSIM of each model over ``(lr, hr)`` pairs (peak 255 for 8-bit data, else each HR's
    maximum; ``scale`` px border excluded)."""
    out = {}
    for key, model in models.items():
        p, q = [], []
        for lr, hr in pairs:
            sr = _predict(model, lr, eight_bit)
            peak = 255.0 if eight_bit else float(hr.max())
            p.append(float(psnr(sr, hr, data_range=peak, border=scale)))
            q.append(float(ssim(sr, hr, data_range=peak, border=scale)))
        out[key] = {"psnr": float(np.mean(p)), "ssim": float(np.mean(q))}
    return out


def finetune(model: str, scale: int, data: str | os.PathLike[str], out_name: str, steps: int,
             degradation: str | None = None, runs_dir: str | os.PathLike[str] = "runs", batch: int = 8,
             patch: int = 48, lr: float = 1e-4, val_fraction: float = 0.2, precision: str = "bf16-mixed",
             threads: int | None = None, seed: int = 0, progress: bool = False, device: str = "cpu") -> FinetuneResult:
    """Fine-tune the shipped ``model`` x``scale`` weights on the images in ``data`` (see the module
    docstring) and score it on the held-out part."""
    from satsr.train.run import train

    if not _NAME.match(out_name):
        raise OptionError(f"run name {out_name!r}: use letters, digits, '.', '_' or '-' (it names runs/{out_name}/)")
    if steps < 1:
        raise OptionError(f"--steps must be at least 1, got {steps}")
    spec = registry.get_spec(model)
    card = registry.find_card(spec.name, scale, spec.kind)
    if card is None or spec.kind != "sisr":
        have = ", ".join(c.id for c in registry.list_cards() if c.kind == "sisr")
        raise ModelError(f"model {model!r} has no shipped single-image weights at x{scale} to start from; "
                         f"shipped: {have}")
    root = Path(data).resolve()
    probe = open_dataset("folders", root, "train", scale=scale, val_fraction=val_fraction)
    paired = probe.produces == "pairs"
    if paired and degradation is not None:
        raise OptionError(f"{root}: holds LR/HR pairs; --degradation applies to a folder of HR images only")
    deg = None if paired else degradation or _degradation_of(card)
    probe.require("training images (hold fewer out, or add images)")
    held = open_dataset("folders", root, "val", scale=scale, degradation=deg, val_fraction=val_fraction)
    if not len(held):
        raise InputError(f"{root}: too few images to hold some out for validation; give at least 2")
    bands = image_shape(probe.items[0].hr)[0]
    if not card.per_band and bands != card.bands:
        raise InputError(f"{probe.items[0].hr}: has {bands} band(s); {card.id} takes {card.bands}")
    lr_side = _min_lr_side(probe, scale)
    if lr_side < 8:
        raise InputError(f"{root}: the smallest image gives a {lr_side}-px LR at x{scale}; give images of at least "
                         f"{8 * scale} px")
    start = registry.WEIGHTS_DIR / f"{card.id}.safetensors"
    runs = Path(runs_dir).resolve()
    run_dir = runs / out_name
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "name": out_name, "task": "sisr", "model": spec.name, "scale": scale, "bands": card.bands,
        "arch": dict(card.arch),
        "data": {"dataset": "folders", "root": str(root), "split": "train", "value_scale": card.value_scale,
                 "per_band": card.per_band, "options": {"scale": scale, "val_fraction": val_fraction}},
        "degradation": {"kind": deg or "bicubic"},
        "patch": min(patch, lr_side), "batch": batch, "steps": steps, "lr": lr, "lr_min": lr / 100,
        "warmup": min(100, steps // 10), "precision": precision, "seed": seed, "val_every": steps,
        "ckpt_every": steps, "log_every": max(1, steps // 10), "init_from": str(start), "out_dir": str(runs),
        "export": {"id": out_name, "band_names": list(card.band_names),
                   "description": f"{card.description} (fine-tuned on {root.name})",
                   "validity": f"Fine-tuned from {card.id} on the images of {root}; see that card's validity too."},
    }
    path = run_dir / "finetune.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    train(path, accelerator="cpu" if device == "cpu" else "gpu", resume=False, progress=progress, threads=threads)
    weights = run_dir / "export" / f"{out_name}.safetensors"
    pairs = [(s["lr"], s["hr"]) for s in held]
    models = {"bicubic": registry.create("bicubic", scale),
              "start": registry.create(spec.name, scale, bands=bands, device=device),
              "finetuned": registry.create(spec.name, scale, bands=bands, weights=weights, device=device)}
    scores = score_holdout(pairs, models, scale, held.eight_bit)
    labels = {"bicubic": "bicubic", "start": f"{card.id} (shipped)", "finetuned": f"{out_name} (fine-tuned)"}
    holdout = {
        "images": len(pairs), "scale": scale, "degradation": deg or "real LR/HR pairs", "files": held.names,
        "rows": {k: {"label": labels[k], **v} for k, v in scores.items()},
        "gain_vs_start": scores["finetuned"]["psnr"] - scores["start"]["psnr"],
        "gain_vs_bicubic": scores["finetuned"]["psnr"] - scores["bicubic"]["psnr"],
        "start_vs_bicubic": scores["start"]["psnr"] - scores["bicubic"]["psnr"],
    }
    card_path = weights.with_suffix(".json")
    record = json.loads(card_path.read_text())
    record["metrics"]["finetune_holdout"] = holdout
    with atomic_path(card_path) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    return FinetuneResult(run_dir=run_dir, weights=weights, card=card_path, holdout=holdout)
