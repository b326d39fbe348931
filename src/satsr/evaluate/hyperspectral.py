"""Hyperspectral benchmarks (``satsr evaluate hyperspectral``): single-image SR and fusion with a finer
image, both by the Wald protocol, bicubic in the same run.

* ``hs_sisr_evaluate``: a cube (or a rectangle of it, e.g. a held-out part) is the reference; its
  Wald-degraded copy (``wald_degrade``: Gaussian MTF 0.3 at the low-res Nyquist frequency) is
  super-resolved by each model and scored against it.
* ``hs_fusion_evaluate``: the cube is degraded by the ratio and sharpened with a guide on the cube's
  own grid (a multispectral, panchromatic or RGB image of the same place, e.g. EO-1 ALI with
  Hyperion; a finer guide is first brought to the cube's grid by the same degradation), the original
  cube the reference (the classic HySure protocol).

Units: the cube is read in its file's units and divided by ``value_scale_of`` its dtype (integers:
10000, float reflectance: 1), and each model gets it in the units its card names (``value_scale``:
a per-band network trained on 16-bit reflectance sees reflectance x 10000, a unit-free one sees
reflectance). Scores (``satsr.evaluate.wald.quality``): PSNR per band with the reference's maximum as
peak and their mean, RMSE, ERGAS and SAM (degrees). A single-image model without weights at the
requested scale but with x2 weights runs x2 repeatedly (labelled ``name (x2 twice)``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from satsr.errors import InputError, ModelError, OptionError
from satsr.evaluate.wald import quality
from satsr.io.image import image_dtype, read_image, value_scale_of
from satsr.models import registry
from satsr.models.base import Upscaler
from satsr.ops.filters import wald_degrade
from satsr.ops.resize import crop_to_multiple
from satsr.sharpen import ratio_of, sharpen_arrays

Region = Sequence[int | None]


class Chained(Upscaler):
    """A single-image model applied ``n`` times (x2 weights used for x4: ``n = 2``)."""

    def __init__(self, model: Any, times: int) -> None:
        self.model, self.times = model, times
        self.name = f"{model.name} (x{model.scale} {'twice' if times == 2 else f'{times} times'})"
        self.scale = model.scale**times
        self.card = model.card

    def apply(self, x: np.ndarray, valid: np.ndarray | None = None, out_dtype: Any = np.float32) -> np.ndarray:
        for _ in range(self.times):
            x = self.model.apply(x, None, np.float64)
        return x.astype(out_dtype)


def hs_upscaler(name: str | Any, scale: int, device: str = "cpu") -> tuple[str, Any]:
    """(label, model): a single-image model at ``scale``, or its x2 weights chained when it has none at ``scale``."""
    if not isinstance(name, str):
        model = registry.resolve(name, scale, kind="sisr")
        return model.name, model
    try:
        return name, registry.create(name, scale, kind="sisr", device=device)
    except ModelError:
        k = int(round(np.log2(scale)))
        if 2**k != scale or k < 2:
            raise
        try:
            base = registry.create(name, 2, kind="sisr", device=device)
        except (ModelError, OptionError):
            raise ModelError(f"model {name!r} has no weights for x{scale} nor x2; train some with "
                             "`satsr train`") from None
        chained = Chained(base, k)
        return chained.name, chained


def read_cube(path: str | os.PathLike[str], region: Region | None = None) -> tuple[np.ndarray, float]:
    """The cube as float64 reflectance-like values (file units / ``value_scale_of`` its dtype) and that
    divisor; ``region`` ``[row0, row1, col0, col1]`` (None = the edge) keeps a rectangle."""
    p = Path(path)
    cube = read_image(p).astype(np.float64)
    scale = value_scale_of(image_dtype(p))
    if region is not None:
        if len(region) != 4:
            raise OptionError(f"--region: give ROW0,ROW1,COL0,COL1, got {list(region)}")
        h, w = cube.shape[-2:]
        r0, r1, c0, c1 = (d if v is None else int(v) for v, d in zip(region, (0, h, 0, w), strict=True))
        if not (0 <= r0 < r1 <= h and 0 <= c0 < c1 <= w):
            raise OptionError(f"--region {list(region)} is not inside the {h}x{w} px cube {p}")
        cube = cube[:, r0:r1, c0:c1]
    return cube / scale, scale


def _in_model_units(model: Upscaler, x: np.ndarray) -> tuple[np.ndarray, float]:
    """``x`` (reflectance) in the data units the model's card expects (e.g. DN = reflectance x 10000)."""
    units = float(model.value_scale or 1.0)
    return (x * units if units != 1.0 else x), units


def hs_sisr_evaluate(cube_path: str | os.PathLike[str], models: Sequence[str | Any] = ("sgsr", "edsr-ms"),
                     scales: Sequence[int] = (2, 4), region: Region | None = None, device: str = "cpu",
                     keep: Callable[[int, str, np.ndarray, np.ndarray, np.ndarray], None] | None = None
                     ) -> dict[str, Any]:
    """The Wald protocol for single-image SR of a cube: ``{"cube", "region", "bands", "scales": {s: {"shape",
    "methods": {label: quality + seconds}}}}`` (see the module docstring). ``keep(scale, label, pred, ref, lr)``
    sees each output (e.g. for figures)."""
    cube, divisor = read_cube(cube_path, region)
    result: dict[str, Any] = {"cube": str(cube_path), "region": list(region) if region else None,
                              "bands": int(cube.shape[0]), "value_scale": divisor, "scales": {}}
    for s in scales:
        ref = crop_to_multiple(cube, s)
        if min(ref.shape[-2:]) < 2 * s:
            raise InputError(f"{cube_path}: {ref.shape[-1]}x{ref.shape[-2]} px is too small for Wald x{s}")
        lr = wald_degrade(torch.from_numpy(ref), s).numpy()
        peak = float(ref.max())
        rows: dict[str, Any] = {}
        for m in ["bicubic", *[m for m in models if m != "bicubic"]]:
            label, up = hs_upscaler(m, s, device)
            t0 = time.perf_counter()
            x, units = _in_model_units(up, lr)
            pred = np.asarray(up.apply(x.astype(np.float32), None, np.float64)) / units
            rows[label] = {**quality(pred, ref, s, peak), "seconds": round(time.perf_counter() - t0, 2)}
            if keep is not None:
                keep(s, label, pred, ref, lr)
        result["scales"][str(s)] = {"shape": [int(v) for v in ref.shape], "methods": rows}
    return result


def hs_fusion_evaluate(cube_path: str | os.PathLike[str], guide_path: str | os.PathLike[str], ratio: int,
                       models: Sequence[str | Any] = ("hpi", "hpi-hs", "hsnet-zs"),
                       guide_bands: Sequence[int] | None = None,
                       keep: Callable[[str, np.ndarray, np.ndarray, np.ndarray], None] | None = None
                       ) -> dict[str, Any]:
    """The Wald protocol for hyperspectral fusion: ``{"ratio", "shape", "guide_bands", "methods": {label:
    quality + seconds}}`` (see the module docstring). ``keep(label, pred, ref, lowres)`` sees each output."""
    cube, _ = read_cube(cube_path)
    guide = read_image(guide_path, guide_bands).astype(np.float64) / value_scale_of(image_dtype(guide_path))
    if guide.shape[-2:] != cube.shape[-2:]:
        q = ratio_of(guide.shape[-2:], cube.shape[-2:], f"{guide_path}")
        guide = wald_degrade(torch.from_numpy(crop_to_multiple(guide, q)), q).numpy()
    ref = crop_to_multiple(cube, ratio)
    h, w = ref.shape[-2:]
    if min(h, w) < 2 * ratio:
        raise InputError(f"{cube_path}: {w}x{h} px is too small for ratio {ratio}")
    guide = guide[:, :h, :w]
    lowres = wald_degrade(torch.from_numpy(ref), ratio).numpy()
    peak = float(ref.max())
    rows: dict[str, Any] = {}
    for m in ["bicubic", *[m for m in models if m != "bicubic"]]:
        t0 = time.perf_counter()
        pred = sharpen_arrays(guide.astype(np.float32), lowres.astype(np.float32), m).astype(np.float64)
        label = m if isinstance(m, str) else m.name
        rows[label] = {**quality(pred, ref, ratio, peak), "seconds": round(time.perf_counter() - t0, 2)}
        if keep is not None:
            keep(label, pred, ref, lowres)
    return {"cube": str(cube_path), "guide": str(guide_path), "ratio": ratio, "shape": [int(v) for v in ref.shape],
            "guide_bands": int(guide.shape[0]), "methods": rows}
