"""Reading PROBA-V super-resolution challenge image sets (ESA Kelvins, 2019) and the challenge's norm file.

An image set is a folder ``imgsetNNNN`` with low-resolution frames ``LR000.png, LR001.png, ...``
(128 x 128, uint16, 300 m), their quality maps ``QM000.png, ...`` (True = clear), and, for scenes with
ground truth, ``HR.png`` (384 x 384, 100 m) with its status map ``SM.png`` (True = clear). A dataset
is ``<split>/<RED|NIR>/imgset*`` under a root that also holds the challenge's ``norm.csv`` (baseline
cPSNR per scene; a scene's score is ``norm / cPSNR``).

Frames are returned ordered by clearance (clearest first, ties in file order), which is what the
``Fuser`` contract expects. Folders with LR frames but no QM files are read as all clear. The dataset
class over many image sets is ``satsr.data.probav.ProbaVDataset``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from satsr.errors import InputError
from satsr.io.image import read_image

HR_SCALE = 3
_LR_RE = re.compile(r"^LR(\d+)\.png$", re.IGNORECASE)


def _read_png(path: Path, as_bool: bool = False) -> np.ndarray:
    """A single-band PNG as float32 values, or as a boolean mask (non-zero = True)."""
    arr = read_image(path)
    if arr.shape[0] != 1:
        raise InputError(f"{path}: expected a single-band image, got {arr.shape[0]} bands")
    return arr[0] != 0 if as_bool else arr[0]


@dataclass
class ImageSet:
    """One PROBA-V scene: LR frames with clear masks, and HR with its status mask when known.

    ``lr`` is ``(T, h, w)`` float32 in digital numbers, ``qm`` ``(T, h, w)`` bool (True = clear), both
    ordered by clearance; ``frame_names`` give the original file stems in that order.
    """

    path: Path
    lr: np.ndarray
    qm: np.ndarray
    frame_names: list[str]
    hr: np.ndarray | None = None
    sm: np.ndarray | None = None
    has_qm: bool = True
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def band(self) -> str | None:
        """``RED`` or ``NIR`` from the parent folder's name (None when the layout is unknown)."""
        parent = self.path.parent.name.upper()
        return parent if parent in ("RED", "NIR") else None

    @property
    def split(self) -> str | None:
        grand = self.path.parent.parent.name.lower()
        return grand if grand in ("train", "test") else None

    @property
    def has_hr(self) -> bool:
        return self.hr is not None

    @property
    def clearance(self) -> np.ndarray:
        """Fraction of clear pixels of each frame, (T,)."""
        return self.qm.reshape(len(self.qm), -1).mean(1)

    @property
    def frames(self) -> np.ndarray:
        """LR frames in the ``Fuser`` layout ``(T, 1, h, w)``."""
        return self.lr[:, None]


def is_imgset(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a folder holding at least one ``LR*.png`` frame."""
    p = Path(path)
    return p.is_dir() and any(_LR_RE.match(q.name) for q in p.iterdir())


def read_imgset(path: str | os.PathLike[str], order_by_clearance: bool = True) -> ImageSet:
    """Read an ``imgsetNNNN`` folder (see the module docstring); ``InputError`` when it is not one."""
    p = Path(path)
    if not p.is_dir():
        raise InputError(f"{p}: not a folder; give a PROBA-V imgset folder holding LR*.png frames")
    lr_files = sorted((q for q in p.iterdir() if _LR_RE.match(q.name)), key=lambda q: int(_LR_RE.match(q.name)[1]))
    if not lr_files:
        raise InputError(f"{p}: no LR*.png frames found; give a PROBA-V imgset folder")
    qm_files = [q.with_name("QM" + q.name[2:]) for q in lr_files]
    has_qm = any(q.exists() for q in qm_files)
    if has_qm:
        missing = [q.name for q in qm_files if not q.exists()]
        if missing:
            raise InputError(f"{p}: quality maps {', '.join(missing)} are missing while others exist")
    frames = [_read_png(q) for q in lr_files]
    masks = [_read_png(q, as_bool=True) for q in qm_files] if has_qm else [np.ones(f.shape, bool) for f in frames]
    for q, a in [*zip(lr_files, frames, strict=True), *zip(qm_files, masks, strict=False)]:
        if a.shape != frames[0].shape:
            raise InputError(f"{q}: {a.shape[1]}x{a.shape[0]} px, but {lr_files[0].name} is "
                             f"{frames[0].shape[1]}x{frames[0].shape[0]}; every LR frame and quality map of an "
                             "image set must have one size")
    lr, qm = np.stack(frames), np.stack(masks)
    if lr.shape != qm.shape:
        raise InputError(f"{p}: LR frames and quality maps differ in size ({lr.shape} vs {qm.shape})")
    names = [q.stem for q in lr_files]
    if order_by_clearance:
        # stable sort: clearest first, file order among equals
        order = np.argsort(-qm.reshape(len(qm), -1).sum(1), kind="stable")
        lr, qm, names = lr[order], qm[order], [names[i] for i in order]
    hr = sm = None
    hr_path, sm_path = p / "HR.png", p / "SM.png"
    if hr_path.exists():
        hr = _read_png(hr_path)
        sm = _read_png(sm_path, as_bool=True) if sm_path.exists() else np.ones(hr.shape, dtype=bool)
        if hr.shape != sm.shape:
            raise InputError(f"{p}: HR.png and SM.png differ in size ({hr.shape} vs {sm.shape})")
    return ImageSet(path=p, lr=lr, qm=qm, frame_names=names, hr=hr, sm=sm, has_qm=has_qm)


def find_imgsets(root: str | os.PathLike[str], with_hr: bool | None = None) -> list[Path]:
    """Every imgset folder under ``root`` (recursive; ``root`` itself may be one), sorted by path.

    ``with_hr=True`` keeps the scenes with ``HR.png`` (the ones that can be scored), ``False`` those
    without, ``None`` all.
    """
    r = Path(root)
    if not r.exists():
        raise InputError(f"{r}: no such folder; check the path")
    candidates = [r] if is_imgset(r) else sorted({q.parent for q in r.rglob("LR*.png")})
    found = [c for c in candidates if is_imgset(c)]
    if with_hr is not None:
        found = [c for c in found if (c / "HR.png").exists() == with_hr]
    return sorted(found)


def read_norm(path: str | os.PathLike[str]) -> dict[str, float]:
    """The challenge's ``norm.csv``: ``{"imgset0000": 52.35, ...}`` (``name value`` per line)."""
    p = Path(path)
    out: dict[str, float] = {}
    try:
        lines = p.read_text().splitlines()
    except OSError as exc:
        raise InputError(f"{p}: cannot read the norm file ({exc.strerror or exc})") from exc
    for n, line in enumerate(lines, 1):
        parts = line.replace(",", " ").split()
        if not parts:
            continue
        try:
            out[parts[0]] = float(parts[1])
        except (IndexError, ValueError) as exc:
            raise InputError(f"{p}:{n}: expected 'imgsetNNNN value', got {line!r}") from exc
    return out


def find_norm(start: str | os.PathLike[str]) -> Path | None:
    """``norm.csv`` in ``start`` or the nearest folder above it (the challenge root), else None."""
    p = Path(start).resolve()
    for d in (p, *p.parents):
        if (d / "norm.csv").is_file():
            return d / "norm.csv"
    return None
