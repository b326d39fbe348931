"""Windows of video frames: which frames build each output frame, and where a clip's shots change.

Shared by the video training data (``satsr.data.video``) and the ``satsr video`` driver, so that the
network sees the same windows in training and in use.
"""

from __future__ import annotations

import numpy as np


def window_order(center: int, first: int, last: int, window: int) -> tuple[list[int], list[bool]]:
    """Frame indices of a ``window``-frame stack around ``center``: the target first, then its neighbours
    -1, +1, -2, +2, ... within ``[first, last]``, and whether each is a real neighbour (False: the target
    repeated, to be masked out)."""
    idx, real = [center], [True]
    d = 1
    while len(idx) < window:
        for j in (center - d, center + d):
            if len(idx) < window:
                ok = first <= j <= last
                idx.append(j if ok else center)
                real.append(ok)
        d += 1
    return idx, real


def frame_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two frames ``(C, h, w)`` after removing each one's mean (1: same picture)."""
    x = a.astype(np.float64).ravel() - float(a.mean())
    y = b.astype(np.float64).ravel() - float(b.mean())
    den = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / den) if den > 0 else float(np.array_equal(a, b))


def shot_bounds(frames: np.ndarray, threshold: float = 0.5) -> list[tuple[int, int]]:
    """``[(first, last), ...]`` of the shots of a clip ``(T, C, h, w)``: a new shot starts where a frame's
    correlation with the previous one falls below ``threshold`` (a scene cut); windows never cross one."""
    starts = [0] + [t for t in range(1, len(frames)) if frame_similarity(frames[t - 1], frames[t]) < threshold]
    ends = [s - 1 for s in starts[1:]] + [len(frames) - 1]
    return list(zip(starts, ends, strict=True))
