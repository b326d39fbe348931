"""SEN2VENuS (Michel et al. 2022): same-day Sentinel-2 and VENuS patches, the ``sen2venus`` kind.

Layout (Zenodo record 6514159, one archive per site)::

    <SITE>/<SITE>_<...>_<date>_10m_b2b3b4b8.pt    Sentinel-2 B2 B3 B4 B8, 10 m, (N, 4, 128, 128) int16
    <SITE>/<SITE>_<...>_<date>_05m_b2b3b4b8.pt    VENuS, the same bands at 5 m, (N, 4, 256, 256)
    <SITE>/<SITE>_<...>_<date>_20m_b4b5b6b8a.pt   Sentinel-2 B5 B6 B7 B8A, 20 m, (N, 4, 64, 64)
    <SITE>/<SITE>_<...>_<date>_05m_b4b5b6b8a.pt   VENuS, the same bands at 5 m, (N, 4, 256, 256)

surface reflectance x 10000 (``satsr.io.sen2venus`` reads them). ``subset``: ``rgbnir`` (10 m -> 5 m
pairs, x2), ``rededge`` (20 m -> 5 m pairs, x4) or ``guided`` (the 10 m bands guide the 20 m bands to
the VENuS 5 m target: ``{"guide": (4, 128, 128), "lowres": (4, 64, 64), "target": (4, 256, 256)}``).
The dataset has no official split: acquisitions (all patches of one file set) are split by name, so
no acquisition contributes to two splits.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from satsr.data.base import Sample, SampleDataset, register_dataset, split_keys
from satsr.errors import InputError, OptionError
from satsr.io.sen2venus import VALUE_SCALE, read_patch, read_patches

# subset -> sample key -> file suffix
SUBSETS = {
    "rgbnir": {"lr": "_10m_b2b3b4b8.pt", "hr": "_05m_b2b3b4b8.pt"},
    "rededge": {"lr": "_20m_b4b5b6b8a.pt", "hr": "_05m_b4b5b6b8a.pt"},
    "guided": {"guide": "_10m_b2b3b4b8.pt", "lowres": "_20m_b4b5b6b8a.pt", "target": "_05m_b4b5b6b8a.pt"},
}
# sample key -> the key it must be a whole multiple of, and by how much
_RATIOS = {"hr": ("lr", None), "guide": ("lowres", 2), "target": ("lowres", 4)}


@register_dataset
class Sen2Venus(SampleDataset):
    """Patch pairs (or guided samples) of the chosen ``subset`` (see the module docstring); ``sites``
    restricts to some site folders."""

    kind = "sen2venus"
    layout = "one folder per site holding <acquisition>_10m_b2b3b4b8.pt, _05m_b2b3b4b8.pt, ... tensor files"

    def __init__(self, root: str | os.PathLike[str], split: str = "train", subset: str = "rgbnir",
                 sites: Sequence[str] | None = None, val_fraction: float = 0.1, test_fraction: float = 0.1) -> None:
        super().__init__(root, split)
        if subset not in SUBSETS:
            raise OptionError(f"subset {subset!r}: use {', '.join(SUBSETS)}")
        self.files = SUBSETS[subset]
        self.produces = "guided" if subset == "guided" else "pairs"
        self.scale = {"rgbnir": 2, "rededge": 4, "guided": 4}[subset]
        self.value_scale = VALUE_SCALE
        anchor = next(iter(self.files.values()))
        folders = [self.root] if any(self.root.glob(f"*{anchor}")) else sorted(d for d in self.root.iterdir()
                                                                                if d.is_dir())
        if sites is not None:
            by_name = {d.name: d for d in folders}
            missing = [s for s in sites if s not in by_name]
            if missing:
                raise InputError(f"{self.root}: no site folder {missing[0]!r}")
            folders = [by_name[s] for s in sites]
        acquisitions: list[tuple[str, dict[str, Path]]] = []
        for d in folders:
            for first in sorted(d.glob(f"*{anchor}")):
                stem = first.name[: -len(anchor)]
                paths = {key: d / f"{stem}{suffix}" for key, suffix in self.files.items()}
                for p in paths.values():
                    if not p.is_file():
                        raise InputError(f"{p}: missing; {first.name} needs its partner {p.name} ({self.layout})")
                acquisitions.append((f"{d.name}/{stem}", paths))
        if not acquisitions:
            raise InputError(f"{self.root}: no *{anchor} files; expected {self.layout}")
        which = split_keys([k for k, _ in acquisitions], val_fraction, test_fraction)
        for key, paths in acquisitions:
            if which[key] != self.split:
                continue
            n = self._check(paths)
            self.items.extend((paths, i) for i in range(n))
            self.names.extend(f"{key}#{i}" for i in range(n))

    def _check(self, paths: dict[str, Path]) -> int:
        """Patch count of an acquisition after checking its files agree (counts, bands, sizes)."""
        shapes = {key: tuple(read_patches(p).shape) for key, p in paths.items()}
        first = next(iter(paths))
        for key, shape in shapes.items():
            if shape[:2] != shapes[first][:2]:
                raise InputError(f"{paths[key]}: {shape[0]} patches of {shape[1]} bands; expected "
                                 f"{shapes[first][0]} of {shapes[first][1]} like {paths[first].name}")
            base, ratio = _RATIOS.get(key, (None, None))
            if base is not None:
                ratio = ratio or self.scale
                want = (shapes[base][2] * ratio, shapes[base][3] * ratio)
                if shape[2:] != want:
                    raise InputError(f"{paths[key]}: patches are {shape[3]}x{shape[2]} px; expected {want[1]}x{want[0]}"
                                     f" px, {ratio} times {paths[base].name} ({shapes[base][3]}x{shapes[base][2]} px)")
        return shapes[first][0]

    def load(self, index: int) -> Sample:
        paths, i = self.items[index]
        return {"name": self.names[index], **{key: read_patch(p, i) for key, p in paths.items()}}
