"""Hyperspectral SR and fusion on the real cubes of ../shared/data/hyperspectral (issue 20).

* ``sisr``: the Wald protocol x2 and x4 (``satsr.evaluate.hyperspectral.hs_sisr_evaluate``, what
  ``satsr evaluate hyperspectral --cube ...`` prints) on the parts of the cubes never used in training
  (``configs/sgsr_x*.yaml``): the Houston cube's bottom half (rows 64-127) and the Hyperion cube's
  right 32 columns (40-71); also the whole Hyperion cube (columns 0-39 were training data).
  Models: the shipped ``sgsr`` and the per-band ``edsr-ms`` (x2 weights, run twice for x4), bicubic.
* ``fusion``: Hyperion + EO-1 ALI MS (9 bands, same 30 m grid), the cube Wald-degraded by 3 and fused,
  the original cube the reference (``hs_fusion_evaluate``): bicubic, ``hpi``, ``hpi-hs``, ``hsnet-zs``;
  also with the guide reduced to 1 band (the ALI MS mean) and to 3 bands.
* ``pan``: the real 3x pair (Hyperion crop 72 x 58 + ALI PAN 216 x 174, no reference at 10 m) through
  ``satsr.sharpen.sharpen_files`` (the driver of ``satsr sharpen``) with ``hpi-hs``: the output's shape
  and NaN count, and a figure ``benchmarks/figures/hyperspectral_pan_fusion.png`` (``satsr.viz``).

Prints one JSON object. Needs ../shared/data (research use only: nothing of it is written to the repo
but the figure of an EO-1 scene, public domain).
Usage: .venv/bin/python benchmarks/hyperspectral.py [--only sisr,fusion,pan]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from satsr.evaluate.hyperspectral import hs_fusion_evaluate, hs_sisr_evaluate
from satsr.io.image import read_image
from satsr.sharpen import sharpen_files
from satsr.viz.figures import Panel, comparison_figure

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "hyperspectral"
FIGURES = ROOT / "benchmarks" / "figures"
# Hyperion bands 29, 20, 11 (about 650, 560, 470 nm) among the 128 kept: 1-based positions 22, 13, 4
HYPERION_RGB = (22, 13, 4)


def brief(methods: dict) -> dict:
    return {k: {"psnr": v["psnr_mean"], "sam": v["sam"], "ergas": v["ergas"], "seconds": v["seconds"]}
            for k, v in methods.items()}


def sisr() -> dict:
    out = {}
    cases = {"houston_heldout_rows64-127": ("houston_hs_48b.tif", [64, None, None, None]),
             "hyperion_heldout_cols40-71": ("paris_hyperion_hs_30m.tif", [None, None, 40, None]),
             "hyperion_whole_cube": ("paris_hyperion_hs_30m.tif", None)}
    for name, (file, region) in cases.items():
        r = hs_sisr_evaluate(DATA / file, ["sgsr", "edsr-ms"], (2, 4), region=region)
        out[name] = {s: {"shape": v["shape"], "methods": brief(v["methods"])} for s, v in r["scales"].items()}
    return out


def fusion() -> dict:
    cube, ms = DATA / "paris_hyperion_hs_30m.tif", DATA / "paris_ali_ms_30m.tif"
    models = ["hpi", "hpi-hs", "hsnet-zs"]
    out = {"ms9": brief(hs_fusion_evaluate(cube, ms, 3, models)["methods"]),
           # ALI MS bands 1, 2, 3 (blue, green, red: positions 2-4 of the file) and band 3 (red) alone
           "ms3_blue_green_red": brief(hs_fusion_evaluate(cube, ms, 3, models, guide_bands=[2, 3, 4])["methods"]),
           "ms1_red": brief(hs_fusion_evaluate(cube, ms, 3, models, guide_bands=[4])["methods"])}
    return out


def pan() -> dict:
    cube, pan_path = DATA / "paris_hyperion_hs_crop_30m.tif", DATA / "paris_ali_pan_10m.tif"
    res: dict = {}
    outputs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model in ("bicubic", "hpi-hs", "hsnet-zs"):
            t0 = time.perf_counter()
            path = sharpen_files(pan_path, cube, Path(tmp) / f"{model}.tif", model)
            arr = read_image(path)
            res[model] = {"shape": list(arr.shape), "nan": int(np.isnan(arr).sum()),
                          "seconds": round(time.perf_counter() - t0, 1)}
            outputs[model] = arr
    guide = read_image(pan_path)
    sel = [b - 1 for b in HYPERION_RGB]
    # the PAN mapped into each displayed band's 2-98 % range of the reference panel: shown grey
    lo, hi = (np.percentile(outputs["hpi-hs"][sel], q, axis=(1, 2))[:, None, None] for q in (2, 98))
    p_lo, p_hi = np.percentile(guide, (2, 98))
    pan_shown = lo + (guide - p_lo) * (hi - lo) / max(p_hi - p_lo, 1e-12)
    panels = [Panel("Hyperion 30 m (nearest)", read_image(cube)[sel], upscale=3),
              Panel("ALI PAN 10 m (guide)", pan_shown),
              *[Panel(m, outputs[m][sel]) for m in ("bicubic", "hpi-hs", "hsnet-zs")]]
    FIGURES.mkdir(exist_ok=True)
    fig = comparison_figure(panels, FIGURES / "hyperspectral_pan_fusion.png", crop=(21, 0, 174), reference=3,
                            title="Real 3x pair: EO-1 Hyperion (bands 29/20/11) + ALI PAN, `satsr sharpen`")
    res["figure"] = str(Path(fig).relative_to(ROOT))
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="sisr,fusion,pan", help="comma-separated parts: sisr, fusion, pan")
    args = ap.parse_args()
    parts = {"sisr": sisr, "fusion": fusion, "pan": pan}
    result = {}
    for name in args.only.split(","):
        t0 = time.perf_counter()
        result[name] = parts[name]()
        result[name + "_seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
