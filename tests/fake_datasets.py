"""Tiny copies of the public SR datasets' on-disk layouts (same folder and file names, dtypes, band
counts and georeferencing as the published data, far fewer and smaller samples), for the dataset
tests. Each ``fake_*`` writes under ``root`` and returns it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from affine import Affine
from PIL import Image

from helpers import smooth_image, write_geotiff, write_imgset

UTM = "EPSG:32633"


def _block_mean(hr: np.ndarray, s: int) -> np.ndarray:
    c, h, w = hr.shape
    return hr.reshape(c, h // s, s, w // s, s).mean((2, 4))


def fake_probav(root: Path, scenes: dict[str, dict[str, Sequence[int]]] | None = None, frames: int = 4,
                side: int = 8, seed: int = 0) -> Path:
    """``train/`` and ``test/`` with ``RED/`` and ``NIR/`` imgsets (16-bit LR/HR PNGs, 1-bit QM/SM,
    LR ``side`` px, HR 3x) and ``norm.csv``, as the challenge published them."""
    scenes = scenes or {"train": {"RED": [0, 1, 2], "NIR": [594, 595, 596]}, "test": {"RED": [1160], "NIR": [1306]}}
    rng = np.random.default_rng(seed)
    norm = []
    for split, bands in scenes.items():
        for band, numbers in bands.items():
            for n in numbers:
                hr = smooth_image(1, 3 * side, 3 * side, seed=n, lo=2000, hi=12000)[0].round()
                lr = np.stack([_block_mean(hr[None], 3)[0] + rng.normal(0, 20, (side, side)) for _ in range(frames)])
                qm = rng.random((frames, side, side)) > 0.2
                qm[0] = True
                sm = rng.random((3 * side, 3 * side)) > 0.05
                has_hr = split == "train"
                write_imgset(root / split / band / f"imgset{n:04d}", lr.clip(0, 16383), qm,
                             hr if has_hr else None, sm if has_hr else None)
                norm.append(f"imgset{n:04d} {45 + n % 10:.6f}")
    (root / "norm.csv").write_text("\n".join(norm) + "\n")
    return root


def fake_worldstrat(root: Path, aois: Sequence[str] = ("Landcover-769876", "UNHCR-GRCs035302", "Amnesty POI-20-2-2",
                                                        "ASMSpotter-17-2-2", "Landcover-771178"),
                    splits: Sequence[str] | None = ("train", "train", "val", "test", "train"), revisits: int = 3,
                    lr_side: int = 6, seed: int = 0) -> Path:
    """``hr_dataset/12bit/<AOI>/`` (``_ps.tiff`` 4-band uint16 12-bit at 1.5 m, ``_pan.tiff``, ``_rgbn.tiff``
    at 6 m, ``_rgb.png``), ``lr_dataset/<AOI>/{L2A,L1C}/`` revisits (``<AOI>-<n>-L2A_data.tiff`` 12-band and
    ``-L1C_data.tiff`` 13-band float32 reflectance at 10 m, ``-CLM.tiff`` and ``-dataMask.tiff`` uint8),
    all in UTM over the same footprint, and the split CSV (omitted when ``splits`` is None)."""
    rng = np.random.default_rng(seed)
    hr_side = lr_side * 20 // 3  # 1.5 m vs 10 m, as published (not a whole ratio)
    x0, y0 = 500000.0, 4200000.0
    rows = []
    for k, aoi in enumerate(aois):
        hr_dir = root / "hr_dataset" / "12bit" / aoi
        hr_dir.mkdir(parents=True)
        ps = smooth_image(4, hr_side, hr_side, seed=k, lo=200, hi=4000).round()
        write_geotiff(hr_dir / f"{aoi}_ps.tiff", ps, dtype="uint16", crs=UTM,
                      transform=Affine(1.5, 0, x0, 0, -1.5, y0))
        write_geotiff(hr_dir / f"{aoi}_pan.tiff", ps.mean(0, keepdims=True), dtype="uint16", crs=UTM,
                      transform=Affine(1.5, 0, x0, 0, -1.5, y0))
        write_geotiff(hr_dir / f"{aoi}_rgbn.tiff", ps[:, ::4, ::4], dtype="uint16", crs=UTM,
                      transform=Affine(6.0, 0, x0, 0, -6.0, y0))
        Image.fromarray((ps[:3] / 16).clip(0, 255).astype(np.uint8).transpose(1, 2, 0)).save(hr_dir / f"{aoi}_rgb.png")
        for level, count in (("L2A", 12), ("L1C", 13)):
            lr_dir = root / "lr_dataset" / aoi / level
            lr_dir.mkdir(parents=True)
            for n in range(1, revisits + 1):
                data = smooth_image(count, lr_side, lr_side, seed=100 * k + n, lo=0.02, hi=0.4).astype(np.float32)
                write_geotiff(lr_dir / f"{aoi}-{n}-{level}_data.tiff", data, dtype="float32", crs=UTM,
                              transform=Affine(10.0, 0, x0, 0, -10.0, y0))
                cloud = (rng.random((1, lr_side, lr_side)) < 0.15 * (n - 1)).astype(np.uint8)
                write_geotiff(lr_dir / f"{aoi}-{n}-CLM.tiff", cloud, dtype="uint8", crs=UTM,
                              transform=Affine(10.0, 0, x0, 0, -10.0, y0))
                write_geotiff(lr_dir / f"{aoi}-{n}-dataMask.tiff", np.ones((1, lr_side, lr_side)), dtype="uint8",
                              crs=UTM, transform=Affine(10.0, 0, x0, 0, -10.0, y0))
        if splits is not None:
            source = aoi.split("-")[0]
            rows.append(f"{k * 16},{aoi},Settlement,12,{source},{source}/Settlement/12,{splits[k]}")
    if splits is not None:
        (root / "stratified_train_val_test_split.csv").write_text(
            ",tile,IPCC Class,SMOD,source,joint_class,split\n" + "\n".join(rows) + "\n")
    return root


SEN2VENUS_FILES = {"_10m_b2b3b4b8.pt": 1, "_05m_b2b3b4b8.pt": 2, "_20m_b4b5b6b8a.pt": 0.5, "_05m_b4b5b6b8a.pt": 2}


def fake_sen2venus(root: Path, sites: dict[str, Sequence[tuple[str, int]]] | None = None, side: int = 8,
                   seed: int = 0) -> Path:
    """One folder per site with the four int16 tensor files ``(N, 4, H, W)`` of each acquisition
    (10 m ``side`` px; 5 m twice, 20 m half that), reflectance x 10000, as on Zenodo."""
    sites = sites or {"ALSACE": [("C_32ULU_2018-02-14", 3), ("C_32ULU_2018-03-02", 2)],
                      "SUDOUE-4": [("C_30TYN_2019-06-11", 2), ("C_30TYN_2019-07-21", 3)],
                      "FR-LAM": [("C_31TCJ_2018-08-09", 2)]}
    torch.manual_seed(seed)
    for site, acquisitions in sites.items():
        d = root / site
        d.mkdir(parents=True)
        for stem, n in acquisitions:
            for suffix, factor in SEN2VENUS_FILES.items():
                s = int(side * factor)
                torch.save((torch.rand(n, 4, s, s) * 6000 - 200).to(torch.int16), d / f"{site}_{stem}{suffix}")
    return root


def fake_oli2msi(root: Path, train: int = 6, test: int = 2, lr_side: int = 8, seed: int = 0) -> Path:
    """``train_hr/ train_lr/ test_hr/ test_lr/`` of matching ``*.TIF``: 3-band float32 reflectance,
    Sentinel-2 10 m HR over Landsat 8 30 m LR (x3), UTM, same origin."""
    for split, n in (("train", train), ("test", test)):
        for i in range(n):
            name = f"L8_126038_20190923_S2B_20190923_T49R{'BQ' if split == 'train' else 'CQ'}_N{i:04d}.TIF"
            x0, y0 = 300000.0 + 1000 * i, 3300000.0
            hr = smooth_image(3, 3 * lr_side, 3 * lr_side, seed=seed + i, lo=0.02, hi=0.3).astype(np.float32)
            for side, data, px in (("hr", hr, 10.0), ("lr", _block_mean(hr, 3), 30.0)):
                (root / f"{split}_{side}").mkdir(parents=True, exist_ok=True)
                write_geotiff(root / f"{split}_{side}" / name, data, dtype="float32", crs="EPSG:32649",
                              transform=Affine(px, 0, x0, 0, -px, y0))
    return root


def fake_ucmerced(root: Path, classes: Sequence[str] = ("agricultural", "buildings", "forest"), per_class: int = 5,
                  side: int = 32, seed: int = 0) -> Path:
    """``<class>/<class>NN.tif``: 3-band uint8 TIFF without georeferencing, as published."""
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            img = smooth_image(3, side, side, seed=seed + 100 * c + i, lo=10, hi=245).round().astype(np.uint8)
            Image.fromarray(img.transpose(1, 2, 0)).save(root / name / f"{name}{i:02d}.tif")
    return root


def fake_paired_folders(root: Path, n: int = 6, scale: int = 2, bands: int = 4, lr_side: int = 8,
                        dtype: str = "uint16", fmt: str = "tif", hr_only: bool = False, seed: int = 0) -> Path:
    """``LR/`` and ``HR/`` with matching names (or ``HR/`` only): GeoTIFFs (UTM, HR ``scale`` times finer)
    or PNGs (1 or 3 bands; 8-bit, or 16-bit for 1 band), any band count and dtype."""
    hi = 255 if dtype == "uint8" else 9000
    for i in range(n):
        hr = smooth_image(bands, lr_side * scale, lr_side * scale, seed=seed + i, lo=5, hi=hi).round()
        sides = (("HR", hr, 10.0),) if hr_only else (("HR", hr, 10.0), ("LR", _block_mean(hr, scale).round(),
                                                                           10.0 * scale))
        for side, data, px in sides:
            (root / side).mkdir(parents=True, exist_ok=True)
            if fmt == "tif":
                write_geotiff(root / side / f"crop_{i:03d}.tif", data, dtype=dtype, crs=UTM,
                              transform=Affine(px, 0, 500000.0 + 500 * i, 0, -px, 4200000.0))
            else:
                arr = data.astype(dtype)
                pixels = arr[0] if bands == 1 else arr.transpose(1, 2, 0)
                Image.fromarray(pixels).save(root / side / f"crop_{i:03d}.png")
    return root
