"""The PROBA-V challenge as a dataset: the image sets under a root, filtered by split and band
(``ProbaVDataset``), and the registered ``probav`` kind (``ProbaVStacks``) giving revisit stacks.

Files are read by ``satsr.io.probav`` (one ``ImageSet`` per scene, frames ordered by clearance). The
challenge published ``train/`` (scenes with ``HR.png``) and ``test/`` (without), each with ``RED/`` and
``NIR/`` band folders; a validation split is carved from ``train`` by scene (``val_fraction``), or read
from a ``val/`` folder when the root has one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from satsr.data.base import Sample, SampleDataset, register_dataset, split_keys
from satsr.errors import InputError
from satsr.io.probav import HR_SCALE, ImageSet, find_imgsets, find_norm, read_imgset, read_norm

BANDS = ("RED", "NIR")


def _scene_split(path: Path) -> str:
    return path.parent.parent.name.lower()


def _scene_key(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


class ProbaVDataset(Sequence[ImageSet]):
    """The image sets under ``root`` (optionally one split and band), read lazily by index.

    ``root`` may be the challenge root (``train/RED/imgset0000``, ...), a split, a band folder or a
    single imgset. ``split`` is ``train``, ``val`` or ``test``: with ``val_fraction`` > 0 that share
    of the ``train`` scenes (chosen by ``satsr.data.base.split_keys``, both bands together) forms
    ``val`` and leaves ``train``; a ``val/`` folder beside ``train/`` is used as is.
    """

    def __init__(self, root: str | os.PathLike[str], split: str | None = None, band: str | None = None,
                 with_hr: bool | None = None, val_fraction: float = 0.0) -> None:
        self.root = Path(root)
        paths = find_imgsets(self.root)
        if val_fraction > 0:
            train = [q for q in paths if _scene_split(q) == "train"]
            carved = split_keys([_scene_key(q) for q in train], val_fraction)
            self.splits = {q: ("val" if carved[_scene_key(q)] == "val" else "train") for q in train}
        else:
            self.splits = {}
        if split is not None:
            paths = [q for q in paths if self.splits.get(q, _scene_split(q)) == split.lower()]
        if band is not None:
            paths = [q for q in paths if q.parent.name.upper() == band.upper()]
        if with_hr is not None:
            paths = [q for q in paths if (q / "HR.png").exists() == with_hr]
        self.paths = paths
        norm_path = find_norm(self.root)
        self.norm = read_norm(norm_path) if norm_path else {}

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> ImageSet:  # type: ignore[override]
        return read_imgset(self.paths[index])

    def __iter__(self) -> Iterator[ImageSet]:
        for p in self.paths:
            yield read_imgset(p)


@register_dataset
class ProbaVStacks(SampleDataset):
    """The ``probav`` kind: revisit stacks ``{"lr": (T, 1, 128, 128), "qm", "hr": (1, 384, 384), "sm"}``
    in DN (14-bit values in 16-bit PNGs), x3; ``band`` ``RED``, ``NIR`` or both (None). Only the
    challenge layout is accepted (``<root>/<split>/<band>/imgsetNNNN``); ``train``/``val`` scenes need
    ``HR.png``, ``test`` scenes have none."""

    kind = "probav"
    produces = "stacks"
    layout = "train/ and test/ holding RED/ and NIR/ imgsetNNNN folders with LR*.png, QM*.png, HR.png, SM.png"

    def __init__(self, root: str | os.PathLike[str], split: str = "train", band: str | None = None,
                 val_fraction: float = 0.1) -> None:
        super().__init__(root, split)
        if band is not None and band.upper() not in BANDS:
            raise InputError(f"band {band!r}: PROBA-V bands are {' and '.join(BANDS)}")
        folders = [self.root / s / b for s in ("train", "test") for b in BANDS]
        if not any(d.is_dir() for d in folders):
            raise InputError(f"{self.root}: no train/RED, train/NIR, test/RED or test/NIR folder; "
                             f"expected {self.layout}")
        scenes = ProbaVDataset(self.root, self.split, band, val_fraction=val_fraction)
        # the challenge layout only (a root may hold other copies, e.g. LR-only scenes elsewhere)
        paths = [q for q in scenes.paths if q.parent.parent.parent == self.root]
        if self.split != "test":
            lacking = [q for q in paths if not (q / "HR.png").is_file()]
            if lacking:
                raise InputError(f"{lacking[0]}: no HR.png; {self.split} scenes need their HR image ({self.layout})")
        self.items = paths
        self.names = [_scene_key(q) for q in paths]
        self.norm = scenes.norm
        self.scale = HR_SCALE
        self.value_scale = 65535.0

    def load(self, index: int) -> Sample:
        s = read_imgset(self.items[index])
        sample: Sample = {"name": self.names[index], "lr": s.lr[:, None], "qm": s.qm}
        if s.hr is not None and s.sm is not None:
            sample.update(hr=s.hr[None], sm=s.sm)
        return sample
