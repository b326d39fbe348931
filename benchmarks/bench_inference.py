"""Neural CPU inference (issue 18): satsr's model call against the plain forward, memory, end to end.

All parts run in one process (ratios within one run; the machine is noisy) with ``--threads`` torch
threads, repeats interleaved, the best time of each variant counting. Prints one JSON object per part,
then a summary.

* ``--archs edsr,espcn``: each architecture at ``--scale`` on a ``--size``\\ :sup:`2` RGB input, shipped
  weights when there are some: the plain way (fp32, eager, NCHW, ``torch.no_grad``, whole maps, as BasicSR
  runs its networks) against satsr's model call (``TorchUpscaler``: channels_last, ``inference_mode``,
  row streams) in fp32 and with ``precision="bf16"``, and onnxruntime (``OnnxUpscaler``) when installed;
  the peak bytes of activations of the plain and the satsr fp32 call (``peak_activation_bytes``).
* ``--end-to-end``: ``satsr upscale crop.tif out.tif --model edsr --scale 4 --quiet`` with default settings
  (``--max-memory 1.5GB``) on a ``--size`` px RGB uint8 GeoTIFF, in a subprocess: wall time and peak RSS
  (``os.wait4``); and ``satsr.api.upscale`` of the same file in this process; both against the model call.
* ``--tiling-size 2048 --tiling-scale 2``: ``satsr upscale`` (the command, in a subprocess) and
  ``satsr.api.upscale`` of a 2048 px RGB GeoTIFF with EDSR x2 at default settings (file to file) against one
  whole-image model call, interleaved (no warm-up: each call takes minutes).
* ``--tune-allocator``: the whole run under ``satsr.runtime.tune_allocator`` (plain and satsr alike).
* ``--allocator``: EDSR model calls in fresh processes with glibc's default allocator and with
  ``satsr.runtime.tune_allocator`` (which the CLI applies): first and later call times, page faults.
* ``--psnr``: UC Merced val (``../shared/data/ucmerced/val``) PSNR of ``edsr`` at ``--scale`` in fp32 and
  bf16 (``satsr.evaluate.sisr.evaluate_sisr`` with ``options={"precision": "bf16"}``).

    .venv/bin/python benchmarks/bench_inference.py --archs edsr,espcn --end-to-end --psnr
    .venv/bin/python benchmarks/bench_inference.py --archs "" --tiling-size 2048 --tiling-scale 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rasterio
import torch
from affine import Affine

from satsr.models import registry
from satsr.models.base import TorchUpscaler, peak_activation_bytes
from satsr.models.layers import whole_maps

UCM = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ucmerced" / "val"


def best_times(variants: dict[str, Callable[[], object]], repeats: int, warmup: bool = True) -> dict[str, float]:
    """Best wall time of each variant over ``repeats`` rounds, variants interleaved within a round (after
    one warm-up call each: allocations, oneDNN primitives; ``warmup=False`` for calls of minutes)."""
    for fn in variants.values() if warmup else ():
        fn()
    best = {k: float("inf") for k in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def model(name: str, scale: int, **kw: object) -> TorchUpscaler:
    try:
        return registry.create(name, scale, **kw)
    except Exception:  # no shipped weights at this scale: the shipped architecture, untrained
        return registry.create(name, scale, pretrained=False, **kw)


def bench_arch(name: str, scale: int, size: int, repeats: int) -> dict[str, object]:
    fp32 = model(name, scale)
    bf16 = model(name, scale, precision="bf16")
    plain = registry.build_net(name, scale, 3, **{k: v for k, v in (fp32.card.arch if fp32.card else {}).items()
                                                 if k != "per_band"}).eval()
    plain.load_state_dict(fp32.net.state_dict())
    x = np.random.default_rng(0).random((3, size, size)).astype(np.float32)
    xt = torch.from_numpy(x)[None]

    def run_plain() -> object:
        with torch.no_grad(), whole_maps():  # whole maps: satsr's EDSR would row-stream under no_grad
            return plain(xt)

    variants: dict[str, Callable[[], object]] = {"plain": run_plain, "satsr_fp32": lambda: fp32(x),
                                                 "satsr_bf16": lambda: bf16(x)}
    try:
        from satsr.models.onnx import OnnxUpscaler

        onnx = OnnxUpscaler(fp32)
        variants["onnx"] = lambda: onnx(x)
    except Exception as exc:  # onnxruntime not installed
        onnx = None
        print(json.dumps({"onnx": f"skipped: {str(exc)[:100]}"}), flush=True)
    times = best_times(variants, repeats)
    ref = run_plain()[0].numpy()  # type: ignore[index]
    out_mpx = (size * scale) ** 2 / 1e6
    res: dict[str, object] = {"arch": name, "scale": scale, "size": size, "weights": fp32.card.id if fp32.card else
                              "untrained", "threads": torch.get_num_threads()}
    for k, t in times.items():
        res[f"{k}_s"] = round(t, 3)
        res[f"{k}_mpx_per_s"] = round(out_mpx / t, 4)
        res[f"{k}_speedup_vs_plain"] = round(times["plain"] / t, 3)
    res["satsr_fp32_max_abs_diff"] = float(np.abs(fp32(x) - ref).max())
    res["satsr_bf16_max_abs_diff"] = float(np.abs(bf16(x) - ref).max())
    if onnx is not None:
        res["onnx_max_abs_diff"] = float(np.abs(onnx(x) - ref).max())
    with torch.no_grad():
        res["plain_peak_activation_mb"] = round(peak_activation_bytes(run_plain) / 1e6, 1)
    with torch.inference_mode():
        res["satsr_peak_activation_mb"] = round(peak_activation_bytes(lambda: fp32.forward(xt)) / 1e6, 1)
    return res


def write_rgb(path: Path, size: int, seed: int = 0) -> None:
    """A ``size`` px RGB uint8 GeoTIFF (smooth waves and texture; the content does not change the speed)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    img = np.stack([128 + 60 * np.sin(xx / (17 + 5 * b) + yy / (23 + 3 * b)) + rng.normal(0, 12, (size, size))
                    for b in range(3)])
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8", "crs": "EPSG:32633",
               "transform": Affine(0.3, 0, 500000, 0, -0.3, 4200000), "tiled": True, "blockxsize": 256,
               "blockysize": 256}
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(np.clip(img, 0, 255).astype(np.uint8))


def _child(cmd: list[str]) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of a child process. The child's own ``ru_maxrss`` would include this
    (large) process's peak, which exec passes on, so GNU time, a small parent, measures it when present."""
    gnu_time = Path("/usr/bin/time")
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        full = [str(gnu_time), "-f", "%M", "-o", rss.name, *cmd] if gnu_time.exists() else cmd
        t0 = time.perf_counter()
        proc = subprocess.Popen(full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status):
            raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-300:]}")  # type: ignore[union-attr]
        kb = float(rss.read().split()[-1]) if gnu_time.exists() else usage.ru_maxrss
    return seconds, kb / 1024


def bench_end_to_end(name: str, scale: int, size: int, repeats: int) -> dict[str, object]:
    from satsr.api import upscale
    from satsr.runtime import tune_allocator

    tuned = tune_allocator()  # what the CLI does first: the in-process calls run under the same allocator

    satsr_exe = str(Path(sys.executable).parent / "satsr")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "crop.tif"
        write_rgb(src, size)
        with rasterio.open(src) as ds:
            x = ds.read().astype(np.float32)
        m = model(name, scale)
        cli = [satsr_exe, "upscale", str(src), str(Path(tmp) / "cli.tif"), "--model", name, "--scale", str(scale),
               "--quiet", "--overwrite"]
        startup = [sys.executable, "-c", "import satsr.cli, satsr.api; from satsr.models import registry; "
                   f"registry.create({name!r}, {scale})"]
        cli_runs, start_runs = [], []

        def run_cli() -> None:
            cli_runs.append(_child(cli))

        def run_start() -> None:
            start_runs.append(_child(startup))

        times = best_times({"model_call": lambda: m.apply(x, None, np.float32),
                            "api_upscale": lambda: upscale(src, scale=scale, model=name,
                                                           out=Path(tmp) / "api.tif", overwrite=True),
                            "cli": run_cli, "startup": run_start}, repeats)
    return {"part": "end_to_end", "model": name, "scale": scale, "size": size, "threads": torch.get_num_threads(),
            "model_call_s": round(times["model_call"], 2), "api_upscale_s": round(times["api_upscale"], 2),
            "api_over_model_call": round(times["api_upscale"] / times["model_call"], 3),
            "cli_s": round(times["cli"], 2), "cli_over_model_call": round(times["cli"] / times["model_call"], 3),
            "interpreter_startup_and_model_build_s": round(times["startup"], 2),
            "allocator_tuned": tuned, "cli_peak_rss_mb": round(max(r[1] for r in cli_runs), 1),
            "startup_peak_rss_mb": round(max(r[1] for r in start_runs), 1)}


def bench_tiling(name: str, scale: int, size: int, repeats: int) -> dict[str, object]:
    from satsr.api import upscale
    from satsr.runtime import tune_allocator
    from satsr.tiling import choose_tile

    tune_allocator()  # as the CLI runs

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "scene.tif"
        write_rgb(src, size, seed=1)
        with rasterio.open(src) as ds:
            x = ds.read().astype(np.float32)
        m = model(name, scale)
        tile = choose_tile(size, size, 3, m, max_memory=1.5e9)
        cli = [str(Path(sys.executable).parent / "satsr"), "upscale", str(src), str(Path(tmp) / "cli.tif"),
               "--model", name, "--scale", str(scale), "--quiet", "--overwrite"]
        # the command first, in its own process; then the two in-process variants (an upscale that follows a
        # whole-image call in one process has run slower than alone: BENCHMARKS.md, Performance)
        times = best_times({"cli": lambda: _child(cli),
                            "whole_image_call": lambda: m.apply(x, None, np.float32),
                            "upscale_default": lambda: upscale(src, scale=scale, model=name, out=Path(tmp) / "o.tif",
                                                               overwrite=True)}, repeats, warmup=False)
    return {"part": "tiling", "model": name, "scale": scale, "size": size, "threads": torch.get_num_threads(),
            "default_tile": tile, "whole_image_call_s": round(times["whole_image_call"], 2),
            "upscale_default_s": round(times["upscale_default"], 2),
            "upscale_over_whole_call": round(times["upscale_default"] / times["whole_image_call"], 3),
            "cli_s": round(times["cli"], 2), "cli_over_whole_call": round(times["cli"] / times["whole_image_call"], 3)}


ALLOCATOR_CHILD = """
import json, resource, sys, time
import numpy as np, torch
torch.set_num_threads(int(sys.argv[3]))
from satsr.runtime import tune_allocator
tuned = tune_allocator()
from satsr.models import registry
m = registry.create("edsr", int(sys.argv[1]))
x = np.random.default_rng(0).random((3, int(sys.argv[2]), int(sys.argv[2]))).astype(np.float32) * 255
calls = []
for _ in range(3):
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    m.apply(x, None, np.float32)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    calls.append([time.perf_counter() - t0, r1.ru_minflt - r0.ru_minflt, r1.ru_stime - r0.ru_stime])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"tuned": tuned, "calls": calls, "maxrss_mb": peak}))
"""


def bench_allocator(scale: int, size: int, repeats: int, threads: int) -> dict[str, object]:
    """EDSR model calls in fresh processes with glibc's default allocator (``SATSR_MALLOC=default``) and
    with ``satsr.runtime.tune_allocator`` (what the CLI applies): first call, best later call, page faults."""
    res: dict[str, object] = {"part": "allocator", "model": "edsr", "scale": scale, "size": size, "threads": threads}
    runs: dict[str, list[dict[str, object]]] = {"default": [], "tuned": []}
    for _ in range(repeats):  # processes interleaved
        for mode in runs:
            env = {**os.environ, "SATSR_MALLOC": "default" if mode == "default" else "tuned"}
            out = subprocess.run([sys.executable, "-c", ALLOCATOR_CHILD, str(scale), str(size), str(threads)],
                                 capture_output=True, text=True, check=True, env=env)
            runs[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
    for mode, rs in runs.items():
        res[f"{mode}_first_call_s"] = round(min(r["calls"][0][0] for r in rs), 2)  # type: ignore[index]
        res[f"{mode}_later_call_s"] = round(min(c[0] for r in rs for c in r["calls"][1:]), 2)  # type: ignore[index]
        res[f"{mode}_first_call_minor_faults"] = int(min(r["calls"][0][1] for r in rs))  # type: ignore[index]
        res[f"{mode}_later_call_minor_faults"] = int(min(c[1] for r in rs for c in r["calls"][1:]))  # type: ignore[index]
        res[f"{mode}_peak_rss_mb"] = round(max(float(r["maxrss_mb"]) for r in rs), 1)  # type: ignore[arg-type]
    res["first_call_speedup"] = round(res["default_first_call_s"] / res["tuned_first_call_s"], 3)  # type: ignore[operator]
    res["later_call_speedup"] = round(res["default_later_call_s"] / res["tuned_later_call_s"], 3)  # type: ignore[operator]
    return res


def bench_psnr(name: str, scale: int) -> dict[str, object]:
    from satsr.evaluate.sisr import evaluate_sisr

    if not UCM.is_dir():
        return {"part": "psnr", "skipped": f"no UC Merced val at {UCM}"}
    res: dict[str, object] = {"part": "psnr", "model": name, "scale": scale, "data": "ucmerced/val"}
    for precision in ("fp32", "bf16"):
        t0 = time.perf_counter()
        report = evaluate_sisr(UCM, scale=scale, models=[name], options={"precision": precision})
        row = next(r for r in report.rows if r.model == name)
        res[f"{precision}_psnr"] = round(float(row.psnr), 4)
        res[f"{precision}_ssim"] = round(float(row.ssim), 5)
        res[f"{precision}_seconds"] = round(time.perf_counter() - t0, 1)
    res["bf16_minus_fp32_db"] = round(res["bf16_psnr"] - res["fp32_psnr"], 4)  # type: ignore[operator]
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", default="edsr,espcn", help="comma-separated; empty to skip the model calls")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--end-to-end", action="store_true")
    ap.add_argument("--tiling-size", type=int, default=0)
    ap.add_argument("--tiling-scale", type=int, default=2)
    ap.add_argument("--psnr", action="store_true")
    ap.add_argument("--allocator", action="store_true")
    ap.add_argument("--tune-allocator", action="store_true",
                    help="apply satsr.runtime.tune_allocator to this whole process first, as the CLI does")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.tune_allocator:
        from satsr.runtime import tune_allocator

        print(json.dumps({"allocator_tuned": tune_allocator()}), flush=True)
    results = []
    for name in [a for a in args.archs.split(",") if a]:
        results.append(bench_arch(name, args.scale, args.size, args.repeats))
        print(json.dumps(results[-1]), flush=True)
    if args.end_to_end:
        results.append(bench_end_to_end("edsr", args.scale, args.size, args.repeats))
        print(json.dumps(results[-1]), flush=True)
    if args.tiling_size:
        results.append(bench_tiling("edsr", args.tiling_scale, args.tiling_size, args.repeats))
        print(json.dumps(results[-1]), flush=True)
    if args.allocator:
        results.append(bench_allocator(args.scale, args.size, args.repeats, args.threads))
        print(json.dumps(results[-1]), flush=True)
    if args.psnr:
        results.append(bench_psnr("edsr", args.scale))
        print(json.dumps(results[-1]), flush=True)
    print(json.dumps({"torch": torch.__version__, "cpus": os.cpu_count(), "results": len(results)}))


if __name__ == "__main__":
    main()
