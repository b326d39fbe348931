"""Guided sharpening under the Wald protocol (issue 6): Sentinel-2 20/60 m -> 10 m and WorldView-2 PAN.

Runs ``satsr.evaluate.wald.wald_evaluate`` (what ``satsr evaluate sharpen`` prints) on:

* the held-out DSen2 crop (T33UUB): 10 m guide (B4, B3, B2, B8) + 20 m bands, ratio 2;
* the same crop: 10 m guide + 60 m bands (B1, B9), ratio 6;
* WorldView-2: PAN guide + 8 MS bands, ratio 4 (PSNR peak 2047, 11-bit).

Prints one JSON object (per-band RMSE in DN, PSNR, ERGAS, SAM, seconds per case). Needs ../shared/data.
Usage: .venv/bin/python benchmarks/sharpen_wald.py [--models bicubic,hpi,dsen2]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import rasterio

from satsr.evaluate.wald import wald_evaluate

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def _read(path: Path):  # noqa: ANN202 - numpy array
    with rasterio.open(path) as ds:
        return ds.read()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="hpi,dsen2", help="comma-separated guided models (bicubic always runs)")
    args = ap.parse_args()
    models = [m for m in args.models.split(",") if m]
    s2 = DATA / "sentinel2" / "dsen2" / "S2A_MSIL1C_20170527_T33UUB"
    cases = {
        "s2_T33UUB_20m_r2": (f"{s2}_10m.tif", f"{s2}_20m.tif", models, 10000.0),
        "s2_T33UUB_60m_r6": (f"{s2}_10m.tif", f"{s2}_60m.tif", models, 10000.0),
        "wv2_pan_ms_r4": (DATA / "worldview2" / "wv2_pan.tif", DATA / "worldview2" / "wv2_ms8.tif",
                          [m for m in models if m != "dsen2"], 2047.0),
    }
    out = {}
    for name, (guide, lowres, ms, peak) in cases.items():
        t0 = time.perf_counter()
        rep = wald_evaluate(_read(Path(guide)), _read(Path(lowres)), ms, peak=peak)
        rep["seconds"] = round(time.perf_counter() - t0, 1)
        out[name] = rep
    print(json.dumps(out))


if __name__ == "__main__":
    main()
