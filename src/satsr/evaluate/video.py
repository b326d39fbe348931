"""Video SR benchmark (``satsr evaluate video``): per-frame quality and temporal consistency of video
models and of single-image models run on each frame, bicubic in the same run.

The clip's frames (all, or the last ``last``, e.g. the part kept out of training) are the HR; each is
degraded (MATLAB bicubic x scale, the convention of the satellite-video literature, or ``wald``;
rounded for 8-bit clips as a saved low-res video would be) and the low-res clip is super-resolved by
the ``video`` driver (windows built only from the evaluated frames). Outputs of 8-bit clips are
clipped and rounded. Per frame: PSNR and SSIM with ``scale`` px of border left out (peak 255 for
8-bit, else the frame's maximum), averaged over bands then frames. Temporal consistency:
``flicker`` is the mean absolute change between consecutive output frames (same border), to compare
with ``flicker_hr``, the same for the HR frames; ``temporal_error`` the mean absolute difference
between the output's and the HR's frame-to-frame changes (0: the output changes exactly as the truth).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from satsr import metrics
from satsr.errors import OptionError
from satsr.io.video import read_clip
from satsr.ops.filters import DEGRADATIONS, degrade
from satsr.video import upscale_frames


def _crop(x: np.ndarray, border: int) -> np.ndarray:
    return x[..., border:x.shape[-2] - border, border:x.shape[-1] - border] if border > 0 else x


def temporal_scores(out: np.ndarray, hr: np.ndarray, border: int) -> dict[str, float]:
    """``flicker``, ``flicker_hr`` and ``temporal_error`` of ``out`` against ``hr`` (both ``(T, C, H, W)``)."""
    if len(out) < 2:
        return {"flicker": 0.0, "flicker_hr": 0.0, "temporal_error": 0.0}
    d_out = np.diff(_crop(out.astype(np.float64), border), axis=0)
    d_hr = np.diff(_crop(hr.astype(np.float64), border), axis=0)
    return {"flicker": float(np.abs(d_out).mean()), "flicker_hr": float(np.abs(d_hr).mean()),
            "temporal_error": float(np.abs(d_out - d_hr).mean())}


def video_evaluate(src: str | os.PathLike[str], models: Sequence[str | Any] = ("swvsr", "edsr"), scale: int = 4,
                   last: int | None = 20, degradation: str = "bicubic", window: int | None = None,
                   frame_bands: int = 1, device: str = "cpu",
                   keep: Callable[[str, np.ndarray, np.ndarray, np.ndarray], None] | None = None) -> dict[str, Any]:
    """Scores of each model on the clip ``src`` (see the module docstring): ``{"clip", "frames", "scale",
    "degradation", "rows": [{"model", "psnr", "ssim", "psnr_per_frame", "flicker", "flicker_hr",
    "temporal_error", "seconds"}]}``; ``keep(label, outputs, hr, lr)`` sees each model's frames."""
    if degradation not in DEGRADATIONS:
        raise OptionError(f"unknown degradation {degradation!r}; use {' or '.join(DEGRADATIONS)}")
    if last is not None and last < 1:
        raise OptionError(f"--last must be at least 1, got {last}")
    clip = read_clip(src, frame_bands, frames=slice(-last, None) if last else None)
    eight = clip.dtype == "uint8"
    pairs = [degrade(f, scale, degradation, eight) for f in clip.frames]
    hr = np.stack([p[0] for p in pairs])
    lr = np.stack([p[1] for p in pairs])
    rows = []
    for m in ["bicubic", *[m for m in models if m != "bicubic"]]:
        t0 = time.perf_counter()
        out = upscale_frames(lr, m, scale, window=window, device=device).astype(np.float64)
        seconds = time.perf_counter() - t0
        if eight:
            out = np.clip(np.round(out), 0, 255)
        peaks = [255.0 if eight else float(h.max()) for h in hr]
        per_frame = [float(metrics.psnr(o, h, data_range=p, border=scale)) for o, h, p in zip(out, hr, peaks,
                                                                                             strict=True)]
        ssims = [float(metrics.ssim(o, h, data_range=p, border=scale)) for o, h, p in zip(out, hr, peaks,
                                                                                          strict=True)]
        label = m if isinstance(m, str) else m.name
        rows.append({"model": label, "psnr": round(float(np.mean(per_frame)), 4),
                     "ssim": round(float(np.mean(ssims)), 5), "psnr_per_frame": [round(v, 3) for v in per_frame],
                     **{k: round(v, 4) for k, v in temporal_scores(out, hr, scale).items()},
                     "seconds": round(seconds, 1)})
        if keep is not None:
            keep(label, out, hr, lr)
    return {"clip": str(src), "frames": len(hr), "first_frame": clip.names[0] if clip.names else None,
            "scale": scale, "degradation": degradation, "rows": rows}
