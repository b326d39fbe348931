"""Generative (ESRGAN) and arbitrary-scale (LIIF) SR on UC Merced val, beside EDSR and bicubic in the same run.

* ``--part gan``: x4, MATLAB-bicubic LR; for bicubic, ``edsr`` and ``esrgan``: PSNR/SSIM, the high-frequency
  power ratio (``metrics.hf_power_ratio``: 1.0 = as sharp as the HR), opensr-test's improvement /
  hallucination / omission shares, and the mean of satsr's hallucination map (``trust.maps``) over each
  model's outputs, plus that map's mean on the pixels where the model's error is in the image's top
  quartile and elsewhere (the map should sit on the invented, wrong detail).
* ``--part alpha --psnr-weights P --gan-weights G``: on the 21-image subset (the first val image of each
  class), ``edsr`` and ESRGAN's network interpolation of the two stages at ``--alphas``: PSNR, HF ratio and
  opensr-test's shares per blend (how the shipped alpha was chosen).
* ``--part sharpen``: on the same subset, ``edsr``'s output with an unsharp mask (Gaussian sigma 1 px) of
  ``--amounts``: PSNR, HF ratio, opensr shares (does added detail alone raise the improvement share?).
* ``--part mix``: on the same subset, ``edsr``'s low frequencies plus ``esrgan``'s high frequencies (Gaussian
  split of ``--sigmas`` HR px): would the shipped GAN's detail on an EDSR-quality base beat EDSR's share?
* ``--part liif``: ``liif`` (one set of weights) at x2, 2.5, 3, 3.5, 4, 6 and 8 against bicubic, and the
  shipped ``edsr`` at the scales it has weights for, all on the same LR per scale.

    .venv/bin/python benchmarks/generative.py --part gan|liif [--limit N] [--scales 2,2.5,3,3.5,4,6,8] [--no-edsr]
    .venv/bin/python benchmarks/generative.py --part alpha --alphas 0,0.85,0.9,0.95,1 \
        --psnr-weights runs/esrgan_psnr_x4/export/esrgan_psnr_x4.safetensors \
        --gan-weights runs/esrgan_x4/export/esrgan_x4.safetensors
    .venv/bin/python benchmarks/generative.py --part sharpen --amounts 0,0.5,1,2
    .venv/bin/python benchmarks/generative.py --part mix --sigmas 0.7,1,1.5,2

Prints one JSON object (``evaluate_sisr`` is the code behind ``satsr evaluate sisr``).
"""

from __future__ import annotations

import argparse
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

UCM_VAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ucmerced" / "val"


def _rows(rep: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for r in rep.rows:
        row = {"psnr": round(r.psnr, 4), "ssim": round(r.ssim, 4), "seconds": round(r.seconds, 3)}
        if r.hf_ratio == r.hf_ratio:
            row["hf_ratio"] = round(r.hf_ratio, 4)
        if r.opensr:
            row["opensr"] = {k: round(float(v), 4) for k, v in r.opensr.items()}
        out[r.model] = row
    return out


def gan_part(limit: int | None) -> dict[str, Any]:
    from satsr.evaluate import evaluate_sisr
    from satsr.evaluate.sisr import ImageOutputs
    from satsr.models.registry import create
    from satsr.trust.maps import default_floor, hallucination_map
    from satsr.trust.operators import degradation_for

    deg = degradation_for(create("edsr", 4))  # bicubic x4, the degradation both models were trained on
    floor = default_floor("uint8")
    halluc: dict[str, list[float]] = {}
    top: dict[str, list[float]] = {}
    rest: dict[str, list[float]] = {}

    def keep(img: ImageOutputs) -> None:
        for key, sr in img.outputs.items():
            name = key.split("#")[0]
            h = hallucination_map(np.clip(sr, 0, 255), deg, floor).mean(0)
            err = np.abs(np.asarray(sr, np.float64) - img.hr).mean(0)
            q = err >= np.quantile(err, 0.75)
            halluc.setdefault(name, []).append(float(h.mean()))
            top.setdefault(name, []).append(float(h[q].mean()))
            rest.setdefault(name, []).append(float(h[~q].mean()))

    rep = evaluate_sisr(UCM_VAL, 4, ["edsr", "esrgan"], limit=limit, opensr=True, perception=True, keep=keep)
    rows = _rows(rep)
    for name, row in rows.items():
        row["hallucination_mean"] = round(float(np.mean(halluc[name])), 5)
        row["hallucination_top_error_quartile"] = round(float(np.mean(top[name])), 5)
        row["hallucination_other_pixels"] = round(float(np.mean(rest[name])), 5)
    return {"scale": 4, "images": rep.images, "rows": rows}


def _subset(tmp: str) -> Path:
    from zero_shot import subset  # the one-image-per-class subset of the zero-shot benchmark (21 images)

    into = Path(tmp) / "ucm21"
    into.mkdir()
    return subset(UCM_VAL, 1, into)


def _shares(row: Any) -> dict[str, Any]:
    o = row.opensr or {}
    return {"psnr": round(row.psnr, 3), "hf_ratio": round(row.hf_ratio, 3),
            **{k: round(float(o[k]), 3) for k in ("improvement", "hallucination", "omission") if k in o}}


def alpha_part(psnr_w: Path, gan_w: Path, alphas: list[float]) -> dict[str, Any]:
    import tempfile

    from satsr.evaluate import evaluate_sisr
    from satsr.models.registry import create
    from satsr.train.interpolate import interpolate_weights

    with tempfile.TemporaryDirectory() as tmp:
        models: list[Any] = ["edsr"]
        for a in alphas:
            w = interpolate_weights(psnr_w, gan_w, a, Path(tmp) / f"blend_{a:g}.safetensors")
            m = create("esrgan", 4, weights=w)
            m.name = f"esrgan@{a:g}"
            models.append(m)
        rep = evaluate_sisr(_subset(tmp), 4, models, opensr=True, perception=True)
    return {"images": rep.images, "rows": {str(r.model): _shares(r) for r in rep.rows}}


SCORES = ("improvement", "hallucination", "psnr", "hf_ratio")


def _score(img: Any, out: np.ndarray) -> list[float]:
    """``SCORES`` of one x4 output against its image's HR (PSNR inside the border evaluate_sisr cuts)."""
    from satsr.metrics import hf_power_ratio, psnr
    from satsr.trust.opensr import opensr_metrics

    m = opensr_metrics(img.lr, out, img.hr, value_scale=255)
    b = 4
    return [m.improvement, m.hallucination, psnr(out[:, b:-b, b:-b], img.hr[:, b:-b, b:-b], 255.0),
            hf_power_ratio(out, img.hr)]


def _subset_means(models: list[str], variants: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Run ``models`` on the 21-image subset; ``variants[key](outputs)`` builds one output per image from
    the models' float outputs (by name); the mean ``SCORES`` of each variant."""
    import tempfile

    from satsr.evaluate import evaluate_sisr
    from satsr.evaluate.sisr import ImageOutputs

    acc: dict[str, list[list[float]]] = {k: [] for k in variants}

    def keep(img: ImageOutputs) -> None:
        outs = {k.split("#")[0]: np.asarray(v, np.float64) for k, v in img.outputs.items()}
        for key, make in variants.items():
            acc[key].append(_score(img, np.clip(make(outs), 0, 255)))

    with tempfile.TemporaryDirectory() as tmp:
        evaluate_sisr(_subset(tmp), 4, models, keep=keep)
    return {k: dict(zip(SCORES, (round(float(v), 3) for v in np.mean(acc[k], axis=0)), strict=True))
            for k in variants}


def _lowpass(x: np.ndarray, sigma: float) -> np.ndarray:
    from scipy import ndimage

    return np.stack([ndimage.gaussian_filter(b, sigma) for b in x])


def sharpen_part(amounts: list[float]) -> dict[str, Any]:
    """EDSR plus an unsharp mask (Gaussian sigma 1 px) of each amount."""
    return _subset_means(["edsr"], {f"{a:g}": (lambda o, a=a: o["edsr"] + a * (o["edsr"] - _lowpass(o["edsr"], 1.0)))
                                    for a in amounts})


def mix_part(sigmas: list[float]) -> dict[str, Any]:
    """EDSR's low frequencies plus ESRGAN's high frequencies, split by a Gaussian of each sigma (HR px):
    the best a GAN built on an EDSR-quality base could do with the shipped GAN's detail."""
    variants: dict[str, Any] = {"edsr": lambda o: o["edsr"], "esrgan": lambda o: o["esrgan"]}
    for sg in sigmas:
        variants[f"edsr_low+esrgan_high@{sg:g}"] = (
            lambda o, sg=sg: _lowpass(o["edsr"], sg) + o["esrgan"] - _lowpass(o["esrgan"], sg))
    return _subset_means(["edsr", "esrgan"], variants)


def liif_part(limit: int | None, scales: list[str], with_edsr: bool = True) -> dict[str, Any]:
    from satsr.evaluate import evaluate_sisr

    out = {}
    for s in scales:
        scale = Fraction(s).limit_denominator(100)
        models = ["liif"] + (["edsr"] if with_edsr and scale in (2, 3, 4) else [])
        rep = evaluate_sisr(UCM_VAL, scale if scale.denominator > 1 else int(scale), models, limit=limit)
        rows = _rows(rep)
        for name in models:
            rows[name]["psnr_gain"] = round(rows[name]["psnr"] - rows["bicubic"]["psnr"], 4)
        out[s] = {"images": rep.images, "rows": rows}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("gan", "liif", "alpha", "sharpen", "mix"), required=True)
    ap.add_argument("--limit", type=int, default=None, help="first N images only")
    ap.add_argument("--scales", default="2,2.5,3,3.5,4,6,8", help="liif part: scales")
    ap.add_argument("--no-edsr", action="store_true", help="liif part: leave out the EDSR rows (already measured)")
    ap.add_argument("--psnr-weights", type=Path, help="alpha part: the PSNR stage's export")
    ap.add_argument("--gan-weights", type=Path, help="alpha part: the adversarial stage's export")
    ap.add_argument("--alphas", default="0,0.85,0.9,0.95,1", help="alpha part")
    ap.add_argument("--amounts", default="0,0.5,1,2", help="sharpen part: unsharp-mask amounts")
    ap.add_argument("--sigmas", default="0.7,1,1.5,2", help="mix part: Gaussian split between low and high (HR px)")
    args = ap.parse_args()
    if args.part == "gan":
        result = gan_part(args.limit)
    elif args.part == "alpha":
        if args.psnr_weights is None or args.gan_weights is None:
            ap.error("--part alpha needs --psnr-weights and --gan-weights")
        result = alpha_part(args.psnr_weights, args.gan_weights, [float(a) for a in args.alphas.split(",")])
    elif args.part == "sharpen":
        result = sharpen_part([float(a) for a in args.amounts.split(",")])
    elif args.part == "mix":
        result = mix_part([float(a) for a in args.sigmas.split(",")])
    else:
        result = liif_part(args.limit, args.scales.split(","), with_edsr=not args.no_edsr)
    print(json.dumps({"part": args.part, "results": result}, indent=1))


if __name__ == "__main__":
    main()
