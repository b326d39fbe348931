"""Peak memory and throughput of `satsr upscale` on a large scene, against GDAL's cubic resampling.

Makes a 10000 x 10000 single-band uint16 tiled GeoTIFF (smooth waves + noise) in a temp dir, runs
``satsr upscale IN OUT --scale 2 --model bicubic --quiet`` in a subprocess and records its peak RSS
(``getrusage(RUSAGE_CHILDREN).ru_maxrss``) and wall time, then times a whole-image rasterio read with
``out_shape`` and ``Resampling.cubic`` (which holds the full output in memory). Prints one JSON object.

    .venv/bin/python benchmarks/bench_memory.py            # the 10000 x 10000 run (a few minutes)
    .venv/bin/python benchmarks/bench_memory.py --size 2000  # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.windows import Window


def make_scene(path: Path, size: int, seed: int = 0) -> None:
    """Write a ``size`` x ``size`` uint16 tiled GeoTIFF strip by strip (bounded memory)."""
    rng = np.random.default_rng(seed)
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 1, "dtype": "uint16",
               "crs": "EPSG:32633", "transform": Affine(10.0, 0.0, 300000.0, 0.0, -10.0, 5000000.0),
               "tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "deflate",
               "predictor": 2, "BIGTIFF": "IF_SAFER"}
    x = np.arange(size, dtype=np.float32)
    with rasterio.open(path, "w", **profile) as ds:
        for row0 in range(0, size, 512):
            rows = min(512, size - row0)
            y = np.arange(row0, row0 + rows, dtype=np.float32)[:, None]
            img = 9000 + 3000 * np.sin(x / 97.0 + y / 61.0) + 1500 * np.cos(x / 23.0 - y / 41.0)
            img += rng.normal(0, 200, size=(rows, size)).astype(np.float32)
            ds.write(np.clip(img, 0, 65535).astype(np.uint16)[None], window=Window(0, row0, size, rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10000, help="scene width and height in pixels")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--workdir", type=Path, default=None, help="where to put the scene (temp dir)")
    args = parser.parse_args()

    satsr_exe = Path(sys.executable).parent / "satsr"
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        src, out = Path(tmp) / "scene.tif", Path(tmp) / "scene_x2.tif"
        t0 = time.perf_counter()
        make_scene(src, args.size)
        make_s = time.perf_counter() - t0

        cmd = [str(satsr_exe), "upscale", str(src), str(out), "--scale", str(args.scale),
               "--model", "bicubic", "--tile", str(args.tile), "--quiet"]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        satsr_s = time.perf_counter() - t0
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # kilobytes on Linux
        out_mb = out.stat().st_size / 1e6
        with rasterio.open(out) as ds:
            assert ds.shape == (args.size * args.scale, args.size * args.scale)

        out_px = (args.size * args.scale) ** 2
        t0 = time.perf_counter()
        with rasterio.open(src) as ds:
            arr = ds.read(1, out_shape=(args.size * args.scale, args.size * args.scale),
                          resampling=Resampling.cubic)
        gdal_s = time.perf_counter() - t0
        del arr

    satsr_rate = out_px / 1e6 / satsr_s
    gdal_rate = out_px / 1e6 / gdal_s
    print(json.dumps({
        "scene": f"{args.size}x{args.size} uint16, 1 band",
        "scale": args.scale,
        "tile": args.tile,
        "output_mpx": round(out_px / 1e6, 1),
        "satsr_peak_rss_mb": round(peak_kb / 1024, 1),
        "satsr_seconds": round(satsr_s, 1),
        "satsr_mpx_per_s": round(satsr_rate, 2),
        "satsr_output_file_mb": round(out_mb, 1),
        "rasterio_cubic_read_seconds": round(gdal_s, 1),
        "rasterio_cubic_mpx_per_s": round(gdal_rate, 2),
        "satsr_over_rasterio_throughput": round(satsr_rate / gdal_rate, 3),
        "scene_generation_seconds": round(make_s, 1),
        "cpus": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()
