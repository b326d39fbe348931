"""Choose shift-and-add settings on simulated PROBA-V-like revisits (never on the evaluation scenes).

HR truth: 192 x 192 patches of the Landsat 8 crops in ../shared/data/landsat/l8, first reduced 3x
(MATLAB bicubic) to ~90 m, i.e. PROBA-V's 100 m HR look. Each of T LR frames (x3 smaller) is the HR
shifted by a random sub-pixel offset (distributed as the offsets measured between revisits of the
non-scored PROBA-V scenes: normal, sigma 0.12 LR px, plus 10 % outliers uniform in +-1.2 px),
blurred by a Gaussian optics PSF (sigma 1 HR px), integrated over 3 x 3 detector footprints, given
the radiometric differences measured between revisits of non-evaluation PROBA-V scenes (test/ and
lr_only/: gains 0.65-1.15, residuals 10-40 % of the scene std, mostly smooth): a per-frame gain and
offset, a smooth "change" field, white noise, clouds with soft edges on half of the frames (the
quality map flags the core plus one pixel, not the whole halo) and undetected haze on a fifth of
them (imperfect quality maps, as PROBA-V's are).

Prints one JSON object: per method the mean score (cPSNR of the baseline / cPSNR of the method,
the challenge's normalisation; < 1 beats the baseline) over the patches, and the mean cPSNR.

    .venv/bin/python benchmarks/misr_simulated.py [--patches 16] [--frames 12] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
import torch
from scipy import ndimage

from satsr.metrics import cpsnr
from satsr.models.misr_classical import BaselineFuser, MedianFuser, ShiftAddFuser
from satsr.ops.registration import register_stack
from satsr.ops.resize import downsample_bicubic

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "landsat" / "l8"
SCALE = 3
HR = 192
# every setting spelled out, so labels stay true whatever ShiftAddFuser's defaults are
PLAIN = {"sigma": 0.5, "reference": "mean", "normalize": True, "min_clearance": 0.0, "frame_weights": False,
         "robust_iterations": 0, "mask_buffer": 0}
ROBUST = PLAIN | {"min_clearance": 0.9, "frame_weights": True, "robust_iterations": 2}


def hr_patches(n: int) -> list[np.ndarray]:
    """Fill-free 192 x 192 patches from the Landsat 8 crops reduced to ~90 m."""
    out = []
    for f in sorted(DATA.glob("*.TIF")):
        with rasterio.open(f) as ds:
            arr = ds.read().astype(np.float32)
        for band in arr:
            small = downsample_bicubic(band[None], 3)[0]
            for r in range(0, small.shape[0] - HR + 1, HR):
                for c in range(0, small.shape[1] - HR + 1, HR):
                    p = band[r * 3:(r + HR) * 3, c * 3:(c + HR) * 3]
                    if (p == 0).any():
                        continue
                    out.append(small[r:r + HR, c:c + HR].astype(np.float64))
    rng = np.random.default_rng(123)
    rng.shuffle(out)
    return out[:n]


def simulate(hr: np.ndarray, frames: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    std = hr.std()
    lrs, qms = [], []
    for t in range(frames):
        # offsets (LR px) as measured on the non-scored PROBA-V scenes: a tight cluster (robust
        # sigma ~0.12 px) plus ~10 % of frames off by up to about a pixel
        d = rng.normal(0, 0.12, 2) if t else np.zeros(2)
        if t and rng.random() < 0.1:
            d = rng.uniform(-1.2, 1.2, 2)
        shifted = ndimage.shift(hr, SCALE * d, order=3, mode="nearest")
        blurred = ndimage.gaussian_filter(shifted, 1.0, mode="nearest")
        lr = blurred.reshape(HR // SCALE, SCALE, HR // SCALE, SCALE).mean((1, 3))
        gain, offset = rng.uniform(0.75, 1.15), rng.normal(0, 0.05) * hr.mean()
        change = ndimage.gaussian_filter(rng.standard_normal(lr.shape), 2.0)
        change *= rng.uniform(0.05, 0.3) * std / change.std()
        lr = gain * lr + offset + change + rng.normal(0, 0.03 * std, lr.shape)
        qm = np.ones(lr.shape, bool)
        if t and rng.random() < 0.5:
            # a cloud with a soft edge: the quality map flags its core (plus one pixel), not all the halo
            field = ndimage.gaussian_filter(rng.standard_normal(lr.shape), 4.0)
            thr, spread = np.quantile(field, rng.uniform(0.6, 0.97)), 0.5 * field.std()
            opacity = np.clip((field - thr + spread) / spread, 0, 1)
            lr = lr * (1 - opacity) + opacity * (lr.max() + 2 * std)
            qm = ~ndimage.binary_dilation(field > thr)
        if t and rng.random() < 0.2:
            # undetected haze: a smooth brightening the quality map misses entirely
            haze = ndimage.gaussian_filter(rng.standard_normal(lr.shape), 6.0)
            haze = np.clip(haze / haze.std() - 1.0, 0, None)
            lr = lr + rng.uniform(0.3, 1.0) * std * haze
        lrs.append(lr)
        qms.append(qm)
    lr, qm = np.stack(lrs), np.stack(qms)
    order = np.argsort(-qm.reshape(frames, -1).sum(1), kind="stable")
    return lr[order][:, None], qm[order]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patches", type=int, default=16)
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    scores: dict[str, list[float]] = {}
    psnrs: dict[str, list[float]] = {}
    for k, hr in enumerate(hr_patches(args.patches)):
        lr, qm = simulate(hr, args.frames, rng)
        outs = {"baseline": BaselineFuser(SCALE)(lr, qm), "median": MedianFuser(SCALE)(lr, qm)}
        shifts = {ref: np.array([r.shift for r in register_stack(lr, qm, reference=ref)]) for ref in (0, "mean")}
        configs: dict[str, dict] = {f"plain sigma={sg}": PLAIN | {"sigma": sg} for sg in (0.3, 0.5, 0.75, 1.0, 1.5)}
        configs |= {f"robust sigma={sg}": ROBUST | {"sigma": sg} for sg in (0.5, 0.75, 1.0, 1.5)}
        configs |= {
            "plain sigma=0.5 ref=0": PLAIN | {"reference": 0},
            "plain sigma=0.5 normalize=False": PLAIN | {"normalize": False},
            "plain + frame_weights": PLAIN | {"frame_weights": True},
            "plain + robust=2": PLAIN | {"robust_iterations": 2},
            "plain + frame_weights robust=2": PLAIN | {"frame_weights": True, "robust_iterations": 2},
            "plain + min_clearance=0.9": PLAIN | {"min_clearance": 0.9},
            "plain + mask_buffer=1": PLAIN | {"mask_buffer": 1},
            "plain + min_clearance=0.9 robust=2": PLAIN | {"min_clearance": 0.9, "robust_iterations": 2},
            "robust: min_clearance=0.9 frame_weights robust=2 (the defaults)": ROBUST,
            "robust + mask_buffer=1": ROBUST | {"mask_buffer": 1},
            "robust ref=0": ROBUST | {"reference": 0},
        }
        for label, cfg in configs.items():
            fu = ShiftAddFuser(SCALE, **cfg)
            keep = fu.select_frames(qm)
            # shifts come from registering all frames (computed once per patch, for speed)
            outs["shiftadd " + label] = fu.fuse_registered(lr[keep], fu.prepare_masks(qm[keep]),
                                                           shifts[fu.reference][keep])
        base = cpsnr(outs["baseline"][0], hr, value_scale=65535.0)
        for name, out in outs.items():
            c = cpsnr(out[0], hr)
            scores.setdefault(name, []).append(base / c)
            psnrs.setdefault(name, []).append(c)
        print(f"patch {k} done ({time.time() - t0:.0f} s)", file=sys.stderr)
    result = {
        "patches": len(next(iter(scores.values()))), "frames": args.frames, "seed": args.seed,
        "methods": {n: {"score": float(np.mean(v)), "cpsnr": float(np.mean(psnrs[n])),
                        "wins": int(np.sum(np.array(v) < 1))} for n, v in scores.items()},
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
