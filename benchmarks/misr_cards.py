"""Measure every shipped multi-image weight and store the numbers in its model card.

Runs, for each ``misr`` card in ``satsr/models/weights`` (or the ``--weights`` files given):

* ``misr_deep_simulated.py``: 12 simulated stacks of the held-out Landsat 8 224/077 crop;
* ``misr_deep_semireal.py --only lr_only/val --holdouts 6``: real PROBA-V revisits never used in
  training, in its three modes (held-out date excluded, ``--anchor``, ``--anchor --frames 1``);
* ``satsr evaluate probav``: the two scored PROBA-V scenes (reported, never used to choose anything).

    .venv/bin/python benchmarks/misr_cards.py [--models highresnet rams] [--write-cards]
    .venv/bin/python benchmarks/misr_cards.py --weights highresnet=runs/x/export/highresnet_x3.safetensors

Each benchmark is run as its own process with its documented command, so the card holds exactly
what that command prints. Prints one JSON object; ``--write-cards`` stores each entry under
``metrics`` in the shipped card (only for shipped weights).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROBAV = HERE.parent / ".." / "shared" / "data" / "probav"
SEMIREAL_MODES = {"semireal_lr_only_val": [], "semireal_lr_only_val_anchor": ["--anchor"],
                  "semireal_lr_only_val_anchor_1frame": ["--anchor", "--frames", "1"]}


def _json_of(cmd: list[str]) -> dict:
    """Run a benchmark command and parse the JSON object on its last stdout line."""
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(model: str, weights: str | None) -> dict:
    py = sys.executable
    method = model + (f":weights={weights}" if weights else "")
    sim_cmd = [py, str(HERE / "misr_deep_simulated.py"), "--methods", "baseline", model]
    if weights:
        sim_cmd += ["--weights", f"{model}={weights}"]
    sim_run = _json_of(sim_cmd)
    sim = sim_run["methods"]
    out: dict = {"simulated_landsat_224077": {"stacks": sim_run["stacks"], "cpsnr": sim[model]["cpsnr"],
                                              "cpsnr_baseline": sim["baseline"]["cpsnr"],
                                              "score": sim[model]["score"]}}
    for key, extra in SEMIREAL_MODES.items():
        res = _json_of([py, str(HERE / "misr_deep_semireal.py"), "--only", "lr_only/val", "--holdouts", "6",
                        *extra, "--methods", "baseline", method])
        out[key] = {"cases": res["cases"], **res["methods"][method]}
    satsr = str(Path(py).with_name("satsr"))
    ev_cmd = [satsr, "evaluate", "probav", str(PROBAV), "--method", model, "--json"]
    if weights:
        ev_cmd += ["--set", f"weights={weights}"]
    ev = _json_of(ev_cmd)
    out["probav_scored_scenes"] = {"score": round(ev["score"], 5),
                                   "scenes": {s["name"]: {"band": s["band"], "cpsnr": round(s["cpsnr"], 4),
                                                          "score": round(s["score"], 5)} for s in ev["scenes"]}}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=None, help="shipped multi-image models (default: all)")
    ap.add_argument("--weights", nargs="*", default=[], help="NAME=PATH.safetensors instead of the shipped ones")
    ap.add_argument("--write-cards", action="store_true", help="store the numbers in the shipped model cards")
    args = ap.parse_args()
    if not PROBAV.is_dir():
        raise SystemExit(f"{PROBAV}: the PROBA-V data is needed for these benchmarks")

    from satsr.models.registry import WEIGHTS_DIR, list_cards

    other = dict(w.split("=", 1) for w in args.weights)
    cards = [c for c in list_cards() if c.kind == "misr"  # revisit fusers; video models: benchmarks/video.py
             and c.training.get("config", {}).get("data", {}).get("dataset") != "video"]
    models = args.models or sorted(other) or [c.model for c in cards]
    results = {m: measure(m, other.get(m)) for m in models}
    print(json.dumps(results, indent=1))
    if args.write_cards:
        for c in cards:
            if c.model in results and c.model not in other:
                path = WEIGHTS_DIR / f"{c.id}.json"
                card = json.loads(path.read_text())
                card.setdefault("metrics", {}).update(results[c.model])
                path.write_text(json.dumps(card, indent=2) + "\n")


if __name__ == "__main__":
    main()
