"""Multi-image super-resolution of a revisit stack: ``fuse``.

Loads the stack (``satsr.io.stack``: co-located rasters with masks, or a PROBA-V imgset), builds the
``Fuser`` by name, normalises values by its model card, fuses and writes the result (GeoTIFF
georeferenced like the reference frame at 1/scale its pixel size, or a 16-bit PNG for PROBA-V).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from satsr.errors import InputError, OptionError
from satsr.io.stack import Stack, load_stack, write_fused
from satsr.models import registry
from satsr.models.base import MultiImageModel

# The default is the PROBA-V baseline: on the scored scenes and on realistic simulations shift-and-add
# did not beat it on average (BENCHMARKS.md, issue 3); ``--method shiftadd`` is one option away.
DEFAULT_METHOD = "baseline"


def write_uncertainty(stack: Stack, sigma: np.ndarray, out: str | os.PathLike[str], scale: int,
                      overwrite: bool = False) -> Path:
    """Write a fuser's sigma ``(bands, H, W)`` as float32 GeoTIFF on the fused output's grid
    (NaN where no frame had data); a PROBA-V imgset gives a plain (not georeferenced) TIFF."""
    from satsr.io.raster import OutputProfile, output_profile, write_raster
    from satsr.masking import upscale_mask

    values = np.array(sigma, dtype=np.float32)
    if stack.info is not None:
        values[:, ~upscale_mask(stack.any_valid(), scale)] = np.nan
        profile = output_profile(stack.info, scale, stack.bands, dtype="float32")
        profile.colorinterp, profile.band_tags, profile.scales, profile.offsets, profile.units = (), (), (), (), ()
    else:
        c, h, w = values.shape
        profile = OutputProfile(creation={"driver": "GTiff", "width": w, "height": h, "count": c,
                                          "dtype": "float32", "tiled": True, "blockxsize": 256,
                                          "blockysize": 256, "compress": "deflate", "predictor": 3})
    profile.creation["nodata"] = float("nan")
    profile.descriptions = tuple(f"uncertainty (fuser sigma) of band {b}" for b in range(1, values.shape[0] + 1))
    profile.tags = {**profile.tags, "SATSR_MAP": "uncertainty",
                    "SATSR_MAP_MEANING": "the fusion model's own per-pixel sigma, data units"}
    return write_raster(out, values, profile, overwrite=overwrite)


def fuse_stack(stack: Stack, method: str | Any = DEFAULT_METHOD, scale: int = 3, device: str = "cpu",
               **options: Any) -> np.ndarray:
    """Fuse a loaded ``Stack`` -> float32 ``(bands, h*scale, w*scale)``."""
    return build_fuser(method, scale, device, **options).apply(stack.frames, stack.masks)[0]


def build_fuser(method: str | Any, scale: int, device: str = "cpu", **options: Any) -> MultiImageModel:
    """A multi-image model by name (``registry.create``) or a ready one, checked against the contract."""
    return registry.resolve(method, scale, kind="misr", device=device, **options)


def fuse(inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
         out: str | os.PathLike[str] | None = None, method: str | Any = DEFAULT_METHOD, scale: int = 3,
         masks: Sequence[str | os.PathLike[str]] | None = None, mask_spec: str | None = None,
         clear_values: Sequence[float] | None = None, bands: Sequence[int] | None = None,
         overwrite: bool = False, device: str = "cpu", uncertainty: str | os.PathLike[str] | None = None,
         **options: Any) -> np.ndarray | Path:
    """Fuse revisits of one area into one image ``scale`` times finer.

    ``inputs``: a PROBA-V imgset folder, or a list of co-located rasters (with ``masks`` - one mask
    raster per frame - or ``mask_spec="OLD=NEW"``; ``clear_values`` say which mask values are clear,
    default non-zero). Without ``out`` the fused float32 array is returned; with it the result is
    written (16-bit PNG for imgsets, GeoTIFF otherwise) and the path returned. ``uncertainty`` (with
    ``out``) also writes the fuser's own per-pixel sigma (e.g. PIUnet's) as a float32 GeoTIFF.
    """
    paths = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    stack = load_stack(paths, masks=masks, mask_spec=mask_spec, clear_values=clear_values, bands=bands)
    if stack.kind == "probav" and scale != 3:
        raise OptionError(f"PROBA-V imgsets are fused x3 (300 m -> 100 m), not x{scale}")
    if not stack.masks.any():
        raise InputError(f"{paths[0]}: no frame has a clear pixel under its mask ({len(stack.names)} frames), so "
                         "there is nothing but cloud to fuse; check --masks / --mask-spec / --clear-values")
    if out is not None:
        from satsr.io.raster import check_output

        check_output(out, overwrite)  # fail before the work, not after
        if uncertainty is not None:
            check_output(uncertainty, overwrite)
            if Path(uncertainty).resolve() == Path(out).resolve():
                raise OptionError(f"{uncertainty}: --uncertainty would overwrite the output; give it its own name")
    elif uncertainty is not None:
        raise OptionError("--uncertainty writes a file beside the output; give an output too")
    fuser = build_fuser(method, scale, device, **options)
    fused, sigma = fuser.apply(stack.frames, stack.masks)
    if uncertainty is None:
        return fused if out is None else write_fused(stack, fused, out, scale, overwrite=overwrite)
    if sigma is None:
        name = method if isinstance(method, str) else fuser.name
        raise OptionError(f"method {name!r} gives no per-pixel uncertainty; --uncertainty needs a fuser "
                          "that predicts one (piunet)")
    assert out is not None
    written = write_fused(stack, fused, out, scale, overwrite=overwrite)
    write_uncertainty(stack, sigma, uncertainty, scale, overwrite=overwrite)
    return written


__all__ = ["DEFAULT_METHOD", "build_fuser", "fuse", "fuse_stack", "write_uncertainty"]
