"""The PROBA-V challenge as a dataset: the image sets under a root, filtered by split and band.

Files are read by ``satsr.io.probav`` (one ``ImageSet`` per scene, frames ordered by clearance).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from satsr.io.probav import ImageSet, find_imgsets, find_norm, read_imgset, read_norm


class ProbaVDataset(Sequence[ImageSet]):
    """The image sets under ``root`` (optionally one split and band), read lazily by index.

    ``root`` may be the challenge root (``train/RED/imgset0000``, ...), a split, a band folder or a
    single imgset.
    """

    def __init__(self, root: str | os.PathLike[str], split: str | None = None, band: str | None = None,
                 with_hr: bool | None = None) -> None:
        self.root = Path(root)
        paths = find_imgsets(self.root, with_hr=with_hr)
        if split is not None:
            paths = [q for q in paths if q.parent.parent.name.lower() == split.lower()]
        if band is not None:
            paths = [q for q in paths if q.parent.name.upper() == band.upper()]
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
