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

from satsr.errors import OptionError
from satsr.io.stack import Stack, load_stack, write_fused

# The default is the PROBA-V baseline: on the scored scenes and on realistic simulations shift-and-add
# did not beat it on average (BENCHMARKS.md, issue 3); ``--method shiftadd`` is one option away.
DEFAULT_METHOD = "baseline"


def parse_options(items: Sequence[str] | None) -> dict[str, Any]:
    """``["sigma=0.75", "robust_iterations=0", "normalize=false"]`` -> keyword options for a method."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise OptionError(f"--set {item!r}: expected KEY=VALUE, e.g. --set sigma=0.75")
        low = text.strip().lower()
        value: Any
        if low in ("true", "yes", "on"):
            value = True
        elif low in ("false", "no", "off"):
            value = False
        else:
            try:
                value = int(text)
            except ValueError:
                try:
                    value = float(text)
                except ValueError:
                    value = text
        out[key.strip()] = value
    return out


def build_fuser(method: str | Any, scale: int, device: str = "cpu", **options: Any) -> Any:
    """A ``Fuser`` from a registry name (checked to be a multi-image model), or a ready one."""
    if not isinstance(method, str):
        return method
    from satsr.models import registry

    spec = registry.get_spec(method)
    if spec.kind != "misr":
        misr = ", ".join(s.name for s in registry.list_specs("misr"))
        raise OptionError(f"method {method!r} is a {spec.kind} model; fusion needs a multi-image one: {misr}")
    try:
        if spec.neural:
            return registry.create(method, scale, device=device, **options)
        return registry.create(method, scale, **options)
    except TypeError as exc:  # an option this method does not take
        raise OptionError(f"method {method!r} does not take these options {sorted(options)} ({exc})") from exc


def run_fuser(fuser: Any, frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Apply a fuser in its value units (``value_scale``) and return float32 ``(bands, H, W)``."""
    vs = float(getattr(fuser, "value_scale", 1.0) or 1.0)
    out = fuser(frames / vs if vs != 1.0 else frames, masks)
    arr = out.detach().cpu().numpy() if hasattr(out, "detach") else np.asarray(out)
    return (arr * vs).astype(np.float32)


def fuse_stack(stack: Stack, method: str | Any = DEFAULT_METHOD, scale: int = 3, device: str = "cpu",
               **options: Any) -> np.ndarray:
    """Fuse a loaded ``Stack`` -> float32 ``(bands, h*scale, w*scale)``."""
    fuser = build_fuser(method, scale, device, **options)
    if int(getattr(fuser, "scale", scale)) != scale:
        raise OptionError(f"the fuser upscales by {fuser.scale}, not {scale}")
    return run_fuser(fuser, stack.frames, stack.masks)


def fuse(inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
         out: str | os.PathLike[str] | None = None, method: str | Any = DEFAULT_METHOD, scale: int = 3,
         masks: Sequence[str | os.PathLike[str]] | None = None, mask_spec: str | None = None,
         clear_values: Sequence[float] | None = None, bands: Sequence[int] | None = None,
         overwrite: bool = False, device: str = "cpu", **options: Any) -> np.ndarray | Path:
    """Fuse revisits of one area into one image ``scale`` times finer.

    ``inputs``: a PROBA-V imgset folder, or a list of co-located rasters (with ``masks`` - one mask
    raster per frame - or ``mask_spec="OLD=NEW"``; ``clear_values`` say which mask values are clear,
    default non-zero). Without ``out`` the fused float32 array is returned; with it the result is
    written (16-bit PNG for imgsets, GeoTIFF otherwise) and the path returned.
    """
    paths = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    stack = load_stack(paths, masks=masks, mask_spec=mask_spec, clear_values=clear_values, bands=bands)
    if stack.kind == "probav" and scale != 3:
        raise OptionError(f"PROBA-V imgsets are fused x3 (300 m -> 100 m), not x{scale}")
    if out is not None:
        from satsr.io.raster import check_output

        check_output(out, overwrite)  # fail before the work, not after
    fused = fuse_stack(stack, method, scale, device, **options)
    if out is None:
        return fused
    return write_fused(stack, fused, out, scale, overwrite=overwrite)


__all__ = ["DEFAULT_METHOD", "build_fuser", "fuse", "fuse_stack", "parse_options", "run_fuser"]
