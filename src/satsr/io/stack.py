"""Revisit stacks: co-located rasters (with optional cloud masks) or a PROBA-V imgset.

A ``Stack`` is what a ``Fuser`` needs plus what writing the result needs: frames ``(T, bands, h, w)``
(float32, native units, nodata pixels already filled with their nearest valid neighbour so models
never see nodata), clear masks ``(T, h, w)`` (True = valid and cloud-free), which frames had data at
all, and the metadata of the reference frame. Frames are ordered by clearance (clearest first), as
the ``Fuser`` contract asks; the clearest frame is the reference the fused output is aligned and
georeferenced to.

Masks for rasters come from mask rasters, one per frame (``masks=``; or derived from the frame file
names with ``mask_spec="OLD=NEW"``: the mask of ``scene_b3.tif`` under ``_b3=_fmask`` is
``scene_fmask.tif``). A mask pixel is clear when it is non-zero, or, with ``clear_values``, when its
value is one of them (e.g. Fmask: 0 clear land, 1 water). The frames' own nodata/NaN is always masked.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from satsr.errors import InputError, OptionError
from satsr.io.probav import read_imgset
from satsr.io.raster import RasterInfo, RasterReader, check_output, output_profile, write_raster
from satsr.masking import fill_invalid, to_dtype, upscale_mask, valid_mask

# Whole stacks are held in memory (float32 frames plus float64 work arrays in the fusers).
MAX_STACK_VALUES = 200_000_000


@dataclass
class Stack:
    """Frames, clear masks and the reference frame's metadata (see the module docstring)."""

    frames: np.ndarray  # (T, bands, h, w) float32
    masks: np.ndarray  # (T, h, w) bool, True = clear
    valid: np.ndarray  # (T, h, w) bool, True = the frame has data (clouds included)
    names: list[str]
    kind: str  # "rasters" | "probav"
    dtype: str = "float32"
    nodata: float | None = None
    info: RasterInfo | None = None  # the reference frame's metadata (rasters)
    bands: list[int] | None = None  # 1-based bands read (rasters)
    hr: np.ndarray | None = None  # PROBA-V ground truth (H, W) when known
    sm: np.ndarray | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def clearance(self) -> np.ndarray:
        return self.masks.reshape(len(self.masks), -1).mean(1)

    def any_valid(self) -> np.ndarray:
        """(h, w): pixels where at least one frame has data."""
        return self.valid.any(0)


def _order(masks: np.ndarray) -> np.ndarray:
    """Frame order by clearance, clearest first (stable)."""
    return np.argsort(-masks.reshape(len(masks), -1).sum(1), kind="stable")


def mask_paths_from_spec(frames: Sequence[Path], spec: str) -> list[Path]:
    """Mask file of each frame from ``"OLD=NEW"``: ``OLD`` replaced by ``NEW`` in the file name."""
    if "=" not in spec:
        raise OptionError(f"--mask-spec {spec!r}: expected OLD=NEW, e.g. _b3=_fmask")
    old, new = spec.split("=", 1)
    if not old:
        raise OptionError(f"--mask-spec {spec!r}: the part before '=' must not be empty")
    out = []
    for f in frames:
        if old not in f.name:
            raise OptionError(f"--mask-spec {spec!r}: {f.name} does not contain {old!r}")
        out.append(f.with_name(f.name.replace(old, new)))
    return out


def read_mask(path: Path, shape: tuple[int, int], clear_values: Sequence[float] | None = None) -> np.ndarray:
    """A mask raster's clear pixels: non-zero, or one of ``clear_values``; checked against ``shape``."""
    with RasterReader(path) as r:
        data = r.read(bands=[1])[0]
    if data.shape != tuple(shape):
        raise InputError(f"{path}: mask is {data.shape[1]}x{data.shape[0]} px, its frame {shape[1]}x{shape[0]}")
    if clear_values:
        return np.isin(data, np.asarray(list(clear_values), dtype=data.dtype))
    return data != 0


def load_rasters(paths: Sequence[str | os.PathLike[str]], masks: Sequence[str | os.PathLike[str]] | None = None,
                 mask_spec: str | None = None, clear_values: Sequence[float] | None = None,
                 bands: Sequence[int] | None = None) -> Stack:
    """Load co-located rasters (same size, CRS and grid to within a pixel) as a ``Stack``."""
    frame_paths = [Path(p) for p in paths]
    if len(frame_paths) < 2:
        raise OptionError("give at least two frames (revisits of the same area) to fuse")
    if masks and mask_spec:
        raise OptionError("give either --masks or --mask-spec, not both")
    mask_paths = [Path(m) for m in masks] if masks else (mask_paths_from_spec(frame_paths, mask_spec)
                                                          if mask_spec else None)
    if mask_paths is not None and len(mask_paths) != len(frame_paths):
        raise OptionError(f"got {len(mask_paths)} masks for {len(frame_paths)} frames; give one mask per frame")
    data, valids, clears = [], [], []
    infos: list[RasterInfo] = []
    chosen: list[int] = []
    for k, p in enumerate(frame_paths):
        with RasterReader(p, bands=bands) as r:
            info = r.info
            chosen = list(r.bands)
            if infos:
                _check_colocated(infos[0], info)
            n = len(frame_paths) * r.count * r.height * r.width
            if n > MAX_STACK_VALUES:
                raise OptionError(
                    f"{p}: the stack has {n:,} values, more than satsr fuses in memory "
                    f"({MAX_STACK_VALUES:,}); crop the frames to the area of interest first"
                )
            raw = r.read()
            ok = valid_mask(raw, r.nodatavals).all(0)
        clear = ok.copy()
        if mask_paths is not None:
            clear &= read_mask(mask_paths[k], raw.shape[-2:], clear_values)
        data.append(fill_invalid(raw, np.broadcast_to(ok, raw.shape)))
        valids.append(ok)
        clears.append(clear)
        infos.append(info)
    frames = np.stack(data)
    m, v = np.stack(clears), np.stack(valids)
    order = _order(m)
    ref = infos[int(order[0])]
    return Stack(frames=frames[order], masks=m[order], valid=v[order],
                 names=[str(frame_paths[i]) for i in order], kind="rasters", dtype=ref.dtype,
                 nodata=ref.nodata, info=ref, bands=chosen)


def _check_colocated(a: RasterInfo, b: RasterInfo) -> None:
    """Frames must share size, band count and CRS, and their grids may differ by under a pixel."""
    if (a.width, a.height) != (b.width, b.height):
        raise InputError(
            f"{b.path}: {b.width}x{b.height} px, but {a.path} is {a.width}x{a.height}; "
            "frames must cover the same grid (crop or warp them to a common grid first)"
        )
    if a.count != b.count:
        raise InputError(f"{b.path}: {b.count} bands, but {a.path} has {a.count}")
    if a.crs != b.crs:
        raise InputError(f"{b.path}: CRS differs from {a.path}'s; reproject the frames to one CRS first")
    ta, tb = a.transform, b.transform
    px = max(abs(ta.a), abs(ta.e), 1e-12)
    if abs(ta.a - tb.a) > 1e-6 * px or abs(ta.e - tb.e) > 1e-6 * px or abs(ta.b - tb.b) > 1e-6 * px:
        raise InputError(f"{b.path}: pixel size differs from {a.path}'s; resample the frames to one grid first")
    if abs(ta.c - tb.c) >= px or abs(ta.f - tb.f) >= px:
        raise InputError(
            f"{b.path}: grid offset from {a.path}'s by a pixel or more; "
            "frames must be co-located (sub-pixel offsets are registered)"
        )


def load_imgset(path: str | os.PathLike[str]) -> Stack:
    """A PROBA-V imgset folder as a ``Stack`` (frames already ordered by clearance)."""
    s = read_imgset(path)
    valid = np.ones(s.qm.shape, bool)
    return Stack(frames=s.frames.astype(np.float32), masks=s.qm.copy(), valid=valid,
                 names=[str(Path(path) / f"{n}.png") for n in s.frame_names], kind="probav",
                 dtype="uint16", nodata=None, hr=s.hr, sm=s.sm, extra={"imgset": s.name, "has_qm": s.has_qm})


def load_stack(inputs: Sequence[str | os.PathLike[str]], masks: Sequence[str | os.PathLike[str]] | None = None,
               mask_spec: str | None = None, clear_values: Sequence[float] | None = None,
               bands: Sequence[int] | None = None) -> Stack:
    """One folder -> a PROBA-V imgset; several files -> co-located rasters."""
    paths = [Path(p) for p in inputs]
    if len(paths) == 1 and paths[0].is_dir():
        if masks or mask_spec:
            raise OptionError("an imgset folder carries its own quality maps; drop --masks/--mask-spec")
        return load_imgset(paths[0])
    dirs = [p for p in paths if p.is_dir()]
    if dirs:
        raise InputError(f"{dirs[0]}: is a folder; give one imgset folder, or several raster files")
    return load_rasters(paths, masks, mask_spec, clear_values, bands)


def write_fused(stack: Stack, fused: np.ndarray, out: str | os.PathLike[str], scale: int,
                overwrite: bool = False, compress: str = "deflate") -> Path:
    """Write a fused ``(bands, H, W)`` result: 16-bit PNG for PROBA-V, else a GeoTIFF georeferenced
    like the reference frame at 1/scale its pixel size, in its dtype, nodata where no frame had data."""
    out_path = Path(out)
    if stack.kind == "probav":
        from satsr.io.image import write_image

        check_output(out_path, overwrite)
        if out_path.suffix.lower() != ".png":
            raise OptionError(f"{out_path}: PROBA-V results are written as 16-bit PNG; name the output *.png")
        if fused.shape[0] != 1:
            raise OptionError("16-bit PNG output holds one band")
        return write_image(out_path, fused, bits=16)
    if stack.info is None:
        raise ValueError("a raster stack without reference metadata cannot be written")
    values = np.array(fused, dtype=np.float32)
    values[:, ~upscale_mask(stack.any_valid(), scale)] = np.nan
    profile = output_profile(stack.info, scale, stack.bands, compress=compress)
    data = to_dtype(values, profile.dtype, profile.nodata)
    return write_raster(out_path, data, profile, overwrite=overwrite)
