"""The ``video`` driver: super-resolve every frame of a clip (``satsr video``).

* a multi-image model (``swvsr``) builds each output frame from a window of low-res frames: the frame
  itself first, then its neighbours (``satsr.ops.frames.window_order``); windows never cross a scene
  cut (``shot_bounds``: a frame that does not resemble the previous one starts a new shot), and
  neighbours missing at the ends of a shot are masked out, so a 1-frame clip, or a frame alone in its
  shot, gets the model's single-image result;
* a single-image model (``edsr``, ``bicubic``, ...) is run on each frame alone (the baseline).

``upscale_frames`` works on arrays ``(T, C, h, w)`` in data units; ``upscale_video`` reads a folder of
frames or a GeoTIFF of frames and writes the same kind (``satsr.io.video``), checking the output path
before any work. Frames are small (video); each is processed whole (the video model tiles big frames).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from satsr.errors import InputError, OptionError
from satsr.io.video import check_clip_output, read_clip, write_clip
from satsr.models import registry
from satsr.ops.frames import shot_bounds, window_order

DEFAULT_WINDOW = 5
CUT_THRESHOLD = 0.5


def load_video_model(model: str | Any, scale: int, device: str = "cpu",
                     weights: str | os.PathLike[str] | None = None) -> tuple[str, Any]:
    """(kind, model): a video (multi-image) model by name, a single-image one run per frame, or a ready
    object of either contract."""
    if isinstance(model, str):
        kind = registry.get_spec(model).kind
        if kind == "guided":
            raise OptionError(f"model {model!r} is a guided (sharpening) model; `satsr video` takes a video model "
                              "(swvsr) or a single-image model run on each frame (edsr, bicubic, ...)")
        return kind, registry.create(model, scale, kind=kind, device=device, weights=weights)
    for kind in ("misr", "sisr"):
        try:
            return kind, registry.resolve(model, scale, kind=kind)
        except OptionError:
            continue
    raise OptionError(f"{type(model).__name__} is neither a multi-image nor a single-image model")


def window_size(net: Any, default: int = DEFAULT_WINDOW) -> int:
    """Frames per window the model was trained on (its card's ``task_options.frames``), else ``default``."""
    card = getattr(net, "card", None)
    frames = (card.training.get("config", {}).get("task_options", {}).get("frames") if card and card.training
              else None)
    return int(max(frames)) if frames else default


def upscale_frames(frames: np.ndarray, model: str | Any = "swvsr", scale: int = 4, *, window: int | None = None,
                   cut_threshold: float = CUT_THRESHOLD, device: str = "cpu",
                   weights: str | os.PathLike[str] | None = None,
                   progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Super-resolve a clip ``(T, C, h, w)`` (data units) -> float32 ``(T, C, h*scale, w*scale)``."""
    if frames.ndim != 4 or not len(frames):
        raise InputError(f"a clip is frames (T, bands, h, w) with T >= 1, got shape {frames.shape}")
    kind, net = load_video_model(model, scale, device=device, weights=weights)
    t, c, h, w = frames.shape
    out = np.empty((t, c, h * scale, w * scale), np.float32)
    if kind == "sisr":
        for i in range(t):
            out[i] = net.apply(frames[i], None, np.float32)
            if progress is not None:
                progress(i + 1, t)
        return out
    size = window or window_size(net)
    if size < 1:
        raise OptionError(f"--window {size}: give 1 or more frames")
    done = 0
    for first, last in shot_bounds(frames, cut_threshold):
        for i in range(first, last + 1):
            idx, real = window_order(i, first, last, size)
            masks = np.broadcast_to(np.array(real)[:, None, None], (len(idx), h, w))
            out[i] = net.apply(frames[idx], masks)[0]
            done += 1
            if progress is not None:
                progress(done, t)
    return out


def upscale_video(src: str | os.PathLike[str], out: str | os.PathLike[str], model: str | Any = "swvsr",
                  scale: int = 4, *, window: int | None = None, cut_threshold: float = CUT_THRESHOLD,
                  frame_bands: int = 1, overwrite: bool = False, device: str = "cpu",
                  weights: str | os.PathLike[str] | None = None,
                  progress: Callable[[int, int], None] | None = None) -> Path:
    """Read a clip (folder of frames or GeoTIFF of frames), super-resolve it, write the same kind."""
    clip = read_clip(src, frame_bands)
    check_clip_output(clip, out, overwrite)  # before any work
    frames = upscale_frames(clip.frames, model, scale, window=window, cut_threshold=cut_threshold, device=device,
                            weights=weights, progress=progress)
    return write_clip(clip, frames, out, scale, overwrite=overwrite)


__all__ = ["load_video_model", "upscale_frames", "upscale_video", "window_size"]
