"""Single-image datasets read from image files: generic paired folders (``folders``), UC Merced-style
class folders (``ucmerced``) and OLI2MSI (``oli2msi``). GeoTIFF or PNG/JPEG, any band count, 8- or
16-bit or float; files are read by ``satsr.io.image.read_image``.

* ``folders``: ``LR/`` and ``HR/`` with matching file names (sub-folders allowed), or HR images only
  (in ``HR/`` or directly in the root) turned into pairs by a degradation (``bicubic`` or ``wald``).
  ``train/``, ``val/``, ``test/`` sub-folders, when present, are the splits; otherwise files are split
  deterministically by name (``satsr.data.base.split_keys``).
* ``ucmerced``: ``<root>/<class>/*.tif`` as published (UC Merced Land Use: 21 classes x 100 images,
  256 x 256 RGB, 8-bit), or ``<root>/<split>/<class>/*``; split per class so every class is in every
  split; ``classes`` picks a group of classes.
* ``oli2msi``: ``train_hr/ train_lr/ test_hr/ test_lr/`` of ``*.TIF`` with matching names (Wang et al.
  2021): Sentinel-2 MSI 10 m HR (480 x 480, 3 bands) over Landsat 8 OLI 30 m LR (160 x 160), x3; the
  validation split is carved from ``train``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from satsr.data.base import SPLITS, Sample, SampleDataset, register_dataset, split_keys, value_scale_of
from satsr.errors import InputError, OptionError
from satsr.io.image import IMAGE_SUFFIXES, RASTER_SUFFIXES, image_dtype, image_shape, read_image
from satsr.io.raster import RasterInfo, check_footprint, inspect
from satsr.ops.filters import DEGRADATIONS, degrade

LR_DIRS = ("LR", "lr")
HR_DIRS = ("HR", "hr")


@dataclass(frozen=True)
class ImageItem:
    """One sample: its HR file, its LR partner (None: made by the degradation) and class label."""

    name: str
    hr: Path
    lr: Path | None = None
    label: str | None = None


def images_under(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursive), sorted."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _child(folder: Path, names: Sequence[str]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_dir()), None)


def pair_by_name(lr_dir: Path, hr_dir: Path, label: str | None = None) -> list[ImageItem]:
    """Items for the files of ``hr_dir`` and ``lr_dir`` that share a relative path (extension aside);
    a file without its partner is an ``InputError`` naming it."""
    def index(d: Path) -> dict[str, Path]:
        return {str(p.relative_to(d).with_suffix("")): p for p in images_under(d)}

    lr, hr = index(lr_dir), index(hr_dir)
    for a, b, da, db in ((hr, lr, hr_dir, lr_dir), (lr, hr, lr_dir, hr_dir)):
        missing = sorted(set(a) - set(b))
        if missing:
            raise InputError(f"{a[missing[0]]}: has no partner in {db} (expected {db / missing[0]}.*; "
                             f"{len(missing)} file(s) of {da} unmatched); LR and HR files must have the same names")
    return [ImageItem(name=k, hr=hr[k], lr=lr[k], label=label) for k in sorted(hr)]


def _header(path: Path) -> tuple[tuple[int, int, int], RasterInfo | None]:
    """``(bands, height, width)`` and, for rasters, their metadata (georeferencing) from one open."""
    if path.suffix.lower() in RASTER_SUFFIXES:
        info = inspect(path)
        return (info.count, info.height, info.width), info
    return image_shape(path), None


def check_pair(item: ImageItem, scale: int | None, bands: Sequence[int] | None) -> int:
    """Check an LR/HR pair from the headers: same band count, HR exactly ``scale`` times the LR (the
    scale is inferred when None), same footprint when both are georeferenced. Returns the scale."""
    assert item.lr is not None
    (lc, lh, lw), l_info = _header(item.lr)
    (hc, hh, hw), h_info = _header(item.hr)
    if bands is None and lc != hc:
        raise InputError(f"{item.lr}: has {lc} band(s), its HR partner {item.hr} has {hc}; "
                         "pairs need the same bands (or choose them with the bands option)")
    if scale is None:
        if lh == 0 or hh % lh or hh // lh < 2:
            raise InputError(f"{item.hr}: {hw}x{hh} px is not a whole multiple (>= 2) of its LR partner "
                             f"{item.lr} ({lw}x{lh} px)")
        scale = hh // lh
    if (hh, hw) != (lh * scale, lw * scale):
        raise InputError(f"{item.hr}: is {hw}x{hh} px; expected {lw * scale}x{lh * scale} px, {scale} times its "
                         f"LR partner {item.lr} ({lw}x{lh} px)")
    if l_info is not None and h_info is not None:
        try:
            check_footprint(h_info, l_info, scale)
        except InputError as exc:
            raise InputError(f"{item.lr}: does not cover the footprint of its HR partner {item.hr} on a grid "
                             f"{scale} times coarser (CRS, origin or pixel size differ)") from exc
    return scale


class ImageDataset(SampleDataset):
    """Samples from ``ImageItem``s (the shared half of the kinds in this module)."""

    def _setup(self, items: list[ImageItem], reference: ImageItem, scale: int | None, degradation: str | None,
               bands: Sequence[int] | None, value_scale: float | None) -> None:
        """Check the split's ``items`` and set what the samples are; ``reference`` (any item of the whole
        dataset) decides the kind of samples, units and scale, so every split, even an empty one, agrees."""
        if degradation is not None and degradation not in DEGRADATIONS:
            raise OptionError(f"degradation {degradation!r}: use {' or '.join(DEGRADATIONS)}")
        self.items = items
        self.names = [it.name for it in items]
        self.bands = list(bands) if bands is not None else None
        self.degradation = degradation
        paired = reference.lr is not None
        if paired:
            if degradation is not None:
                raise OptionError(f"{self.root}: holds LR/HR pairs; the degradation option applies to HR-only data")
            for it in items or [reference]:
                scale = check_pair(it, scale, self.bands)
        elif degradation is not None and scale is None:
            raise OptionError(f"{self.root}: HR images only; give the scale to degrade them by")
        self.scale = scale
        self.produces = "pairs" if paired or degradation is not None else "hr"
        dtype = image_dtype(reference.hr)
        self.eight_bit = dtype == "uint8"
        self.value_scale = float(value_scale) if value_scale else value_scale_of(dtype)

    def _take(self, items: list[ImageItem], carve: bool, val_fraction: float, test_fraction: float,
              scale: int | None, degradation: str | None, bands: Sequence[int] | None,
              value_scale: float | None) -> None:
        """Keep this split's share of ``items`` (chosen by name when ``carve``) and set up the samples."""
        reference = items[0]
        if carve:
            which = split_keys([it.name for it in items], val_fraction, test_fraction)
            items = [it for it in items if which[it.name] == self.split]
        self._setup(items, reference, scale, degradation, bands, value_scale)

    def load(self, index: int) -> Sample:
        it: ImageItem = self.items[index]
        hr = read_image(it.hr, self.bands)
        sample: Sample = {"name": it.name}
        if it.label is not None:
            sample["label"] = it.label
        if it.lr is not None:
            lr = read_image(it.lr, self.bands)
            if hr.shape[-2:] != (lr.shape[-2] * self.scale, lr.shape[-1] * self.scale):  # header lied: re-check
                raise InputError(f"{it.hr}: {hr.shape[-1]}x{hr.shape[-2]} px is not {self.scale} times its LR "
                                 f"partner {it.lr} ({lr.shape[-1]}x{lr.shape[-2]} px)")
            return {**sample, "lr": lr, "hr": hr}
        if self.degradation is not None:
            assert self.scale is not None
            if min(hr.shape[-2:]) < 2 * self.scale:
                raise InputError(f"{it.hr}: {hr.shape[-1]}x{hr.shape[-2]} px is too small for x{self.scale}")
            hr, lr = degrade(hr, self.scale, self.degradation, self.eight_bit)
            return {**sample, "lr": lr, "hr": hr}
        return {**sample, "hr": hr}


def _split_folder(root: Path, split: str) -> Path | None:
    """``root/<split>`` when the root is divided into split folders, else None."""
    present = [s for s in SPLITS if (root / s).is_dir()]
    if not present:
        return None
    if split not in present:
        raise InputError(f"{root}: has split folders {', '.join(present)} but no {split}/")
    return root / split


@register_dataset
class PairedFolders(ImageDataset):
    """``LR/`` + ``HR/`` with matching names, or HR images only with a ``degradation`` (see the module
    docstring). ``scale`` is inferred from the pairs when not given; ``bands`` are 1-based."""

    kind = "folders"
    layout = "LR/ and HR/ with matching file names, or HR images only; optionally inside train/ val/ test/"

    def __init__(self, root: str | os.PathLike[str], split: str = "train", scale: int | None = None,
                 degradation: str | None = None, bands: Sequence[int] | None = None, val_fraction: float = 0.1,
                 test_fraction: float = 0.0, value_scale: float | None = None) -> None:
        super().__init__(root, split)
        base = _split_folder(self.root, self.split)
        folder = base or self.root
        lr_dir, hr_dir = _child(folder, LR_DIRS), _child(folder, HR_DIRS)
        if lr_dir is not None and hr_dir is None:
            raise InputError(f"{folder}: has {lr_dir.name}/ but no HR/ folder; expected {self.layout}")
        items = pair_by_name(lr_dir, hr_dir) if lr_dir is not None and hr_dir is not None else \
            [ImageItem(name=str(p.relative_to(hr_dir or folder).with_suffix("")), hr=p)
             for p in images_under(hr_dir or folder)]
        if not items:
            raise InputError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) found; expected {self.layout}")
        self._take(items, base is None, val_fraction, test_fraction, scale, degradation, bands, value_scale)


@register_dataset
class ClassFolders(ImageDataset):
    """UC Merced-style ``<root>/<class>/<image>`` (see the module docstring); samples carry ``label``."""

    kind = "ucmerced"
    layout = "one folder per class holding its images (<root>/<class>/<class>NN.tif), optionally inside train/ val/"

    def __init__(self, root: str | os.PathLike[str], split: str = "train", classes: Sequence[str] | None = None,
                 scale: int | None = None, degradation: str | None = None, bands: Sequence[int] | None = None,
                 val_fraction: float = 0.2, test_fraction: float = 0.0, value_scale: float | None = None) -> None:
        super().__init__(root, split)
        base = _split_folder(self.root, self.split)
        folder = base or self.root
        found = sorted(d for d in folder.iterdir() if d.is_dir() and images_under(d))
        loose = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not found or loose:
            what = f"images directly in it ({loose[0].name})" if loose else "no class folder with images"
            raise InputError(f"{folder}: {what}; expected {self.layout}")
        by_name = {d.name: d for d in found}
        if classes is not None:
            unknown = [c for c in classes if c not in by_name]
            if unknown:
                raise InputError(f"{folder}: no class folder {unknown[0]!r}; classes here: {', '.join(by_name)}")
            found = [by_name[c] for c in classes]
        self.classes = [d.name for d in found]
        items: list[ImageItem] = []
        reference = ImageItem(name="", hr=images_under(found[0])[0])
        for d in found:
            members = [ImageItem(name=f"{d.name}/{p.relative_to(d).with_suffix('')}", hr=p, label=d.name)
                       for p in images_under(d)]
            if base is None:  # split each class on its own, so every class is in every split
                which = split_keys([m.name for m in members], val_fraction, test_fraction)
                members = [m for m in members if which[m.name] == self.split]
            items.extend(members)
        self._setup(items, reference, scale, degradation, bands, value_scale)


@register_dataset
class Oli2Msi(ImageDataset):
    """OLI2MSI: ``{train,test}_{hr,lr}/*.TIF`` pairs at x3 (see the module docstring)."""

    kind = "oli2msi"
    layout = "train_hr/, train_lr/, test_hr/, test_lr/ holding *.TIF files with matching names (OLI2MSI)"

    def __init__(self, root: str | os.PathLike[str], split: str = "train", bands: Sequence[int] | None = None,
                 val_fraction: float = 0.1) -> None:
        super().__init__(root, split)
        part = "test" if self.split == "test" else "train"
        lr_dir, hr_dir = self.root / f"{part}_lr", self.root / f"{part}_hr"
        for d in (hr_dir, lr_dir):
            if not d.is_dir():
                raise InputError(f"{self.root}: no {d.name}/ folder; expected {self.layout}")
        items = pair_by_name(lr_dir, hr_dir)
        if not items:
            raise InputError(f"{hr_dir}: no image files; expected {self.layout}")
        self._take(items, part == "train", val_fraction, 0.0, 3, None, bands, None)
