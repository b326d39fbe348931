"""satsr: super-resolution for satellite imagery, with georeferenced GeoTIFF output.

The public API is imported lazily so that ``import satsr`` stays fast and does not pull in torch:

    import satsr
    satsr.upscale("scene.tif", scale=4, model="bicubic", out="scene_x4.tif")
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "upscale": "satsr.api",
    "batch": "satsr.batch",
    "list_models": "satsr.api",
    "load_model": "satsr.api",
    "fuse": "satsr.fusion",
    "sharpen_files": "satsr.sharpen",
    "sharpen_arrays": "satsr.sharpen",
    "sharpen_s2_folder": "satsr.sharpen",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'satsr' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
