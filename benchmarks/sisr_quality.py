"""Quality of every shipped single-image model against bicubic, on data none of them was trained on.

RGB models (trained on UC Merced train): PSNR/SSIM on ``ucmerced/val`` at each scale they ship
for, MATLAB-bicubic LR, border = scale, per-channel mean PSNR (``satsr.evaluate.evaluate_sisr``,
the same code as ``satsr evaluate sisr``). Multispectral per-band models (trained Wald-style on
Landsat 8 / Sentinel-2): PSNR, SSIM and SAM under the Wald protocol on the held-out Sentinel-2
10 m crop (B2/B3/B4/B8 of T33UUB) and Landsat 8 path/row 224/077 B2, neither of which is a
training source. Bicubic always runs on the same LR in the same call.

    .venv/bin/python benchmarks/sisr_quality.py [--limit N] [--scales 2,3,4] [--models a,b] [--write-cards]

Prints one JSON object. ``--write-cards`` stores each model's numbers under ``metrics`` in its
card (``src/satsr/models/weights/<id>.json``) so ``satsr models``/``satsr info`` show them. Models trained on
real pairs of two sensors (``edsr-real``) are left out: a synthetic pair is outside where they are valid
(``benchmarks/real_world.py`` scores them).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"
UCM_VAL = DATA / "ucmerced" / "val"
MS_HELD_OUT = {
    "sentinel2_T33UUB_10m": DATA / "sentinel2" / "dsen2" / "S2A_MSIL1C_20170527_T33UUB_10m.tif",
    "landsat8_224077_B2": DATA / "landsat" / "l8" / "LC08_L1TP_224077_20200518_20200518_01_RT_B2.TIF",
}


def _row(report: object, name: str) -> dict[str, float]:
    row = next(r for r in report.rows if r.model == name)  # type: ignore[attr-defined]
    out = {"psnr": round(row.psnr, 4), "ssim": round(row.ssim, 4)}
    if row.sam == row.sam:  # not NaN
        out["sam"] = round(row.sam, 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="first N images of each set only")
    ap.add_argument("--scales", default="2,3,4", help="only the shipped models of these scales")
    ap.add_argument("--models", default=None, help="only these registry names (comma-separated)")
    ap.add_argument("--write-cards", action="store_true", help="store the numbers in the shipped model cards")
    args = ap.parse_args()

    from satsr.evaluate import evaluate_sisr
    from satsr.models.registry import WEIGHTS_DIR, list_cards

    scales = {int(x) for x in args.scales.split(",")}
    only = set(args.models.split(",")) if args.models else None
    cards = [c for c in list_cards() if c.kind == "sisr" and c.scale in scales and (only is None or c.model in only)
             and not c.trained_on_real_pairs]
    results: dict[str, dict] = {}
    # the protocol a card's weights were trained for: MATLAB bicubic (UC Merced RGB) or Wald (multispectral)
    wald = [c for c in cards if ((c.training or {}).get("config") or {}).get("degradation", {}).get("kind") == "wald"]
    rgb = [c for c in cards if c not in wald]
    for scale in sorted({c.scale for c in rgb}):
        names = [c.model for c in rgb if c.scale == scale]
        rep = evaluate_sisr(UCM_VAL, scale, names, limit=args.limit)
        bic = _row(rep, "bicubic")
        for c in rgb:
            if c.scale == scale:
                r = _row(rep, c.model)
                results[c.id] = {"ucmerced_val": {"images": rep.images, "scale": scale, "model": r, "bicubic": bic,
                                                  "psnr_gain": round(r["psnr"] - bic["psnr"], 4)}}
    for c in wald:
        entry = {}
        for key, path in MS_HELD_OUT.items():
            if not path.exists():
                continue
            rep = evaluate_sisr(path, c.scale, [c.model], degradation="wald")
            r, bic = _row(rep, c.model), _row(rep, "bicubic")
            entry[f"wald_{key}"] = {"scale": c.scale, "model": r, "bicubic": bic,
                                    "psnr_gain": round(r["psnr"] - bic["psnr"], 4)}
        results[c.id] = entry
    print(json.dumps(results, indent=1))
    if args.write_cards and args.limit is None:
        for cid, metrics in results.items():
            path = WEIGHTS_DIR / f"{cid}.json"
            card = json.loads(path.read_text())
            card.setdefault("metrics", {}).update(metrics)
            path.write_text(json.dumps(card, indent=2) + "\n")


if __name__ == "__main__":
    main()
