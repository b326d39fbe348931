"""WorldStrat (Cornebise et al. 2022, Zenodo record 6810792): SPOT 6/7 high-res images with Sentinel-2
revisits of the same area of interest (AOI), as revisit stacks (the ``worldstrat`` kind).

Published layout::

    hr_dataset/[12bit/]<AOI>/<AOI>_ps.tiff       pan-sharpened SPOT, 4 bands (R, G, B, NIR), uint16 (12-bit)
                            <AOI>_pan.tiff, <AOI>_rgbn.tiff, <AOI>_rgb.png
    lr_dataset/<AOI>/L2A/<AOI>-<n>-L2A_data.tiff  Sentinel-2 L2A revisit n (1, 2, ...), 12 bands, float32
                        <AOI>-<n>-CLM.tiff        cloud mask (0 = clear), <AOI>-<n>-dataMask.tiff (1 = data)
    lr_dataset/<AOI>/L1C/<AOI>-<n>-L1C_data.tiff  Sentinel-2 L1C, 13 bands
    stratified_train_val_test_split.csv           columns ``tile`` and ``split`` (train / val / test)

The HR image covers the AOI at about 1.5 m, the revisits at 10 m (a ratio of about 6.7, not whole):
``scale`` resamples the HR to exactly ``scale`` times the revisits' grid (MATLAB bicubic) so a network
with an integer scale can train on it. Without the split file AOIs are split by name. The one-AOI
8-bit renders of the WorldStrat demo (``HR.png``, ``L1.png``, ``L2_clouded.png``, ...) load too, as a
single AOI without masks.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from satsr.data.base import Sample, SampleDataset, register_dataset, split_keys, value_scale_of
from satsr.errors import InputError, OptionError
from satsr.io.image import image_dtype, read_image
from satsr.ops.resize import imresize

SPLIT_FILE = "stratified_train_val_test_split.csv"
HR_KINDS = ("ps", "rgbn", "pan", "rgb")
LEVELS = ("L2A", "L1C")
TRUE_COLOUR = {"L2A": (4, 3, 2), "L1C": (4, 3, 2)}  # B04, B03, B02 (1-based, ESA band order)
_RENDER_LR = re.compile(r"^L(\d+)(_.*)?\.png$", re.IGNORECASE)


@dataclass(frozen=True)
class Aoi:
    """One area: its HR file and its revisit files (ordered by revisit number) with their masks."""

    name: str
    hr: Path
    revisits: tuple[Path, ...]
    clouds: tuple[Path | None, ...]
    data: tuple[Path | None, ...]


def _read_split_file(path: Path) -> dict[str, str]:
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise InputError(f"{path}: cannot read the split file ({exc.strerror or exc})") from exc
    if not rows or "tile" not in rows[0] or "split" not in rows[0]:
        raise InputError(f"{path}: expected a CSV with 'tile' and 'split' columns (WorldStrat's split file)")
    return {r["tile"]: r["split"].strip().lower() for r in rows}


def _revisits(folder: Path, aoi: str, level: str) -> tuple[tuple[Path, ...], ...] | None:
    """The AOI's revisit files (by revisit number) and their cloud and data masks (None when absent)."""
    pattern = re.compile(rf"^{re.escape(aoi)}-(\d+)-{level}_data\.tiff?$")
    found = sorted(((int(m[1]), p) for p in folder.glob("*") if (m := pattern.match(p.name))), key=lambda t: t[0])
    if not found:
        return None

    def side(n: int, what: str) -> Path | None:
        p = folder / f"{aoi}-{n}-{what}.tiff"
        return p if p.is_file() else None

    return (tuple(p for _, p in found), tuple(side(n, "CLM") for n, _ in found),  # type: ignore[return-value]
            tuple(side(n, "dataMask") for n, _ in found))


@register_dataset
class WorldStrat(SampleDataset):
    """Revisit stacks ``{"lr": (T, C, h, w), "qm": (T, h, w), "hr": (C', H, W), "sm": (H, W)}`` per AOI
    (see the module docstring); frames clearest first, at most ``revisits`` of them. ``lr_bands`` and
    ``hr_bands`` are 1-based (default: true colour B4, B3, B2 and SPOT R, G, B)."""

    kind = "worldstrat"
    produces = "stacks"
    layout = ("hr_dataset/[12bit/]<AOI>/<AOI>_ps.tiff and lr_dataset/<AOI>/L2A/<AOI>-<n>-L2A_data.tiff "
              "(+ stratified_train_val_test_split.csv)")

    def __init__(self, root: str | os.PathLike[str], split: str = "train", level: str = "L2A", hr: str = "ps",
                 revisits: int = 8, lr_bands: Sequence[int] | None = None, hr_bands: Sequence[int] | None = None,
                 scale: int | None = None, val_fraction: float = 0.1, test_fraction: float = 0.1) -> None:
        super().__init__(root, split)
        if level not in LEVELS:
            raise OptionError(f"level {level!r}: WorldStrat has {' and '.join(LEVELS)} revisits")
        if hr not in HR_KINDS:
            raise OptionError(f"hr {hr!r}: WorldStrat's HR images are {', '.join(HR_KINDS)}")
        if revisits < 1:
            raise OptionError(f"revisits must be at least 1, got {revisits}")
        self.revisits, self.scale = int(revisits), scale
        render = (self.root / "HR.png").is_file()
        self.lr_bands = list(lr_bands) if lr_bands is not None else None if render else list(TRUE_COLOUR[level])
        self.hr_bands = list(hr_bands) if hr_bands is not None else None if render or hr == "pan" else [1, 2, 3]
        aois = [self._render_aoi()] if render else self._find(level, hr)
        split_file = self.root / SPLIT_FILE
        if split_file.is_file() and not render:
            table = _read_split_file(split_file)
            which = {a.name: table.get(a.name, "") for a in aois}
        else:
            which = split_keys([a.name for a in aois], val_fraction, test_fraction) if not render else \
                {aois[0].name: self.split}
        self.items = [a for a in aois if which[a.name] == self.split]
        self.names = [a.name for a in self.items]
        self.value_scale = value_scale_of(image_dtype(aois[0].hr))
        self.lr_value_scale = value_scale_of(image_dtype(aois[0].revisits[0]))

    def _find(self, level: str, hr: str) -> list[Aoi]:
        hr_root = self.root / "hr_dataset"
        if (hr_root / "12bit").is_dir():
            hr_root = hr_root / "12bit"
        lr_root = self.root / "lr_dataset"
        for d in (hr_root, lr_root):
            if not d.is_dir():
                raise InputError(f"{self.root}: no {d.relative_to(self.root)}/ folder; expected {self.layout}")
        aois = []
        for d in sorted(p for p in hr_root.iterdir() if p.is_dir()):
            hr_file = next((d / f"{d.name}_{hr}{ext}" for ext in (".tiff", ".tif", ".png")
                            if (d / f"{d.name}_{hr}{ext}").is_file()), None)
            if hr_file is None:
                raise InputError(f"{d}: no {d.name}_{hr}.tiff; expected {self.layout}")
            lr = _revisits(lr_root / d.name / level, d.name, level)
            if lr is None:
                raise InputError(f"{lr_root / d.name / level}: no {d.name}-<n>-{level}_data.tiff revisits for the HR "
                                 f"image {hr_file}")
            aois.append(Aoi(d.name, hr_file, *lr))
        if not aois:
            raise InputError(f"{hr_root}: no AOI folders; expected {self.layout}")
        return aois

    def _render_aoi(self) -> Aoi:
        frames = sorted(((int(m[1]), p) for p in self.root.iterdir() if (m := _RENDER_LR.match(p.name))),
                        key=lambda t: t[0])
        if not frames:
            raise InputError(f"{self.root}: HR.png without L1.png, L2.png, ... revisit renders")
        return Aoi(self.root.name, self.root / "HR.png", tuple(p for _, p in frames), (None,) * len(frames),
                   (None,) * len(frames))

    def load(self, index: int) -> Sample:
        aoi: Aoi = self.items[index]
        frames, masks = [], []
        for path, cloud, data in zip(aoi.revisits, aoi.clouds, aoi.data, strict=True):
            f = read_image(path, self.lr_bands)
            clear = np.isfinite(f).all(0)
            if cloud is not None:
                clear &= read_image(cloud)[0] == 0
            if data is not None:
                clear &= read_image(data)[0] != 0
            if frames and f.shape[-2:] != frames[0].shape[-2:]:
                raise InputError(f"{path}: {f.shape[-1]}x{f.shape[-2]} px; expected {frames[0].shape[-1]}x"
                                 f"{frames[0].shape[-2]} px like the AOI's other revisits")
            if clear.shape != f.shape[-2:]:
                raise InputError(f"{cloud or data}: mask size {clear.shape[::-1]} differs from its revisit {path}")
            frames.append(np.nan_to_num(f))
            masks.append(clear)
        lr, qm = np.stack(frames), np.stack(masks)
        order = np.argsort(-qm.reshape(len(qm), -1).sum(1), kind="stable")[: self.revisits]
        hr = read_image(aoi.hr, self.hr_bands)
        if self.scale is not None:
            h, w = lr.shape[-2] * self.scale, lr.shape[-1] * self.scale
            hr = np.asarray(imresize(hr.astype(np.float32), (h, w)), np.float32)
        return {"name": aoi.name, "lr": lr[order], "qm": qm[order], "hr": hr, "sm": np.isfinite(hr).all(0)}
