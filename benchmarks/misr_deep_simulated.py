"""Deep multi-image SR on simulated PROBA-V-like revisits (never the evaluation scenes).

The stacks are those the training runs monitor: ``satsr.data.revisits.simulate_revisits`` applied to
192 x 192 HR patches of the held-out Landsat 8 path/row 224/077 B2 crop (never a training source),
with the simulator settings of ``configs/highresnet_x3.yaml`` and fixed seeds, 8 frames each (the
clearest of 9-24 simulated; ``--frames`` changes it).
Every method sees the same stacks; the score is cPSNR(baseline) / cPSNR(method) averaged over the
stacks (the challenge's normalisation: < 1 beats the official baseline).

    .venv/bin/python benchmarks/misr_deep_simulated.py [--stacks 12] [--methods baseline shiftadd highresnet]
                                                        [--tta] [--weights NAME=PATH.safetensors ...]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def stacks(n: int, frames: int | None = None) -> list[dict[str, torch.Tensor]]:
    from satsr.data.revisits import psf_margin
    from satsr.train import misr
    from satsr.train.config import load_config

    cfg, base = load_config(ROOT / "configs" / "highresnet_x3.yaml")
    opt = {**misr.DEFAULTS, **cfg.task_options}
    params = misr.revisit_params(opt)
    side = int(opt["val_patch"])
    imgs, probs, _ = misr.load_sources(opt["val_sources"], base, cfg.data.exclude, opt["hr_gsd"],
                                       side + 2 * psf_margin(params, cfg.scale))
    k = frames or int(np.mean(opt["frames"]))
    vopt = {**opt, "frames": [k, k]}
    if k > params.n_frames[1]:
        from dataclasses import replace

        params = replace(params, n_frames=(k, k))
    ds = misr.RevisitStacks(imgs, probs, side, cfg.scale, params, vopt, length=n, batch=1,
                            seed=10_000 + cfg.seed, value_scale=cfg.data.value_scale)
    return [ds[i] for i in range(n)]


def neural(name: str, weights: str | None, **options: object) -> object:
    """A deep fuser: shipped weights, a ``.safetensors`` file, or a training checkpoint."""
    from satsr.models import registry

    if weights is None or not weights.endswith(".ckpt"):
        return registry.create(name, 3, **({"weights": weights} if weights else {}), **options)
    from satsr.train.common import load_matching

    ckpt = Path(weights)
    cfg = json.loads((ckpt.parents[1] / "config.json").read_text())
    net = registry.build_net(name, 3, cfg["bands"], **cfg["arch"])
    load_matching(net, ckpt)
    module = __import__(f"satsr.models.{registry.get_spec(name).factory.__module__.rsplit('.', 1)[-1]}",
                        fromlist=["wrap"])
    return module.wrap(net, name=name, scale=3, **options)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stacks", type=int, default=12)
    ap.add_argument("--frames", type=int, default=None, help="frames per stack (default: 8, as in training)")
    ap.add_argument("--methods", nargs="+", default=["baseline", "shiftadd", "highresnet", "rams"])
    ap.add_argument("--tta", action="store_true", help="also run the deep models with the 8-fold self-ensemble")
    ap.add_argument("--weights", nargs="*", default=[],
                    help="NAME=PATH: weights other than the shipped ones (.safetensors with its card, or a "
                         "training checkpoint runs/<run>/ckpt/last.ckpt)")
    args = ap.parse_args()
    torch.set_num_threads(1)

    from satsr import metrics
    from satsr.fusion import build_fuser
    from satsr.models import registry

    weights = dict(w.split("=", 1) for w in args.weights)
    data = stacks(args.stacks, args.frames)
    runs: list[tuple[str, object]] = []
    for m in args.methods:
        spec = registry.get_spec(m)
        if spec.neural:
            runs.append((m, neural(m, weights.get(m))))
            if args.tta:
                runs.append((f"{m}+tta", neural(m, weights.get(m), tta=True)))
        else:
            runs.append((m, build_fuser(m, 3)))
    cps: dict[str, list[float]] = {name: [] for name, _ in runs}
    secs: dict[str, float] = {name: 0.0 for name, _ in runs}
    for st in data:
        frames, masks = st["lr"].numpy(), st["qm"].numpy()
        hr, sm = st["hr"][0].numpy(), st["sm"].numpy()
        for name, fuser in runs:
            t0 = time.perf_counter()
            sr = np.asarray(fuser(frames, masks))[0]
            secs[name] += time.perf_counter() - t0
            cps[name].append(float(metrics.cpsnr(sr, hr, sm, value_scale=1.0)))  # data already / 65535
    base = np.array(cps["baseline"]) if "baseline" in cps else None
    out = {"stacks": len(data), "frames": int(data[0]["lr"].shape[0]), "methods": {}}
    for name, vals in cps.items():
        v = np.array(vals)
        row = {"cpsnr": round(float(v.mean()), 4), "seconds": round(secs[name], 1)}
        if base is not None:
            row["score"] = round(float(np.mean(base / v)), 5)
        out["methods"][name] = row
    print(json.dumps(out))


if __name__ == "__main__":
    main()
