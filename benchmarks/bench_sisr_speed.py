"""CPU inference throughput of every SISR architecture (output megapixels per second).

For each architecture at x4 on a 512x512 3-band input: plain fp32 eval, then the effect of
inference_mode, channels_last, bfloat16 autocast and torch.compile, each measured in the same run
(ratios against plain fp32, since machines are noisy). Optionally the tiled-engine overhead
(tile 512, overlap 32) against a single untiled call. Prints one JSON object.

    .venv/bin/python benchmarks/bench_sisr_speed.py [--size 512] [--archs edsr,espcn] [--compile]
    .venv/bin/python benchmarks/bench_sisr_speed.py --archs "" --tiling-size 768   # tiling overhead only
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import torch

from satsr.models.registry import build_net


def _time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (allocations, oneDNN primitive creation, compilation)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_arch(name: str, size: int, scale: int, repeats: int, compile_: bool) -> dict[str, float]:
    torch.manual_seed(0)
    net = build_net(name, scale, 3).eval()
    x = torch.rand(1, 3, size, size)
    out_mpx = (size * scale) ** 2 / 1e6
    res: dict[str, float] = {}

    def run(
        model: torch.nn.Module, inp: torch.Tensor, bf16: bool = False, mode: str = "no_grad"
    ) -> Callable[[], object]:
        ctx = torch.inference_mode if mode == "inference_mode" else torch.no_grad

        def f() -> object:
            with ctx(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                return model(inp)

        return f

    res["fp32_s"] = _time(run(net, x), repeats)
    res["inference_mode_s"] = _time(run(net, x, mode="inference_mode"), repeats)
    net_cl = build_net(name, scale, 3).eval().to(memory_format=torch.channels_last)
    net_cl.load_state_dict(net.state_dict())
    x_cl = x.contiguous(memory_format=torch.channels_last)
    res["channels_last_s"] = _time(run(net_cl, x_cl, mode="inference_mode"), repeats)
    res["channels_last_bf16_s"] = _time(run(net_cl, x_cl, bf16=True, mode="inference_mode"), repeats)
    if compile_:
        try:
            compiled = torch.compile(net_cl)
            res["compile_channels_last_s"] = _time(run(compiled, x_cl, mode="inference_mode"), repeats)
        except Exception as exc:  # compilation needs a C++ toolchain; report instead of failing
            res["compile_error"] = str(exc).splitlines()[0][:200]  # type: ignore[assignment]
    for key in list(res):
        if key.endswith("_s") and isinstance(res[key], float):
            res[key.replace("_s", "_mpx_per_s")] = round(out_mpx / res[key], 4)
            res[key.replace("_s", "_speedup")] = round(res["fp32_s"] / res[key], 3)
            res[key] = round(res[key], 4)
    res["params"] = sum(p.numel() for p in net.parameters())
    return res


def bench_tiling(size: int, scale: int, tile: int, overlap: int) -> dict[str, float]:
    """Tiled engine vs one untiled call for edsr (fp32)."""
    import numpy as np

    from satsr.api import upscale
    from satsr.models.registry import create

    model = create("edsr", scale, pretrained=False)
    x = np.random.default_rng(0).random((3, size, size)).astype(np.float32) * 255
    untiled = _time(lambda: model(x / 255), 1)
    tiled = _time(lambda: upscale(x, scale=scale, model=model, tile=tile, overlap=overlap), 1)
    return {"untiled_s": round(untiled, 3), "tiled_s": round(tiled, 3), "overhead_ratio": round(tiled / untiled, 3),
            "tile": tile, "overlap": overlap, "size": size}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--archs", default="srcnn,espcn,vdsr,edsr,rcan,swinir")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--tiling-size", type=int, default=1024, help="0 to skip the tiling overhead test")
    args = ap.parse_args()
    out: dict[str, object] = {"threads": torch.get_num_threads(), "torch": torch.__version__, "size": args.size,
                              "scale": args.scale, "archs": {}}
    for name in [a for a in args.archs.split(",") if a]:  # --archs "" measures only the tiling
        out["archs"][name] = bench_arch(name, args.size, args.scale, args.repeats, args.compile)  # type: ignore[index]
        print(json.dumps({name: out["archs"][name]}), flush=True)  # type: ignore[index]
    if args.tiling_size:
        out["tiling"] = bench_tiling(args.tiling_size, args.scale, 512, 32)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
