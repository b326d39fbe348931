"""Deep fusers on semi-real revisits built from PROBA-V scenes that are NOT scored.

Same cases as ``benchmarks/misr_semireal.py`` (test/ and lr_only/ scenes only; the scored train/
scenes with HR are never read): one of the clearest real 128 x 128 LR frames plays the HR image (its
quality map the status map), the scene's other frames reduced 3x by 3 x 3 area averaging (clear only
where all 9 pixels are) are the revisits. Texture, revisit-to-revisit changes, clouds and quality-map
misses are real; the 3x reduction is a plain box (sharper than the PSF the deep models were trained
for, so their deblurring is not what this measures: it checks their robustness to real temporal
changes).

    .venv/bin/python benchmarks/misr_deep_semireal.py [--holdouts 3] [--methods baseline median highresnet rams]
        [--only lr_only/val] [--anchor] [--frames N]

``--only`` keeps the scenes under the given folders (relative to the PROBA-V root): models fine-tuned
on semi-real pairs (``task_options.real_stacks``) saw test/ and lr_only/train, so they are compared on
lr_only/val alone.

``--anchor`` also puts the held-out frame's own 3x reduction before the other revisits (fusers
order frames by clearance, so it leads among equally clear ones; lr_only/ frames are all clear):
the stack then holds the target's date (as a challenge stack holds frames of the HR's date or close to it),
so a method gains by sharpening that frame and borrowing only what the other dates agree on. With
``--anchor --frames 1`` every method sees that frame alone: single-image SR of real PROBA-V
texture (900 m -> 300 m), the baseline being its bicubic upscaling.

A method may carry options after a colon, e.g. ``highresnet:max_frames=4`` (as ``satsr fuse --set``).

Prints one JSON object: per method the mean score (cPSNR of the baseline / cPSNR of the method on the
same frames; < 1 beats the baseline) and the number of cases it beats the baseline.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "probav"


def build_method(text: str) -> object:
    """``name`` or ``name:key=value,key=value`` -> a fuser (options parsed like ``satsr fuse --set``)."""
    from satsr.cli.options import parse_options
    from satsr.fusion import build_fuser

    name, _, rest = text.partition(":")
    return build_fuser(name, 3, **parse_options([i for i in rest.split(",") if i]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--holdouts", type=int, default=3)
    ap.add_argument("--methods", nargs="+", default=["baseline", "median", "shiftadd", "highresnet", "rams"])
    ap.add_argument("--only", nargs="*", default=[], help="scene folders to keep, e.g. lr_only/val")
    ap.add_argument("--anchor", action="store_true", help="the held-out frame's own reduction is the first revisit")
    ap.add_argument("--frames", type=int, default=0, help="keep only the first N revisits (0: all)")
    args = ap.parse_args()
    torch.set_num_threads(1)

    from misr_semireal import reduce3  # same 3x area reduction as the classical benchmark (same folder)
    from satsr.fusion import build_fuser
    from satsr.io.probav import find_imgsets, read_imgset
    from satsr.metrics import cpsnr

    fusers = {m: build_method(m) for m in args.methods}
    scenes = find_imgsets(ROOT, with_hr=False)  # test/ and lr_only/: scenes without HR
    if args.only:
        scenes = [p for p in scenes if any(p.relative_to(ROOT).as_posix().startswith(o.rstrip("/") + "/")
                                           for o in args.only)]
    scores: dict[str, list[float]] = {m: [] for m in fusers}
    cases = []
    for p in scenes:
        s = read_imgset(p)
        if s.hr is not None:  # never a scored scene
            continue
        for k in range(min(args.holdouts, len(s.lr))):
            hr, sm = s.lr[k, :126, :126].astype(np.float64), s.qm[k, :126, :126]
            rest = [i for i in range(len(s.lr)) if i != k]
            lr, qm = reduce3(s.lr[rest].astype(np.float64), s.qm[rest])
            order = np.argsort(-qm.reshape(len(qm), -1).sum(1), kind="stable")
            lr, qm = lr[order], qm[order]
            if args.anchor:
                own, own_qm = reduce3(s.lr[k : k + 1].astype(np.float64), s.qm[k : k + 1])
                lr, qm = np.concatenate([own, lr]), np.concatenate([own_qm, qm])  # first among equals
            if args.frames:
                lr, qm = lr[: args.frames], qm[: args.frames]
            lr = lr[:, None]
            outs = {m: f.apply(lr, qm)[0][0] for m, f in fusers.items()}
            base = cpsnr(build_fuser("baseline", 3).apply(lr, qm)[0][0], hr, sm)
            for m, out in outs.items():
                scores[m].append(float(base / cpsnr(out, hr, sm)))
            cases.append(f"{p.relative_to(ROOT)} holdout {s.frame_names[k]}")
    result = {"cases": len(cases), "methods": {m: {"score": round(float(np.mean(v)), 5),
                                                   "wins": int(np.sum(np.array(v) < 1))}
                                               for m, v in scores.items()}}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
