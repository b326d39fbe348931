"""Every shipped single-image model against REAL finer sensors, next to its synthetic numbers.

Two real pairs from ``../shared/data/crosssensor`` (research use only), both scored on the validation strip
east of x = -55600 m (never used for training):

* Sentinel-2 10 m (B4, B3, B2) -> aerial NGI 5 m (``ngi_rgb_5m_1``), x2;
* Landsat 8 30 m (SR_B4, SR_B3, SR_B2) -> Sentinel-2 10 m, x3.

``satsr.evaluate.real.evaluate_real`` reprojects, co-registers (blocks of 64 LR px) and harmonises the
reference; bicubic runs in the same call. A model is scored when weights for that scale are shipped (or
it takes any scale) and it accepts 3 bands. Each row also carries the model's synthetic gain over
bicubic from its card (UC Merced val for RGB models, the Wald protocol for multispectral ones): the
synthetic-to-real gap. Prints one JSON object.

    .venv/bin/python benchmarks/real_world.py [--pairs s2,l8]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "crosssensor"
STRIP = (-55600.0, -3731100.0, -52300.0, -3722600.0)  # left, bottom, right, top (validation strip)
PAIRS = {
    "s2": {"lr": "s2_b432_10m.tif", "reference": "ngi_rgb_5m_1.tif", "scale": 2, "bands": None,
           "reference_bands": None},
    "l8": {"lr": "l8_sr_30m.tif", "reference": "s2_b432_10m.tif", "scale": 3, "bands": [4, 3, 2],
           "reference_bands": [1, 2, 3]},
}


def candidates(scale: int) -> list[str]:
    """Registry names with shipped weights at ``scale`` (or for any scale) that take 3 bands."""
    from satsr.models import registry

    names = set()
    for card in registry.list_cards():
        if card.kind != "sisr" or not (card.per_band or card.bands == 3):
            continue
        spec = registry.get_spec(card.model)
        if card.scale == scale or spec.continuous is not None:
            names.add(card.model)
    return sorted(names)


def synthetic_gain(model: str, scale: int) -> float | None:
    """The model's synthetic gain over bicubic (dB) from its card, at ``scale`` when recorded."""
    from satsr.models import registry

    cards = [c for c in registry.list_cards() if c.model == model]
    card = next((c for c in cards if c.scale == scale), cards[0] if cards else None)
    if card is None:
        return None
    if card.trained_on_real_pairs:
        return None  # no synthetic number for a model trained on real pairs
    # An independent validation set (model and bicubic PSNR side by side) beats the training holdout.
    held = None
    for entry in card.metrics.values():
        if not isinstance(entry, dict) or entry.get("scale", scale) != scale:
            continue
        ours, bicubic = entry.get("model"), entry.get("bicubic")
        if isinstance(ours, dict) and isinstance(bicubic, dict) and "psnr" in ours and "psnr" in bicubic:
            return round(float(ours["psnr"]) - float(bicubic["psnr"]), 4)
        if "psnr_gain" in entry and held is None:
            held = float(entry["psnr_gain"])
    return held


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", default="s2,l8")
    args = ap.parse_args()
    from satsr.evaluate.real import evaluate_real

    out = {}
    for key in args.pairs.split(","):
        p = PAIRS[key]
        models = candidates(p["scale"])
        rep = evaluate_real(DATA / p["lr"], DATA / p["reference"], p["scale"], models, bands=p["bands"],
                            reference_bands=p["reference_bands"], bounds=STRIP)
        rows = rep.to_json()["rows"]
        for row in rows:
            row["synthetic_gain_db"] = None if row["model"] == "bicubic" else synthetic_gain(row["model"], p["scale"])
        out[key] = {"scale": p["scale"], "lr": p["lr"], "reference": p["reference"], "alignment": rep.alignment,
                    "window": rep.window, "rows": rows}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
