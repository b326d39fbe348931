"""A video clip as training windows (``video``): each sample is one frame as the HR target and the
degraded frames around it as a multi-image stack, target first (the multi-image contract's
reference), then its neighbours nearest first (-1, +1, -2, +2, ...).

The clip is a folder of frames or a GeoTIFF of frames (``satsr.io.video``). Splits are by time, so a
held-out frame is never seen, not even as a neighbour: ``test`` is the last ``holdout_last`` frames,
``train`` the rest, ``val`` empty. A neighbour that falls outside the split (the ends of the clip or of
a split) is a copy of the target marked not clear in ``qm`` (the network must ignore it).
Low-res frames are made by ``degradation`` (``bicubic``: MATLAB anti-aliased bicubic, the convention of
the satellite-video SR literature; ``wald``: the Gaussian MTF), rounded to integers for 8-bit clips
as a saved low-res video would be.
"""

from __future__ import annotations

import os

import numpy as np

from satsr.data.base import Sample, SampleDataset, register_dataset, value_scale_of
from satsr.errors import OptionError
from satsr.io.video import read_clip
from satsr.ops.filters import DEGRADATIONS, degrade
from satsr.ops.frames import window_order


@register_dataset
class VideoWindows(SampleDataset):
    """Windows of a clip's frames (see the module docstring)."""

    kind = "video"
    produces = "stacks"
    layout = "a folder of frames (PNG/TIFF, natural sort order) or a multi-band GeoTIFF of frames"

    def __init__(self, root: str | os.PathLike[str], split: str = "train", scale: int = 4, window: int = 5,
                 holdout_last: int = 20, degradation: str = "bicubic", frame_bands: int = 1) -> None:
        super().__init__(root, split)
        if degradation not in DEGRADATIONS:
            raise OptionError(f"degradation {degradation!r}: use {' or '.join(DEGRADATIONS)}")
        if window < 1 or scale < 2 or holdout_last < 0:
            raise OptionError(f"video windows need window >= 1, scale >= 2 and holdout_last >= 0 (got {window}, "
                              f"{scale}, {holdout_last})")
        clip = read_clip(self.root, frame_bands)
        n = len(clip.frames)
        if holdout_last >= n:
            raise OptionError(f"{self.root}: holdout_last {holdout_last} leaves no training frame of {n}")
        first, last = {"train": (0, n - holdout_last - 1), "test": (n - holdout_last, n - 1)}.get(split, (0, -1))
        self.clip = clip
        self.scale, self.window, self.degradation = scale, window, degradation
        self.value_scale = value_scale_of(clip.dtype)
        self.eight_bit = clip.dtype == "uint8"
        self.span = (first, last)
        self.items = list(range(first, last + 1))
        self.names = [clip.names[i] if clip.names else f"frame {i + 1}" for i in self.items]
        self._lr: dict[int, np.ndarray] = {}
        self._hr: dict[int, np.ndarray] = {}

    def frame(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(HR cropped to a multiple of the scale, its degraded LR) of frame ``i``, computed once."""
        if i not in self._lr:
            self._hr[i], self._lr[i] = degrade(self.clip.frames[i], self.scale, self.degradation, self.eight_bit)
        return self._hr[i], self._lr[i]

    def load(self, index: int) -> Sample:
        center = self.items[index]
        idx, real = window_order(center, *self.span, self.window)
        lr = np.stack([self.frame(i)[1] for i in idx])
        h, w = lr.shape[-2:]
        qm = np.broadcast_to(np.array(real)[:, None, None], (len(idx), h, w)).copy()
        hr = self.frame(center)[0]
        return {"name": self.names[index], "lr": lr, "qm": qm, "hr": hr, "sm": np.ones(hr.shape[-2:], bool)}
