"""Control for the real-pair model: how much of its PSNR gain is radiometry, not detail?

Sensors differ in tone curves as well as in optics, and the per-block linear harmonisation of
``satsr evaluate real`` leaves the non-linear part. A model trained on real pairs can learn that part
too. This control fits, on the TRAINING pairs only (``satsr pairs`` output, e.g. runs/realpairs/s2_aerial),
a per-band monotone tone curve from bicubic-upscaled LR values to the aligned reference (isotonic
regression, scikit-image-free: binned means made monotone), applies it to bicubic on the validation strip
and scores it with the same protocol. The gap between "bicubic + tone curve" and bicubic is radiometry;
what a model gains beyond it is spatial.

    .venv/bin/python benchmarks/real_tone_control.py --pairs runs/realpairs/s2_aerial
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "crosssensor"
STRIP = (-55600.0, -3731100.0, -52300.0, -3722600.0)


def tone_curves(pairs: Path, scale: int, bins: int = 64) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per band (knots, values): mean reference value per bin of bicubic value, made non-decreasing."""
    import satsr
    from satsr.io.image import read_image

    xs: list[list[np.ndarray]] = []
    ys: list[list[np.ndarray]] = []
    for lr_file in sorted((pairs / "LR").glob("*.tif")):
        lr = read_image(lr_file)
        hr = read_image(pairs / "HR" / lr_file.name)
        bic = np.asarray(satsr.upscale(lr, scale=scale, model="bicubic", tile=None), np.float64)
        for b in range(lr.shape[0]):
            while len(xs) <= b:
                xs.append([]), ys.append([])
            xs[b].append(bic[b].ravel())
            ys[b].append(hr[b].ravel())
    curves = []
    for bx, by in zip(xs, ys, strict=True):
        x, y = np.concatenate(bx), np.concatenate(by)
        edges = np.quantile(x, np.linspace(0, 1, bins + 1))
        idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, bins - 1)
        knots = np.array([x[idx == i].mean() for i in range(bins) if (idx == i).any()])
        vals = np.maximum.accumulate(np.array([y[idx == i].mean() for i in range(bins) if (idx == i).any()]))
        curves.append((knots, vals))
    return curves


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=Path, default=Path("runs/realpairs/s2_aerial"))
    ap.add_argument("--models", default="edsr-real")
    args = ap.parse_args()
    from satsr.evaluate.real import evaluate_real
    from satsr.models.base import Upscaler
    from satsr.ops.resize import imresize

    curves = tone_curves(args.pairs, 2)

    class BicubicTone(Upscaler):
        """Bicubic, then the per-band tone curve fitted on the training pairs."""

        name = "bicubic+tone"
        scale = 2
        margin = 3

        def __call__(self, x: np.ndarray) -> np.ndarray:
            up = np.asarray(imresize(x, (x.shape[-2] * 2, x.shape[-1] * 2), kernel="bicubic"), np.float64)
            return np.stack([np.interp(b, k, v) for b, (k, v) in zip(up, curves, strict=True)]).astype(np.float32)

    models = [BicubicTone(), *[m for m in args.models.split(",") if m]]
    rep = evaluate_real(DATA / "s2_b432_10m.tif", DATA / "ngi_rgb_5m_1.tif", 2, models, bounds=STRIP)
    print(json.dumps({"rows": rep.rows, "alignment": rep.alignment}, indent=1))


if __name__ == "__main__":
    main()
