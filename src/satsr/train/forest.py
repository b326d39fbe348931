"""``satsr train-rfsr``: fit a random-forest SR model (``satsr.models.rfsr``) on HR images, in minutes on a CPU.

Each HR image is degraded like the evaluation protocol (MATLAB bicubic, 8-bit LR rounded; or the Wald
MTF), a fixed number of LR pixels per image is drawn (more where the local contrast is higher, where the
detail to learn is), and one extra-trees forest learns the normalised detail blocks. Every ``holdout``-th
image is kept out and scores the forest against bicubic at the end. The forest is written as plain
arrays (``.safetensors``: loading it cannot run code) with its model card, atomically, into
``OUT/export/<id>.safetensors`` + ``.json``, ready for ``--weights`` or ``src/satsr/models/weights/``.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from satsr.data.folders import expand_paths
from satsr.errors import InputError, OptionError
from satsr.io.files import atomic_path
from satsr.io.image import image_dtype, read_image
from satsr.metrics import psnr
from satsr.models.base import ModelCard
from satsr.models.registry import sha256_of
from satsr.models.rfsr import RADIUS, RFSR, SCALES, bicubic, fit_forest, training_samples
from satsr.ops.filters import DEGRADATIONS, degrade


def train_rfsr(data: Sequence[str | Path], scale: int, out_dir: str | Path, *, exclude: Sequence[str | Path] = (),
               samples: int = 300_000, trees: int = 8, leaves: int = 4000, min_leaf: int = 20, holdout: int = 20,
               degradation: str = "bicubic", seed: int = 0, jobs: int = 1, weights_id: str | None = None,
               validity: dict[str, Any] | None = None, log: Callable[[str], None] = print) -> Path:
    """Fit a forest on the HR images ``data`` (files, folders or globs) minus ``exclude``; returns the
    weights path (its card beside it). See the module docstring."""
    if scale not in SCALES:
        raise OptionError(f"rfsr supports scales {list(SCALES)}, not {scale}")
    if degradation not in DEGRADATIONS:
        raise OptionError(f"unknown degradation {degradation!r}; use {' or '.join(DEGRADATIONS)}")
    if samples < 1000 or trees < 1 or leaves < 2 or min_leaf < 1 or holdout < 2:
        raise OptionError("--samples must be at least 1000, --trees and --min-leaf at least 1, --leaves and "
                          "--holdout at least 2")
    skip = set(expand_paths(exclude))
    files = [f for f in expand_paths(data) if f not in skip]
    if len(files) < 2:
        raise InputError(f"{', '.join(map(str, data))}: found {len(files)} HR image(s); give at least 2 "
                         "(files, folders or globs)")
    held = files[holdout - 1::holdout]
    train = [f for f in files if f not in set(held)]
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    per_image = max(1, samples // len(train))
    feats, targets = [], []
    for i, f in enumerate(train):
        hr, lr = _pair(f, scale, degradation)
        x, y = training_samples(hr, lr, scale, None, per_image, rng)
        feats.append(x)
        targets.append(y)
        if (i + 1) % 100 == 0 or i + 1 == len(train):
            log(f"[{i + 1}/{len(train)}] samples drawn ({time.perf_counter() - t0:.0f} s)")
    X, Y = np.concatenate(feats), np.concatenate(targets)
    t_fit = time.perf_counter()
    forest = fit_forest(X, Y, trees=trees, leaves=leaves, min_leaf=min_leaf, seed=seed, jobs=jobs)
    log(f"fitted {trees} trees, {forest.n_nodes} nodes on {len(X)} samples ({time.perf_counter() - t_fit:.0f} s)")
    val = _holdout_scores(RFSR(scale, forest, None), held, scale, degradation)
    elapsed = time.perf_counter() - t0
    log(f"holdout ({len(held)} images): {json.dumps(val)}")

    wid = weights_id or f"rfsr_x{scale}"
    out = Path(out_dir) / "export"
    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"{wid}.safetensors"
    from safetensors.numpy import save

    with atomic_path(weights) as tmp:  # written into the temp file atomic_path made (keeps its permissions)
        tmp.write_bytes(save(forest.to_arrays(), metadata={"id": wid, "model": "rfsr"}))
    command = " ".join(shlex.quote(a) for a in ["satsr", *sys.argv[1:]]) if sys.argv[0].endswith("satsr") else ""
    card = ModelCard(
        id=wid, model="rfsr", scale=scale, bands=1, per_band=True, value_scale=1.0,
        arch={"radius": RADIUS, "trees": trees, "leaves": leaves, "min_leaf": min_leaf},
        description=f"Random-forest SR x{scale} (extra-trees, {trees} trees), normalised 5x5 LR patches -> "
                    "detail over bicubic, per band, unit-free",
        training={"command": command, "data": [str(d) for d in data], "exclude": [str(e) for e in exclude],
                  "images": len(train), "holdout_images": len(held), "samples": int(len(X)), "seed": seed,
                  "config": {"degradation": {"kind": degradation}}, "wall_time_s": round(elapsed, 1),
                  "hardware": f"{jobs} CPU job(s)"},
        metrics={"holdout_validation": val},
        validity=validity or {},
        n_parameters=forest.n_nodes,
        sha256=sha256_of(weights),
    )
    with atomic_path(weights.with_suffix(".json")) as tmp:
        tmp.write_text(card.to_json())
    log(f"exported {weights} ({weights.stat().st_size / 1e6:.1f} MB) in {elapsed:.0f} s")
    return weights


def _pair(path: Path, scale: int, degradation: str) -> tuple[np.ndarray, np.ndarray]:
    img = read_image(path)
    if min(img.shape[-2:]) < 4 * scale:
        raise InputError(f"{path}: {img.shape[-1]}x{img.shape[-2]} px is too small for x{scale}")
    return degrade(img, scale, degradation, image_dtype(path) == "uint8")


def _holdout_scores(model: RFSR, files: Sequence[Path], scale: int, degradation: str) -> dict[str, float]:
    """Mean PSNR of the forest and of bicubic on held-out images (8-bit outputs rounded, border excluded)."""
    if not files:
        return {}
    scores: dict[str, list[float]] = {"model": [], "bicubic": []}
    for f in files:
        hr, lr = _pair(f, scale, degradation)
        eight = image_dtype(f) == "uint8"
        for key, sr in (("model", model.apply(lr, None, np.float64)), ("bicubic", bicubic(lr, scale))):
            if eight:
                sr = np.clip(np.round(sr), 0, 255)
            peak = 255.0 if eight else float(hr.max())
            scores[key].append(float(psnr(sr, hr, data_range=peak, border=scale)))
    ours, bic = float(np.mean(scores["model"])), float(np.mean(scores["bicubic"]))
    return {"psnr_model": round(ours, 4), "psnr_bicubic": round(bic, 4), "psnr_gain": round(ours - bic, 4)}
