"""The base of satsr's random training datasets: a virtual epoch of ``length`` items, item ``i`` drawn
from its own generator keyed by ``(seed, epoch, i)``, so every draw is reproducible and a resumed run
(``set_epoch`` with the step it resumes at) draws new items instead of repeating the first ones."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch.distributed as dist
from torch.utils.data import Dataset, Sampler


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


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of processes training together ((0, 1) outside DDP)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class RankBatches(Sampler[int]):
    """Item indices of this process's share of ``batches`` optimiser steps of ``batch`` items per process.

    Global batch ``b`` is items ``[b*batch*world, (b+1)*batch*world)``; rank ``r`` takes the ``batch`` items
    from ``b*batch*world + r*batch``. So ranks never draw the same item, and together they draw exactly what
    one process with a batch of ``batch*world`` draws: a run is reproducible from its seed whatever the device
    count. Rank and world size are read when iterating, once DDP has set up its process group, so the
    sampler works with every launcher (subprocess scripts or spawned processes).
    """

    def __init__(self, batches: int, batch: int) -> None:
        self.batches, self.batch = int(batches), int(batch)

    def __len__(self) -> int:
        return self.batches * self.batch

    def __iter__(self) -> Iterator[int]:
        rank, world = rank_and_world()
        for b in range(self.batches):
            start = (b * world + rank) * self.batch
            yield from range(start, start + self.batch)
