"""Super-resolution without training data: rfsr (shipped forests), rfsr self=true, zssr and dip vs bicubic.

UC Merced val, MATLAB-bicubic LR, x2 and x4, scored by ``satsr.evaluate.evaluate_sisr`` (the code behind
``satsr evaluate sisr``: border = scale, 8-bit outputs rounded), bicubic in the same call on the same LR:

* ``--part rfsr``: the shipped ``rfsr_x2`` / ``rfsr_x4`` forests (trained on UC Merced train) on all 105 images;
* ``--part zero-shot``: ``rfsr self=true``, ``zssr`` (budget 60 s per image) and ``dip`` (120 s), each learning
  from the one LR image it is given, on a fixed subset of one image per class (21: the first of each class
  folder, sorted; ``--per-class N`` for more). The full set at these budgets would take about 10 h here;
* ``--part s2``: Wald x2 on a 256 x 256 crop of the 16-bit Sentinel-2 10 m bands (B4, B3, B2, B8 of T33UUB,
  ``sentinel2/dsen2``): ``zssr`` (60 s) with nothing to learn from but the crop's own LR, PSNR and SAM.

    .venv/bin/python benchmarks/zero_shot.py --part rfsr|zero-shot|s2 [--scales 2,4] [--models zssr,dip]
        [--budget-zssr 60] [--budget-dip 120] [--per-class 1] [--threads 1] [--out results.jsonl]

Prints one JSON object; each (model, scale) result is also appended to ``--out`` as it finishes, so a long
run can be followed and survives an interruption. Times are wall seconds per image, fit included, with
``--threads`` torch threads.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"
UCM_VAL = DATA / "ucmerced" / "val"
S2_10M = DATA / "sentinel2" / "dsen2" / "S2A_MSIL1C_20170527_T33UUB_10m.tif"
S2_WINDOW = (200, 200, 256, 256)  # col, row, width, height


def subset(folder: Path, per_class: int, into: Path) -> Path:
    """Links to the first ``per_class`` images of each class folder of ``folder``, under ``into``."""
    for cls in sorted(p for p in folder.iterdir() if p.is_dir()):
        for f in sorted(cls.glob("*.png"))[:per_class]:
            (into / f.name).symlink_to(f.resolve())
    return into


def s2_crop(into: Path) -> Path:
    import rasterio
    from rasterio.windows import Window

    with rasterio.open(S2_10M) as ds:
        win = Window(*S2_WINDOW)
        data = ds.read(window=win)
        profile = {**ds.profile, "width": win.width, "height": win.height, "transform": ds.window_transform(win)}
    path = into / "s2_t33uub_10m_crop.tif"
    with rasterio.open(path, "w", **profile) as out:
        out.write(data)
    return path


def score(hr: Path, scale: int, label: str, model: Any, degradation: str = "bicubic") -> dict[str, Any]:
    from satsr.evaluate import evaluate_sisr

    rep = evaluate_sisr(hr, scale, [model], degradation=degradation)
    bic, row = rep.rows
    gains = np.asarray(rep.per_image[f"{row.model}#1"]) - np.asarray(rep.per_image["bicubic#0"])
    out = {"model": label, "scale": scale, "images": rep.images, "degradation": degradation,
           "psnr": round(row.psnr, 4), "ssim": round(row.ssim, 4),
           "bicubic_psnr": round(bic.psnr, 4), "bicubic_ssim": round(bic.ssim, 4),
           "psnr_gain": round(row.psnr - bic.psnr, 4), "images_better_than_bicubic": int((gains > 0).sum()),
           "seconds_per_image": round(row.seconds / rep.images, 2),
           "bicubic_seconds_per_image": round(bic.seconds / rep.images, 3)}
    if row.sam == row.sam:  # multi-band: spectral angle too
        out.update(sam=round(row.sam, 4), bicubic_sam=round(bic.sam, 4))
    fitted = getattr(model, "fitted", None)
    if fitted is not None:
        out["steps_last_image"] = fitted.steps
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("rfsr", "zero-shot", "s2"), required=True)
    ap.add_argument("--scales", default="2,4")
    ap.add_argument("--models", default="rfsr-self,zssr,dip", help="zero-shot part: which models")
    ap.add_argument("--budget-zssr", type=float, default=60.0, help="seconds of training per image")
    ap.add_argument("--budget-dip", type=float, default=120.0, help="seconds of optimisation per image")
    ap.add_argument("--per-class", type=int, default=1, help="zero-shot part: images per class")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--out", type=Path, default=None, help="append each result to this JSON-lines file")
    args = ap.parse_args()

    import torch

    from satsr.models import registry

    torch.set_num_threads(args.threads)
    scales = [int(s) for s in args.scales.split(",")]
    results = []

    def record(entry: dict[str, Any]) -> None:
        results.append(entry)
        if args.out is not None:
            with open(args.out, "a") as f:
                f.write(json.dumps(entry) + "\n")

    with tempfile.TemporaryDirectory() as tmp:
        if args.part == "rfsr":
            for s in scales:
                record(score(UCM_VAL, s, f"rfsr_x{s}", registry.create("rfsr", s)))
        elif args.part == "zero-shot":
            folder = subset(UCM_VAL, args.per_class, Path(tmp))
            build = {"rfsr-self": lambda s: registry.create("rfsr", s, self=True),
                     "zssr": lambda s: registry.create("zssr", s, budget_s=args.budget_zssr),
                     "dip": lambda s: registry.create("dip", s, budget_s=args.budget_dip)}
            for name in args.models.split(","):
                for s in scales:
                    record(score(folder, s, name, build[name](s)))
        else:
            crop = s2_crop(Path(tmp))
            for deg in ("wald", "bicubic"):  # the sensor's MTF known, or not (a bicubic guess)
                model = registry.create("zssr", 2, budget_s=args.budget_zssr, degradation=deg)
                record({**score(crop, 2, f"zssr (learns {deg})", model, degradation="wald"),
                        "crop": f"{S2_10M.name} window {S2_WINDOW}"})
    print(json.dumps({"part": args.part, "threads": args.threads, "results": results}, indent=1))


if __name__ == "__main__":
    main()
