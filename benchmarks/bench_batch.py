"""`satsr batch` on the default local Dask cluster: 2 workers against 1 worker, same inputs, same run.

Cuts ``--inputs`` crops from a real Landsat 8 scene (``../shared/data/landsat/l8``) into a temp dir and runs
``satsr batch CROPS OUT --workers N -q`` (the CLI, in a subprocess, so cluster start-up is included as a
user sees it) for each model and worker count, alternating 1 and 2 workers ``--repeats`` times. The
speed-up is the best 1-worker wall time over the best 2-worker one; the sum of the per-input seconds in
the manifest shows whether the work itself slowed down when two workers shared the cores. Prints JSON.

    .venv/bin/python benchmarks/bench_batch.py
    .venv/bin/python benchmarks/bench_batch.py --inputs 4 --repeats 1   # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import rasterio
from rasterio.windows import Window

SCENE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "landsat" / "l8" / \
    "LC08_L1TP_224078_20200518_20200518_01_RT.TIF"
# (model, scale, crop side): a network where compute dominates, and a classical method where reading,
# compressing and writing the (16x larger) output is a large share of the work
CASES = [("edsr", 2, 128, ["--tile", "64", "--overlap", "8"]), ("bicubic", 4, 384, [])]


def make_crops(folder: Path, n: int, side: int) -> None:
    """``n`` non-overlapping ``side``-px crops of the scene's interior, as tiled deflate GeoTIFFs."""
    folder.mkdir(parents=True)
    with rasterio.open(SCENE) as ds:
        profile = {**ds.profile, "width": side, "height": side, "tiled": True, "blockxsize": 256,
                   "blockysize": 256, "compress": "deflate"}
        cols = (ds.width - 200) // side
        for i in range(n):
            win = Window(100 + side * (i % cols), 100 + side * (i // cols), side, side)
            with rasterio.open(folder / f"l8_{i:02d}.tif", "w", **{**profile, "transform": ds.window_transform(win)}) \
                    as out:
                out.write(ds.read(window=win))


def run_batch(inputs: Path, out: Path, model: str, scale: int, extra: list[str], workers: int) -> dict[str, float]:
    """One ``satsr batch`` run into a fresh folder: wall seconds and the manifest's summed task seconds."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [str(Path(sys.executable).parent / "satsr"), "batch", str(inputs), str(out), "--model", model,
           "--scale", str(scale), "--workers", str(workers), "-q", *extra]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    records = json.loads((out / "satsr-batch.json").read_text())["records"]
    assert all(r["status"] == "done" for r in records)
    return {"wall_s": round(wall, 2), "task_s_sum": round(sum(r["seconds"] for r in records), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if not SCENE.is_file():
        sys.exit(f"real data not available at {SCENE}")

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for model, scale, side, extra in CASES:
            crops = Path(tmp) / f"{model}_in"
            make_crops(crops, args.inputs, side)
            runs: dict[int, list[dict[str, float]]] = {1: [], 2: []}
            for _ in range(args.repeats):
                for workers in (1, 2):
                    runs[workers].append(run_batch(crops, Path(tmp) / "out", model, scale, extra, workers))
            best = {w: min(r["wall_s"] for r in rs) for w, rs in runs.items()}
            results.append({
                "model": model, "scale": scale, "inputs": args.inputs, "input_px": side, "options": extra,
                "wall_s_1_worker": best[1], "wall_s_2_workers": best[2],
                "speedup_2_vs_1": round(best[1] / best[2], 2),
                "task_s_sum_1_worker": min(r["task_s_sum"] for r in runs[1]),
                "task_s_sum_2_workers": min(r["task_s_sum"] for r in runs[2]),
                "runs": runs,
            })
    print(json.dumps({"cpu_count": os.cpu_count(), "load_avg_1min": round(os.getloadavg()[0], 2),
                      "python": platform.python_version(), "results": results}, indent=1))


if __name__ == "__main__":
    main()
