"""Helpers the tests share: synthetic images, GeoTIFFs and PROBA-V folders written to a test's tmp_path,
and where the real data lives. Test modules import them from here (``tests/`` is on ``sys.path``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import yaml
from affine import Affine
from PIL import Image
from rasterio.enums import ColorInterp

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO / ".." / "shared" / "data"
SAMPLE = REPO / "src" / "satsr" / "sample" / "landsat7_rgb_crop.tif"


def smooth_image(bands: int, height: int, width: int, seed: int = 0, lo: float = 100.0,
                 hi: float = 4000.0, noise: float = 0.02) -> np.ndarray:
    """Float64 ``(bands, h, w)`` test image: a few smooth waves plus a little noise, in [lo, hi]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    out = np.empty((bands, height, width))
    for b in range(bands):
        f = rng.uniform(0.02, 0.15, size=4)
        p = rng.uniform(0, 2 * np.pi, size=2)
        img = np.sin(f[0] * xx + f[1] * yy + p[0]) + np.cos(f[2] * xx - f[3] * yy + p[1])
        img = (img + 2) / 4 + noise * rng.standard_normal((height, width))
        out[b] = lo + (hi - lo) * np.clip(img, 0, 1)
    return out


def write_geotiff(path: Path, data: np.ndarray, *, dtype: str | None = None, nodata: float | None = None,
                  crs: str | None = "EPSG:32633", transform: Any = None,
                  descriptions: Sequence[str | None] | None = None, tags: dict[str, str] | None = None,
                  band_tags: Sequence[dict[str, str]] | None = None,
                  colorinterp: Sequence[ColorInterp] | None = None, **creation: Any) -> Path:
    """Write ``data`` (C, H, W) as a GeoTIFF with the given georeferencing and metadata."""
    count, height, width = data.shape
    dtype = dtype or str(data.dtype)
    if transform is None:
        transform = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4200000.0)
    profile: dict[str, Any] = {"driver": "GTiff", "width": width, "height": height, "count": count,
                               "dtype": dtype, "nodata": nodata, "transform": transform, **creation}
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data.astype(dtype))
        if descriptions:
            for b, d in enumerate(descriptions, 1):
                if d:
                    ds.set_band_description(b, d)
        if tags:
            ds.update_tags(**tags)
        if band_tags:
            for b, t in enumerate(band_tags, 1):
                ds.update_tags(b, **t)
        if colorinterp:
            ds.colorinterp = list(colorinterp)
    return path


def write_imgset(folder: Path, lr: np.ndarray, qm: np.ndarray | None = None, hr: np.ndarray | None = None,
                 sm: np.ndarray | None = None) -> Path:
    """A PROBA-V style folder: 16-bit LR/HR PNGs, 1-bit QM/SM PNGs."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(lr):
        Image.fromarray(frame.astype(np.uint16)).save(folder / f"LR{i:03d}.png")
        if qm is not None:
            Image.fromarray(qm[i].astype(bool)).save(folder / f"QM{i:03d}.png")
    if hr is not None:
        Image.fromarray(hr.astype(np.uint16)).save(folder / "HR.png")
    if sm is not None:
        Image.fromarray(sm.astype(bool)).save(folder / "SM.png")
    return folder


def texture(side: int, seed: int) -> np.ndarray:
    """A ``(1, side, side)`` multi-scale random texture in 14-bit DN (a stand-in for a real scene)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    img = sum(gaussian_filter(rng.standard_normal((side, side)), s) * s for s in (1, 2, 4, 8))
    return (3000 + 800 * img / img.std()).clip(100, 16000)[None]


def sisr_images(folder: Path, n: int = 6, size: int = 64) -> None:
    """``n`` 8-bit RGB PNGs of diagonal waves plus a little noise (tiny SISR training data)."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        img = np.stack([np.sin(2 * np.pi * (3 + i) * (xx + yy * c)) for c in (0.3, 0.6, 0.9)], -1)
        img = (127 + 100 * img + 2 * rng.standard_normal(img.shape)).clip(0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"img{i:02d}.png")


def sisr_config(tmp_path: Path, steps: int) -> Path:
    """A tiny single-image training config (EDSR x2, 2 blocks of 16 features, 6 synthetic PNGs) in ``tmp_path``."""
    sisr_images(tmp_path / "hr")
    cfg = {
        "name": "tiny", "model": "edsr", "scale": 2, "bands": 3,
        "arch": {"n_blocks": 2, "feats": 16},
        "data": {"train": ["hr/*.png"], "holdout": 3, "value_scale": 255},
        "patch": 12, "batch": 4, "steps": steps, "lr": 1e-3, "warmup": 5,
        "val_every": steps, "ckpt_every": 25, "log_every": 10, "precision": "32", "channels_last": False,
        "out_dir": str(tmp_path / "runs"),
        "export": {"id": "edsr_x2"},
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def misr_config(tmp_path: Path, steps: int) -> Path:
    """A tiny multi-image training config (highresnet, 3 synthetic 10 m scenes) written to ``tmp_path``."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        write_geotiff(src / f"scene{i}.tif", texture(80, i).astype(np.uint16), dtype="uint16")  # 10 m pixels
    cfg = {
        "name": "tiny_misr", "task": "misr", "model": "highresnet", "scale": 3, "bands": 1,
        "arch": {"feats": 8, "enc_blocks": 1},
        "data": {"train": ["src/*.tif"], "value_scale": 65535},
        "task_options": {
            "sources": [{"paths": ["src/scene[01].tif"]}],
            "val_sources": [{"paths": ["src/scene2.tif"]}],
            "hr_gsd": [10, 12], "frames": [3, 4], "val_stacks": 2, "val_patch": 24,
            "sim": {"n_frames": [4, 6], "psf_sigma": [1.0, 1.2], "noise": [5, 5], "hr_noise": [0, 0],
                    "shot": [0, 0], "max_shift": 1.0},
        },
        "patch": 8, "batch": 4, "steps": steps, "lr": 3e-3, "warmup": 2, "loss": "l1",
        "val_every": steps, "ckpt_every": steps, "log_every": 1, "precision": "32", "channels_last": False,
        "out_dir": str(tmp_path / "runs"),
        "export": {"id": "highresnet_x3"},
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_cli(args: Sequence[object], capsys: Any) -> tuple[int, str, str]:
    """``satsr ARGS...`` in this process: (exit code, stdout, stderr) as a user would see them."""
    from satsr.cli import main

    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
