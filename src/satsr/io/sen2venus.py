"""Reading SEN2VENuS patch files (Michel et al. 2022, Zenodo record 6514159).

The dataset is one folder per VENuS site; each acquisition pair is a set of PyTorch tensor files
``<SITE>_<...>_<date>_<gsd>_<bands>.pt``: ``_05m_b2b3b4b8`` and ``_05m_b4b5b6b8a`` (VENuS, 5 m),
``_10m_b2b3b4b8`` and ``_20m_b4b5b6b8a`` (Sentinel-2, 10 m and 20 m). Each holds an int16 tensor
``(N, 4, H, W)`` of ``N`` patches, surface reflectance x 10000 (256 px at 5 m, 128 at 10 m, 64 at 20 m).
The red-edge files are named ``b4b5b6b8a`` but hold Sentinel-2 B5, B6, B7 and B8A (the paper's table).
Tensors are memory-mapped and loaded with ``weights_only`` (no code can run from a data file).
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch

from satsr.errors import InputError

VALUE_SCALE = 10000.0
# file suffix -> (sensor, ground sampling distance in m, band names)
SUFFIXES = {
    "_05m_b2b3b4b8.pt": ("venus", 5, ("B2", "B3", "B4", "B8")),
    "_10m_b2b3b4b8.pt": ("sentinel2", 10, ("B2", "B3", "B4", "B8")),
    "_05m_b4b5b6b8a.pt": ("venus", 5, ("B5", "B6", "B7", "B8A")),
    "_20m_b4b5b6b8a.pt": ("sentinel2", 20, ("B5", "B6", "B7", "B8A")),
}


def read_patches(path: str | os.PathLike[str]) -> torch.Tensor:
    """The ``(N, C, H, W)`` patch tensor of one file (memory-mapped, in the file's int16 DN)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such SEN2VENuS tensor file; check the dataset folder")
    try:
        try:
            t = torch.load(p, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:  # files in torch's legacy (pre-zip) format cannot be memory-mapped
            if "mmap" not in str(exc):
                raise
            t = torch.load(p, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, ValueError, zipfile.BadZipFile, pickle.UnpicklingError) as exc:
        raise InputError(f"{p}: cannot read the tensor ({' '.join(str(exc).split())[:160]}); the file looks "
                         "truncated or corrupt, re-extract it from the dataset archive") from exc
    if not isinstance(t, torch.Tensor) or t.ndim != 4:
        shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        raise InputError(f"{p}: expected a (patches, bands, height, width) tensor, got {shape}")
    return t


def read_patch(path: str | os.PathLike[str], index: int) -> np.ndarray:
    """Patch ``index`` of a file as float32 ``(C, H, W)`` DN."""
    t = read_patches(path)
    if not 0 <= index < t.shape[0]:
        raise InputError(f"{path}: has {t.shape[0]} patches, no patch {index}")
    return t[index].numpy().astype(np.float32)
