"""The base of satsr's random training datasets: a virtual epoch of ``length`` items, item ``i`` drawn
from its own generator keyed by ``(seed, epoch, i)``, so every draw is reproducible and a resumed run
(``set_epoch`` with the step it resumes at) draws new items instead of repeating the first ones."""

from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset


class SeededDraws(Dataset):
    """``length`` reproducible random draws; subclasses implement ``__getitem__`` with ``self.rng(index)``."""

    def __init__(self, length: int, seed: int = 0) -> None:
        self.length = int(length)
        self.seed = int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def rng(self, index: int, *extra: int) -> np.random.Generator:
        """The generator of item ``index`` (``extra`` keys derive further independent streams)."""
        return np.random.default_rng((self.seed, self.epoch, index, *extra))
