"""Check shift-and-add settings on semi-real revisits built from PROBA-V scenes that are NOT scored.

The scored scenes (train/, with HR.png) are for evaluation only, so settings are checked here on the
test/ and lr_only/ scenes: one real 128 x 128 LR frame (a clear one) plays the HR image (its quality
map the status map) and the scene's other frames, reduced 3x by 3 x 3 area averaging (quality maps:
clear only where all 9 pixels are), are the LR revisits. Everything but the 3x reduction is real:
texture, revisit-to-revisit radiometric changes, clouds, and what the quality maps miss. Sub-pixel
offsets are real too, but a third as large as the originals, so this mostly tests robustness.

Prints one JSON object: per method the mean score (cPSNR of the baseline / cPSNR of the method on
the same frames; < 1 beats the baseline) over scenes x held-out frames.

    .venv/bin/python benchmarks/misr_semireal.py [--holdouts 3]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from satsr.io.probav import find_imgsets, read_imgset
from satsr.metrics import cpsnr
from satsr.models.misr_classical import BaselineFuser, MedianFuser, ShiftAddFuser

ROOT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "probav"
PLAIN = {"sigma": 0.5, "reference": "mean", "normalize": True, "min_clearance": 0.0, "frame_weights": False,
         "robust_iterations": 0, "mask_buffer": 0}
ROBUST = PLAIN | {"min_clearance": 0.9, "frame_weights": True, "robust_iterations": 2}
CONFIGS: dict[str, dict] = {  # every setting spelled out, whatever ShiftAddFuser's defaults are
    "plain (sigma=0.5, no robustness)": PLAIN,
    "plain + min_clearance=0.9": PLAIN | {"min_clearance": 0.9},
    "plain + frame_weights": PLAIN | {"frame_weights": True},
    "plain + robust=2": PLAIN | {"robust_iterations": 2},
    "plain + frame_weights robust=2": PLAIN | {"frame_weights": True, "robust_iterations": 2},
    "robust: min_clearance=0.9 frame_weights robust=2 (the defaults)": ROBUST,
    "robust sigma=0.75": ROBUST | {"sigma": 0.75},
    "plain normalize=False": PLAIN | {"normalize": False},
}


def reduce3(frames: np.ndarray, qm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t, h, w = frames.shape
    h3, w3 = h // 3 * 3, w // 3 * 3
    f = frames[:, :h3, :w3].reshape(t, h3 // 3, 3, w3 // 3, 3).mean((2, 4))
    m = qm[:, :h3, :w3].reshape(t, h3 // 3, 3, w3 // 3, 3).all((2, 4))
    return f, m


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--holdouts", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    scenes = [p for p in find_imgsets(ROOT, with_hr=False)]
    scores: dict[str, list[float]] = {}
    cases = []
    for p in scenes:
        s = read_imgset(p)
        for k in range(min(args.holdouts, len(s.lr))):
            hr, sm = s.lr[k, :126, :126].astype(np.float64), s.qm[k, :126, :126]
            rest = [i for i in range(len(s.lr)) if i != k]
            lr, qm = reduce3(s.lr[rest].astype(np.float64), s.qm[rest])
            order = np.argsort(-qm.reshape(len(qm), -1).sum(1), kind="stable")
            lr, qm = lr[order][:, None], qm[order]
            outs = {"baseline": BaselineFuser(3)(lr, qm), "median": MedianFuser(3)(lr, qm)}
            for label, cfg in CONFIGS.items():
                outs["shiftadd " + label] = ShiftAddFuser(3, **cfg)(lr, qm)
            base = cpsnr(outs["baseline"][0], hr, sm)
            for name, out in outs.items():
                scores.setdefault(name, []).append(base / cpsnr(out[0], hr, sm))
            cases.append(f"{p.parent.parent.name}/{p.parent.name}/{p.name} holdout {s.frame_names[k]}")
            print(cases[-1], file=sys.stderr)
    result = {"cases": cases, "methods": {n: {"score": float(np.mean(v)), "wins": int(np.sum(np.array(v) < 1)),
                                                "per_case": [round(x, 5) for x in v]} for n, v in scores.items()}}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
