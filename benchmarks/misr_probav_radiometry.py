"""Diagnostic: how much of a deep fuser's loss on the scored PROBA-V scenes is brightness/contrast?

For each scene with HR, the fused image is mapped onto the clearest LR frame's radiometry (gain and
offset fitted by least squares between the 3x3-averaged fusion and that frame, on its clear pixels;
no HR pixel is used) and scored again with cPSNR. An "oracle" row fits the gain to the HR instead,
as an upper bound for any radiometric correction. Nothing here picks a default: it only explains
the scores in BENCHMARKS.md.

    .venv/bin/python benchmarks/misr_probav_radiometry.py [--method highresnet]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "probav"


def fit_affine(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares ``gain, offset`` with ``gain * x + offset ~ y``."""
    gain, offset = np.linalg.lstsq(np.stack([x, np.ones_like(x)], 1), y, rcond=None)[0]
    return float(gain), float(offset)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="highresnet")
    args = ap.parse_args()

    from satsr.fusion import build_fuser
    from satsr.io.probav import find_imgsets, read_imgset
    from satsr.metrics import cpsnr

    fuser = build_fuser(args.method, 3)
    rows = []
    for path in find_imgsets(ROOT, with_hr=True):
        s = read_imgset(path)
        lr, qm, hr = s.lr.astype(np.float64), s.qm.astype(bool), s.hr.astype(np.float64)
        out = fuser.apply(lr[:, None], qm)[0][0].astype(np.float64)
        h, w = lr.shape[-2:]
        clearest = int(np.argmax(qm.reshape(len(qm), -1).sum(1)))
        clear = qm[clearest]
        g, o = fit_affine(out.reshape(h, 3, w, 3).mean((1, 3))[clear], lr[clearest][clear])
        sm = s.sm.astype(bool)
        og, oo = fit_affine(out[sm], hr[sm])
        rows.append({"scene": path.name, "cpsnr": round(float(cpsnr(out, hr, s.sm)), 3),
                     "gain_to_clearest": round(g, 3),
                     "cpsnr_matched_to_clearest": round(float(cpsnr(out * g + o, hr, s.sm)), 3),
                     "oracle_gain": round(og, 3),
                     "cpsnr_oracle": round(float(cpsnr(out * og + oo, hr, s.sm)), 3)})
    print(json.dumps({"method": args.method, "scenes": rows}))


if __name__ == "__main__":
    main()
