"""Diagnostic on the two scored PROBA-V scenes: how much is resolution, how much is the other dates?

For each scene with HR it prints the challenge cPSNR of

* ``clearest``: the bicubic x3 of the clearest real LR frame (the official baseline on these scenes);
* ``ideal_lr bicubic``: the bicubic x3 of an LR frame made FROM the HR itself (3 x 3 box after a
  Gaussian of ``--sigma`` HR px, plus 30 DN noise): a same-date frame with the simulator's optics,
  so what is left is the interpolation error alone;
* each deep fuser given that ideal frame alone (``max_frames=1``): its single-image sharpening.

If ``clearest`` is close to ``ideal_lr bicubic``, the clearest frame is as good as a same-date
frame and the scene is a single-image SR problem; other dates can only add surface change. This is
a diagnostic to explain the scores: nothing here is used for training or to choose any setting.

    .venv/bin/python benchmarks/misr_probav_ceiling.py [--sigma 0.6 1.0] [--methods highresnet rams]
        [--weights NAME=PATH.safetensors ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "probav"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sigma", type=float, nargs="+", default=[0.6, 1.0], help="Gaussian of the ideal LR (HR px)")
    ap.add_argument("--methods", nargs="+", default=["highresnet", "rams", "trmisr", "piunet"])
    ap.add_argument("--weights", nargs="*", default=[], help="NAME=PATH.safetensors instead of the shipped ones")
    args = ap.parse_args()
    torch.set_num_threads(1)

    from misr_semireal import reduce3  # the 3x area reduction of the semi-real benchmarks (same folder)
    from satsr.fusion import build_fuser
    from satsr.io.probav import find_imgsets, read_imgset
    from satsr.metrics import cpsnr
    from satsr.models.misr_classical import bicubic_upscale
    from satsr.ops.filters import gaussian_blur

    weights = dict(w.split("=", 1) for w in args.weights)
    fusers = {m: build_fuser(m, 3, max_frames=1, **({"weights": weights[m]} if m in weights else {}))
              for m in args.methods}
    out: dict[str, dict] = {}
    for path in find_imgsets(ROOT, with_hr=True):
        s = read_imgset(path)
        hr, sm = s.hr.astype(np.float64), s.sm
        row: dict[str, object] = {"band": s.band, "clearest": round(cpsnr(bicubic_upscale(s.lr[0], 3), hr, sm), 3)}
        rng = np.random.default_rng(0)
        for sig in args.sigma:
            lr, clear = reduce3(gaussian_blur(hr, sig)[None], np.ones((1, *hr.shape), bool))
            lr = lr + 30.0 * rng.standard_normal(lr.shape)
            ideal = {"bicubic": round(cpsnr(bicubic_upscale(lr[0], 3), hr, sm), 3)}
            for m, f in fusers.items():
                ideal[m] = round(cpsnr(f.apply(lr[:, None], clear)[0][0], hr, sm), 3)
            row[f"ideal_lr sigma={sig}"] = ideal
        out[path.name] = row
    print(json.dumps(out))


if __name__ == "__main__":
    main()
