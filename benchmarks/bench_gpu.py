"""The GPU path (issue 18): autocast, several tiles per forward, reading and writing beside the compute.

Ready for a machine with a CUDA GPU; runs on a CPU too, at small sizes, as a correctness check (the
same code paths, fp32). In one process (ratios within one run, best of ``--repeats``):

1. one model call on a ``--window`` px RGB input in fp32 and in the device's autocast precision
   (``precision="auto"``: bf16 where the GPU has it, else fp16; on a CPU, bf16), time and max difference;
2. ``satsr.api.upscale`` of a ``--size`` px RGB uint8 GeoTIFF with ``--tile`` px tiles: one tile per
   forward against ``--tile-batch`` per forward, and the default overlapped read/compute/write against
   everything on one thread (``run_tiled(overlap_io=False)``); outputs compared (max |DN| difference);
3. the default settings (tile from ``--max-memory`` and the GPU's free memory, batch 4).

    .venv/bin/python benchmarks/bench_gpu.py --device cuda --size 4096 --window 1024   # on a GPU
    .venv/bin/python benchmarks/bench_gpu.py --device cpu --model espcn --size 160 --window 64 --tile 48 --repeats 1
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rasterio
import torch

sys.path.insert(0, str(Path(__file__).parent))
import satsr.api as api  # noqa: E402
from bench_inference import best_times, write_rgb  # noqa: E402
from satsr.models import registry  # noqa: E402
from satsr.tiling import run_tiled  # noqa: E402


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn: Callable[[], object], device: str) -> Callable[[], object]:
    def run() -> object:
        out = fn()
        sync(device)
        return out

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--model", default="edsr")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--window", type=int, default=1024, help="side of the single model call's input")
    ap.add_argument("--size", type=int, default=4096, help="side of the scene upscaled from a file")
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--tile-batch", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    dev = args.device
    out: dict[str, object] = {"device": torch.cuda.get_device_name(0) if dev.startswith("cuda") else "cpu",
                              "torch": torch.__version__, "model": args.model, "scale": args.scale}

    # 1. one call: fp32 against autocast
    fp32 = registry.create(args.model, args.scale, device=dev, precision="fp32")
    auto = registry.create(args.model, args.scale, device=dev, precision="auto" if dev != "cpu" else "bf16")
    x = np.random.default_rng(0).random((3, args.window, args.window)).astype(np.float32)
    t = best_times({"fp32": timed(lambda: fp32(x), dev), "autocast": timed(lambda: auto(x), dev)}, args.repeats)
    out["call"] = {"window": args.window, "autocast_precision": auto.precision, "fp32_s": round(t["fp32"], 3),
                   "autocast_s": round(t["autocast"], 3), "autocast_speedup": round(t["fp32"] / t["autocast"], 2),
                   "max_abs_diff_model_units": float(np.abs(fp32(x) - auto(x)).max())}
    print(json.dumps(out["call"]), flush=True)

    # 2. tiles per forward, overlapped I/O
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "scene.tif"
        write_rgb(src, args.size)
        runs = {"batch1_overlap": (1, True), f"batch{args.tile_batch}_overlap": (args.tile_batch, True),
                f"batch{args.tile_batch}_one_thread": (args.tile_batch, False)}

        def job(name: str, batch: int, io: bool) -> Callable[[], object]:
            def run() -> object:
                api.run_tiled = functools.partial(run_tiled, overlap_io=io)  # type: ignore[assignment]
                try:
                    return api.upscale(src, scale=args.scale, model=args.model, device=dev, tile=args.tile,
                                       tile_batch=batch, out=Path(tmp) / f"{name}.tif", overwrite=True)
                finally:
                    api.run_tiled = run_tiled  # type: ignore[assignment]

            return run

        variants = {k: timed(job(k, *v), dev) for k, v in runs.items()}
        variants["defaults"] = timed(lambda: api.upscale(src, scale=args.scale, model=args.model, device=dev,
                                                         out=Path(tmp) / "defaults.tif", overwrite=True), dev)
        t = best_times(variants, args.repeats)
        images = {}
        for k in [*runs, "defaults"]:
            with rasterio.open(Path(tmp) / f"{k}.tif") as ds:
                images[k] = ds.read().astype(np.int32)
        ref = images["batch1_overlap"]
        out["scene"] = {"size": args.size, "tile": args.tile, "out_mpx": round((args.size * args.scale) ** 2 / 1e6, 1),
                        **{f"{k}_s": round(v, 2) for k, v in t.items()},
                        "batch_speedup": round(t["batch1_overlap"] / t[f"batch{args.tile_batch}_overlap"], 2),
                        "overlap_io_speedup": round(t[f"batch{args.tile_batch}_one_thread"]
                                                    / t[f"batch{args.tile_batch}_overlap"], 2),
                        **{f"{k}_max_dn_diff": int(np.abs(v - ref).max()) for k, v in images.items()
                           if k != "batch1_overlap"}}
    print(json.dumps(out["scene"]), flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
