"""Peak memory and throughput of `satsr upscale` on a large scene, against the same job in rasterio alone.

Makes a ``size`` x ``size`` single-band uint16 tiled GeoTIFF (smooth waves + noise) in a temp dir, then,
``--rounds`` times in turn (ratios within one run; the best time of each counts):

* satsr: ``satsr upscale IN OUT --scale 2 --model bicubic --quiet`` (``--tile`` when given, else satsr's
  default: the tile derived from ``--max-memory``);
* the peer a user would otherwise write (``--peer``): rasterio alone, a cubic read to ``scale`` x with
  ``out_shape`` written as a tiled deflate GeoTIFF with satsr's creation options (512 px blocks,
  predictor 2, ``NUM_THREADS=ALL_CPUS``): the whole output in one read when twice its size fits in half
  the available memory, else block row by block row (input rows read with two rows of context).

Each runs in its own subprocess; its peak RSS is that child's ``ru_maxrss`` (``os.wait4``). satsr's
output is checked against MATLAB bicubic computed densely (``satsr.ops.resize.resize_taps``, float64) on
sample windows (max difference in DN), and its difference to GDAL's cubic is reported. Prints one JSON object.

    .venv/bin/python benchmarks/bench_memory.py            # the 10000 x 10000 run (several minutes)
    .venv/bin/python benchmarks/bench_memory.py --size 2000 --rounds 1  # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
import os
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

CREATION = {"driver": "GTiff", "tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "deflate",
            "predictor": 2, "BIGTIFF": "IF_SAFER", "NUM_THREADS": "ALL_CPUS"}


def make_scene(path: Path, size: int, seed: int = 0) -> None:
    """Write a ``size`` x ``size`` uint16 tiled GeoTIFF strip by strip (bounded memory)."""
    rng = np.random.default_rng(seed)
    profile = {**CREATION, "width": size, "height": size, "count": 1, "dtype": "uint16", "crs": "EPSG:32633",
               "transform": Affine(10.0, 0.0, 300000.0, 0.0, -10.0, 5000000.0)}
    x = np.arange(size, dtype=np.float32)
    with rasterio.open(path, "w", **profile) as ds:
        for row0 in range(0, size, 512):
            rows = min(512, size - row0)
            y = np.arange(row0, row0 + rows, dtype=np.float32)[:, None]
            img = 9000 + 3000 * np.sin(x / 97.0 + y / 61.0) + 1500 * np.cos(x / 23.0 - y / 41.0)
            img += rng.normal(0, 200, size=(rows, size)).astype(np.float32)
            ds.write(np.clip(img, 0, 65535).astype(np.uint16)[None], window=Window(0, row0, size, rows))


def _available_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 2 << 30


def rasterio_peer(src: Path, dst: Path, scale: int) -> str:
    """The job in rasterio alone: cubic read to ``scale`` x (``out_shape``), tiled deflate GeoTIFF out."""
    with rasterio.open(src) as ds:
        H, W = ds.height * scale, ds.width * scale
        profile = {**CREATION, "width": W, "height": H, "count": ds.count, "dtype": ds.dtypes[0], "crs": ds.crs,
                   "transform": ds.transform * Affine.scale(1 / scale), "nodata": ds.nodata}
        whole = 2 * H * W * ds.count * np.dtype(ds.dtypes[0]).itemsize < _available_bytes() // 2
        with rasterio.open(dst, "w", **profile) as out:
            if whole:
                out.write(ds.read(out_shape=(ds.count, H, W), resampling=Resampling.cubic))
                return "whole"
            block = 512
            for r0 in range(0, H, block):
                rows = min(block, H - r0)
                i0, i1 = max(0, r0 // scale - 2), min(ds.height, -(-(r0 + rows) // scale) + 2)
                part = ds.read(window=Window(0, i0, ds.width, i1 - i0), out_shape=(ds.count, (i1 - i0) * scale, W),
                               resampling=Resampling.cubic)
                out.write(part[:, r0 - i0 * scale:r0 - i0 * scale + rows], window=Window(0, r0, W, rows))
            return "blocks"


def _run(cmd: list[str]) -> tuple[float, float, str]:
    """Seconds, peak RSS (MB) and stdout of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    out, err = (s.read().decode() for s in (proc.stdout, proc.stderr))  # type: ignore[union-attr]
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err.strip().splitlines()[-1:]}")
    return seconds, usage.ru_maxrss / 1024, out.strip()


def check_output(src: Path, sr: Path, peer: Path, scale: int, windows: int = 6, side: int = 256) -> dict[str, float]:
    """Max |satsr - dense MATLAB bicubic| (DN, after rounding) on sample output windows, and the max and
    mean |satsr - GDAL cubic| there (informational: another kernel and border rule)."""
    from satsr.ops.resize import resize_taps

    rng = np.random.default_rng(1)
    worst, peer_max, peer_mean = 0.0, 0.0, []
    with rasterio.open(src) as s, rasterio.open(sr) as o, rasterio.open(peer) as p:
        n, N = s.height, s.height * scale
        idx, w = resize_taps(n, N, "bicubic", True)
        starts = [0, N - side] + [int(v) for v in rng.integers(0, N - side, windows - 2)]
        for r0, c0 in zip(starts, starts[::-1], strict=True):
            rows, cols = slice(r0, r0 + side), slice(c0, c0 + side)
            r_lo, r_hi = int(idx[rows].min()), int(idx[rows].max()) + 1
            c_lo, c_hi = int(idx[cols].min()), int(idx[cols].max()) + 1
            x = s.read(1, window=Window(c_lo, r_lo, c_hi - c_lo, r_hi - r_lo)).astype(np.float64)
            mr = np.zeros((side, r_hi - r_lo))
            np.add.at(mr, (np.repeat(np.arange(side), idx.shape[1]), (idx[rows] - r_lo).ravel()), w[rows].ravel())
            mc = np.zeros((side, c_hi - c_lo))
            np.add.at(mc, (np.repeat(np.arange(side), idx.shape[1]), (idx[cols] - c_lo).ravel()), w[cols].ravel())
            ref = np.clip(np.rint(mr @ x @ mc.T), 0, 65535)
            got = o.read(1, window=Window(c0, r0, side, side)).astype(np.float64)
            worst = max(worst, float(np.abs(got - ref).max()))
            diff = np.abs(got - p.read(1, window=Window(c0, r0, side, side)).astype(np.float64))
            peer_max, peer_mean = max(peer_max, float(diff.max())), [*peer_mean, float(diff.mean())]
    return {"satsr_vs_matlab_bicubic_max_dn": worst, "satsr_vs_gdal_cubic_max_dn": peer_max,
            "satsr_vs_gdal_cubic_mean_dn": round(float(np.mean(peer_mean)), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10000, help="scene width and height in pixels")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--tile", type=int, default=None, help="satsr --tile (default: satsr's, from --max-memory)")
    parser.add_argument("--rounds", type=int, default=2, help="satsr and the peer in turn, this many times")
    parser.add_argument("--workdir", type=Path, default=None, help="where to put the scene (temp dir)")
    parser.add_argument("--peer", nargs=2, type=Path, metavar=("SRC", "DST"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:  # the child process of the rasterio peer
        print(rasterio_peer(args.peer[0], args.peer[1], args.scale))
        return

    satsr_exe = Path(sys.executable).parent / "satsr"
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        src, out, peer = Path(tmp) / "scene.tif", Path(tmp) / "scene_x2.tif", Path(tmp) / "peer_x2.tif"
        t0 = time.perf_counter()
        make_scene(src, args.size)
        make_s = time.perf_counter() - t0
        cmd = [str(satsr_exe), "upscale", str(src), str(out), "--scale", str(args.scale), "--model", "bicubic",
               "--quiet", "--overwrite"] + (["--tile", str(args.tile)] if args.tile else [])
        peer_cmd = [sys.executable, __file__, "--peer", str(src), str(peer), "--scale", str(args.scale)]
        satsr_runs, peer_runs = [], []
        for _ in range(args.rounds):
            satsr_runs.append(_run(cmd))
            peer.unlink(missing_ok=True)
            peer_runs.append(_run(peer_cmd))
        with rasterio.open(out) as ds:
            assert ds.shape == (args.size * args.scale, args.size * args.scale)
        out_mb = out.stat().st_size / 1e6
        peer_mb = peer.stat().st_size / 1e6
        checks = check_output(src, out, peer, args.scale)

    out_px = (args.size * args.scale) ** 2
    satsr_s, peer_s = min(r[0] for r in satsr_runs), min(r[0] for r in peer_runs)
    print(json.dumps({
        "scene": f"{args.size}x{args.size} uint16, 1 band",
        "scale": args.scale,
        "tile": args.tile or "default",
        "output_mpx": round(out_px / 1e6, 1),
        "rounds": args.rounds,
        "satsr_seconds": [round(r[0], 1) for r in satsr_runs],
        "satsr_peak_rss_mb": round(max(r[1] for r in satsr_runs), 1),
        "satsr_mpx_per_s": round(out_px / 1e6 / satsr_s, 2),
        "satsr_output_file_mb": round(out_mb, 1),
        "peer": peer_runs[0][2],
        "peer_seconds": [round(r[0], 1) for r in peer_runs],
        "peer_peak_rss_mb": round(max(r[1] for r in peer_runs), 1),
        "peer_mpx_per_s": round(out_px / 1e6 / peer_s, 2),
        "peer_output_file_mb": round(peer_mb, 1),
        "satsr_over_peer_throughput": round(peer_s / satsr_s, 3),
        **checks,
        "scene_generation_seconds": round(make_s, 1),
        "cpus": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()
