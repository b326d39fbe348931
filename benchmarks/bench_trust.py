"""Trustworthy SR (issue 5): LR consistency, uncertainty vs error, opensr-test metrics. Prints JSON.

Sections (all need ../shared/data; models without shipped weights are skipped and listed):

* ``ucmerced``: every UC Merced val image degraded like ``satsr evaluate sisr`` (MATLAB bicubic x4,
  LR rounded to 8 bit). Each model's output with and without ``consistency=True`` (the public API,
  tiled engine, uint8 output): RMSE of ``downsample(SR) - LR`` in DN and PSNR against HR (4 px
  border). For neural models, the 8-flip/rotation uncertainty map against the absolute error of the
  plain output: Spearman rank correlation over all pixels of all images (pooled) and per image, and
  the mean uncertainty of the 25 % worst vs 25 % best pixels.
* ``landsat``: 512 x 512 crops of the Landsat 8 scenes (uint16): HR degraded with each model's own
  degradation (bicubic, or Wald for edsr-ms), written as a GeoTIFF and upscaled by ``satsr.upscale``
  from file to file (tile 128, overlap 16), with and without consistency.
* ``opensr``: the Sentinel-2 DSen2 10 m crop, Wald-degraded x4 (x2 for edsr-ms), bicubic and
  bicubic + consistency: satsr's opensr-test metrics; with ``--reference-python`` (the Python of a
  throwaway venv holding opensr-test 1.3.3) the package's own numbers on the same arrays too.

Usage: .venv/bin/python benchmarks/bench_trust.py [--limit N] [--sections ucmerced,landsat,opensr]
       [--reference-python /tmp/osrvenv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"


def _available(name: str, scale: int) -> bool:
    from satsr.models import registry

    return not registry.get_spec(name).neural or registry.find_card(name, scale) is not None


def _r(x: float, n: int = 4) -> float:
    return float(round(float(x), n))


def ucmerced(limit: int | None) -> dict[str, Any]:
    from scipy.stats import spearmanr

    import satsr
    from satsr import metrics
    from satsr.evaluate import degrade_for_eval, list_images
    from satsr.io.image import read_image
    from satsr.models import registry
    from satsr.trust import Degradation, TrustOptions, consistency_rmse, trust_upscale

    scale, deg = 4, Degradation("bicubic", 4)
    wanted = ["bicubic", "espcn", "edsr", "rcan", "swinir"]
    models = [m for m in wanted if _available(m, scale)]
    files = list_images(DATA / "ucmerced" / "val", limit)
    rows: dict[str, dict[str, list[float]]] = {m: {} for m in models}
    pooled: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {m: ([], []) for m in models}
    t0 = time.perf_counter()
    for f in files:
        hr, lr = degrade_for_eval(read_image(f), scale, True)
        lr8 = lr.astype(np.uint8)
        for m in models:
            up = registry.create(m, scale)
            plain = satsr.upscale(lr8, scale, model=up).astype(np.float64)
            cons = satsr.upscale(lr8, scale, model=up, consistency=True).astype(np.float64)
            r = rows[m]
            for key, val in (("cons_rmse_plain", consistency_rmse(plain, lr, deg)),
                             ("cons_rmse_projected", consistency_rmse(cons, lr, deg)),
                             ("psnr_plain", metrics.psnr(plain, hr, 255.0, border=scale)),
                             ("psnr_projected", metrics.psnr(cons, hr, 255.0, border=scale))):
                r.setdefault(key, []).append(float(val))
            if registry.get_spec(m).neural:
                maps = trust_upscale(lr, up, TrustOptions(uncertainty=True, hallucination=True, floor=1.0))
                assert maps.uncertainty is not None and maps.hallucination is not None
                b = scale
                unc = maps.uncertainty.mean(0)[b:-b, b:-b].ravel()
                err = np.abs(plain - hr).mean(0)[b:-b, b:-b].ravel()
                r.setdefault("spearman", []).append(float(spearmanr(unc, err).statistic))
                r.setdefault("hallucination_mean", []).append(float(maps.hallucination.mean()))
                pooled[m][0].append(unc)
                pooled[m][1].append(err)
    out: dict[str, Any] = {"images": len(files), "scale": scale, "degradation": "bicubic (MATLAB), LR rounded",
                           "seconds": round(time.perf_counter() - t0, 1), "first_image": files[0].name,
                           "models": {}, "skipped (no shipped weights)": [m for m in wanted if m not in models]}
    for m in models:
        r = rows[m]
        drop = np.array(r["psnr_plain"]) - np.array(r["psnr_projected"])
        res = {
            "consistency_rmse_dn_plain_mean": _r(np.mean(r["cons_rmse_plain"])),
            "consistency_rmse_dn_projected_mean": _r(np.mean(r["cons_rmse_projected"])),
            "consistency_rmse_dn_projected_max": _r(np.max(r["cons_rmse_projected"])),
            "psnr_plain_mean": _r(np.mean(r["psnr_plain"])),
            "psnr_projected_mean": _r(np.mean(r["psnr_projected"])),
            "psnr_drop_mean_db": _r(drop.mean()),
            "psnr_drop_max_db": _r(drop.max()),
            "first_image": {"consistency_rmse_dn_plain": _r(r["cons_rmse_plain"][0]),
                            "consistency_rmse_dn_projected": _r(r["cons_rmse_projected"][0]),
                            "psnr_plain": _r(r["psnr_plain"][0]), "psnr_projected": _r(r["psnr_projected"][0])},
        }
        if "spearman" in r:
            unc, err = (np.concatenate(v) for v in pooled[m])
            lo, hi = np.quantile(err, [0.25, 0.75])
            res.update({
                "uncertainty_vs_error_spearman_pooled": _r(spearmanr(unc, err).statistic),
                "uncertainty_vs_error_spearman_per_image_mean": _r(np.mean(r["spearman"])),
                "uncertainty_vs_error_spearman_per_image_min": _r(np.min(r["spearman"])),
                "uncertainty_vs_error_spearman_positive_images": int(np.sum(np.array(r["spearman"]) > 0)),
                "uncertainty_mean_dn_worst_quarter": _r(unc[err >= hi].mean()),
                "uncertainty_mean_dn_best_quarter": _r(unc[err <= lo].mean()),
                "hallucination_map_mean": _r(np.mean(r["hallucination_mean"])),
            })
        out["models"][m] = res
    return out


def landsat(size: int = 512) -> dict[str, Any]:
    import rasterio
    from rasterio.windows import Window

    import satsr
    from satsr import metrics
    from satsr.models import registry
    from satsr.trust import consistency_rmse, degradation_for, downsample

    scenes = {"LC08_224077_B2": DATA / "landsat" / "l8" / "LC08_L1TP_224077_20200518_20200518_01_RT_B2.TIF",
              "LC08_224078_rgb": DATA / "landsat" / "l8" / "LC08_L1TP_224078_20200518_20200518_01_RT.TIF"}
    cases = [(m, s) for m, s in (("bicubic", 2), ("bicubic", 4), ("edsr-ms", 2)) if _available(m, s)]
    out: dict[str, Any] = {"crop": f"{size}x{size} centre", "tile": 128, "overlap": 16, "cases": {},
                           "skipped (no shipped weights)": ["edsr-ms x2"] if ("edsr-ms", 2) not in cases else []}
    with tempfile.TemporaryDirectory() as tmp:
        for tag, path in scenes.items():
            with rasterio.open(path) as ds:
                r0, c0 = (ds.height - size) // 2, (ds.width - size) // 2
                win = Window(c0, r0, size, size)
                hr = ds.read(window=win).astype(np.float64)
                profile = {**ds.profile, "width": size, "height": size, "tiled": False,
                           "transform": ds.window_transform(win)}
            for m, s in cases:
                up = registry.create(m, s)
                deg = degradation_for(up)
                lr = np.clip(np.round(downsample(hr, deg)), 0, 65535)
                lr_path = Path(tmp) / f"{tag}_{m}_x{s}_lr.tif"
                prof = {**profile, "width": size // s, "height": size // s,
                        "transform": profile["transform"] * rasterio.Affine.scale(s)}
                prof.pop("blockxsize", None)
                prof.pop("blockysize", None)
                with rasterio.open(lr_path, "w", **prof) as dst:
                    dst.write(lr.astype(np.uint16))
                res: dict[str, Any] = {"degradation": deg.describe()}
                for label, cons in (("plain", False), ("projected", True)):
                    o = Path(tmp) / f"{tag}_{m}_x{s}_{label}.tif"
                    t0 = time.perf_counter()
                    satsr.upscale(lr_path, s, model=m, out=o, tile=128, overlap=16, consistency=cons)
                    secs = time.perf_counter() - t0
                    with rasterio.open(o) as ds:
                        sr = ds.read().astype(np.float64)
                    rm = consistency_rmse(sr, lr, deg)
                    res[label] = {"consistency_rmse_dn": _r(rm),
                                  "consistency_rmse_pct_of_65535": _r(100 * rm / 65535, 5),
                                  "consistency_rmse_pct_of_crop_range": _r(100 * rm / (hr.max() - hr.min()), 5),
                                  "psnr": _r(metrics.psnr(sr, hr, float(hr.max()), border=s)),
                                  "seconds": round(secs, 1)}
                res["psnr_drop_db"] = _r(res["plain"]["psnr"] - res["projected"]["psnr"])
                out["cases"][f"{tag} {m} x{s}"] = res
    return out


def opensr(reference_python: str | None) -> dict[str, Any]:
    import rasterio

    from satsr.models import registry
    from satsr.ops.filters import wald_degrade
    from satsr.trust import Degradation, project
    from satsr.trust.opensr import opensr_metrics

    path = DATA / "sentinel2" / "dsen2" / "S2A_MSIL1C_20170527_T33UUB_10m.tif"
    with rasterio.open(path) as ds:
        hr = ds.read().astype(np.float32)
    cases: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for s in (4, 2):
        lr = np.asarray(wald_degrade(hr, s), np.float32)
        bic = np.asarray(registry.create("bicubic", s)(lr), np.float32)
        if s == 4:
            cases["bicubic x4"] = (lr, bic, hr)
            proj = project(bic, lr, Degradation("wald", s)).astype(np.float32)
            cases["bicubic x4 + consistency (wald)"] = (lr, proj, hr)
        elif _available("edsr-ms", 2):
            from satsr.evaluate import super_resolve

            sr = super_resolve(registry.create("edsr-ms", 2), lr, False).astype(np.float32)
            cases["edsr-ms x2"] = (lr, sr, hr)
            proj = project(sr, lr, Degradation("wald", 2)).astype(np.float32)
            cases["edsr-ms x2 + consistency (wald)"] = (lr, proj, hr)
    out: dict[str, Any] = {"image": path.name, "degradation": "wald", "value_scale": 10000, "cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (lr, sr, hr_) in cases.items():
            t0 = time.perf_counter()
            mine = {k: _r(v, 6) for k, v in opensr_metrics(lr, sr, hr_, value_scale=10000).to_dict().items()}
            entry: dict[str, Any] = {"satsr": mine, "satsr_seconds": round(time.perf_counter() - t0, 1)}
            if reference_python:
                npz = Path(tmp) / "arrays.npz"
                np.savez(npz, lr=lr, sr=sr, hr=hr_)
                script = ROOT / "benchmarks" / "opensr_reference.py"
                res = subprocess.run([reference_python, str(script), str(npz), "10000"], capture_output=True,
                                     text=True, check=True)
                ref = json.loads(res.stdout.strip().splitlines()[-1])
                entry["opensr_test"] = {k: (_r(v, 6) if isinstance(v, float) else v) for k, v in ref.items()}
                rel = {k: abs(mine[k] - ref[k]) / abs(ref[k]) for k in mine if isinstance(ref.get(k), float)
                       and np.isfinite(ref[k]) and ref[k] != 0}
                entry["max_relative_difference"] = _r(max(rel.values()), 5) if rel else 0.0
            out["cases"][name] = entry
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="UC Merced: first N val images (default all 105)")
    ap.add_argument("--sections", default="ucmerced,landsat,opensr")
    ap.add_argument("--reference-python", default=None,
                    help="Python of a throwaway venv with opensr-test 1.3.3, to run the package itself")
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"shared data not found at {DATA}")
    import torch

    torch.set_num_threads(1)  # small tensors; the benchmark machine is shared
    sections = [s for s in args.sections.split(",") if s]
    result: dict[str, Any] = {}
    if "ucmerced" in sections:
        result["ucmerced"] = ucmerced(args.limit)
    if "landsat" in sections:
        result["landsat"] = landsat()
    if "opensr" in sections:
        result["opensr"] = opensr(args.reference_python)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
