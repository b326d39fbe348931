"""Video clips as frame stacks: a folder of frame images (PNG/JPEG/TIFF, in natural sort order) or one
multi-band GeoTIFF whose bands are the frames (``frame_bands`` bands per frame), read into float32
``(T, C, H, W)`` and written back as the same kind.

Every frame must have the size and band count of the first: a mismatch, an empty folder or a file that
is neither is one ``InputError`` naming the file, before anything is written. A folder output is built
in a hidden temp folder beside the target and renamed into place at the end (a failed run leaves no
folder that looks complete); a GeoTIFF output goes through ``RasterWriter`` (atomic too).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from satsr.errors import InputError, OutputError
from satsr.io.files import TMP_PREFIX
from satsr.io.image import IMAGE_SUFFIXES, RASTER_SUFFIXES, image_dtype, read_image, write_image

FRAME_SUFFIXES = IMAGE_SUFFIXES


def natural_key(name: str) -> list[int | str]:
    """Sort key that orders ``frame_9`` before ``frame_10``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def frame_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The frame images directly inside ``folder``, in natural order; ``InputError`` when there are none."""
    d = Path(folder)
    if not d.is_dir():
        raise InputError(f"{d}: not a folder of frames; give a folder of PNG/TIFF frames or a multi-band GeoTIFF")
    files = sorted((p for p in d.iterdir() if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES),
                   key=lambda p: natural_key(p.name))
    if not files:
        raise InputError(f"{d}: the folder holds no frame images ({', '.join(FRAME_SUFFIXES)}); "
                         "give a folder of frames or a multi-band GeoTIFF of frames")
    return files


@dataclass
class Clip:
    """A clip in memory and where it came from (to write the result as the same kind)."""

    frames: np.ndarray  # (T, C, H, W) float32, the files' units
    source: Path
    names: list[str] = field(default_factory=list)  # frame file names (folder input)
    dtype: str = "uint8"  # what the frames store
    frame_bands: int = 1  # GeoTIFF input: bands per frame

    @property
    def is_folder(self) -> bool:
        return self.source.is_dir()


def read_clip(source: str | os.PathLike[str], frame_bands: int = 1,
              frames: slice | None = None) -> Clip:
    """Read a clip (see the module docstring); ``frames`` keeps a slice of the frames (by position)."""
    src = Path(source)
    if src.is_dir():
        files = frame_files(src)
        if frames is not None:
            files = files[frames]
            if not files:
                raise InputError(f"{src}: no frame is left after selecting frames {frames.start}:{frames.stop}")
        first = read_image(files[0])
        stack = np.empty((len(files), *first.shape), np.float32)
        stack[0] = first
        for i, f in enumerate(files[1:], 1):
            img = read_image(f)
            if img.shape != first.shape:
                raise InputError(f"{f}: frame is {img.shape[2]}x{img.shape[1]} px with {img.shape[0]} band(s); the "
                                 f"first frame {files[0].name} is {first.shape[2]}x{first.shape[1]} px with "
                                 f"{first.shape[0]}; every frame of a clip must have the same size and bands")
            stack[i] = img
        return Clip(stack, src, [f.name for f in files], image_dtype(files[0]))
    if not src.is_file():
        raise InputError(f"{src}: no such file or folder; give a folder of frames or a multi-band GeoTIFF")
    if src.suffix.lower() not in RASTER_SUFFIXES:
        raise InputError(f"{src}: a single {src.suffix} image is not a clip; give a folder of frames or a "
                         "multi-band GeoTIFF whose bands are the frames")
    cube = read_image(src)
    if frame_bands < 1 or cube.shape[0] % frame_bands:
        raise InputError(f"{src}: {cube.shape[0]} band(s) cannot be split into frames of {frame_bands} band(s); "
                         "set --frame-bands to the bands of one frame")
    stack = cube.reshape(cube.shape[0] // frame_bands, frame_bands, *cube.shape[1:])
    if frames is not None:
        stack = stack[frames]
    if not len(stack):
        raise InputError(f"{src}: no frame to read")
    return Clip(np.ascontiguousarray(stack), src, [], image_dtype(src), frame_bands)


def check_clip_output(clip: Clip, out: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """``out`` as a valid target for ``clip``'s kind of output (folder for a folder, GeoTIFF for a
    GeoTIFF), refused before any work when it exists without ``overwrite`` or is the input."""
    o = Path(out)
    if o.resolve() == clip.source.resolve():
        raise OutputError(f"{o}: is the input; write the output elsewhere")
    if clip.is_folder:
        if o.exists() and not o.is_dir():
            raise OutputError(f"{o}: exists and is not a folder; the input is a folder of frames, so is the output")
        if o.is_dir() and any(o.iterdir()) and not overwrite:
            raise OutputError(f"{o}: folder exists and is not empty; pass --overwrite or choose another folder")
        if not o.parent.exists():
            raise OutputError(f"{o}: parent folder {o.parent} does not exist; create it first")
        return o
    from satsr.io.raster import check_output

    if o.suffix.lower() not in (".tif", ".tiff"):
        raise OutputError(f"{o}: the input is a GeoTIFF of frames, so is the output; name it *.tif")
    return check_output(o, overwrite)


def _frame_bits(clip: Clip, values: np.ndarray) -> int:
    return 16 if clip.dtype in ("uint16", "int16", "int32", "uint32") else 8


def write_clip(clip: Clip, frames: np.ndarray, out: str | os.PathLike[str], scale: int,
               overwrite: bool = False) -> Path:
    """Write ``frames (T, C, H*scale, W*scale)`` like ``clip`` was given: a folder of frames with the
    input's names (PNG/JPEG in the input's bit depth, TIFF as float32 or the input's integer type), or a
    GeoTIFF of ``T*C`` bands on the input's grid refined ``scale`` times."""
    target = check_clip_output(clip, out, overwrite)
    if clip.is_folder:
        tmp = target.parent / f"{TMP_PREFIX}{os.getpid()}-{target.name}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        try:
            for name, frame in zip(clip.names, frames, strict=True):
                _write_frame(tmp / name, frame, clip)
            if target.exists():
                for p in target.iterdir():  # --overwrite: replace the frames of an earlier run
                    if p.is_file():
                        p.unlink()
                for p in tmp.iterdir():
                    p.replace(target / p.name)
                tmp.rmdir()
            else:
                tmp.replace(target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target
    return _write_geotiff(clip, frames, target, scale, overwrite)


def _write_frame(path: Path, frame: np.ndarray, clip: Clip) -> None:
    if path.suffix.lower() in RASTER_SUFFIXES:
        import rasterio

        dtype = clip.dtype if clip.dtype.startswith(("uint", "int")) else "float32"
        data = frame if dtype == "float32" else np.clip(np.rint(frame), *_limits(dtype))
        with rasterio.open(path, "w", driver="GTiff", width=frame.shape[-1], height=frame.shape[-2],
                           count=frame.shape[0], dtype=dtype) as dst:
            dst.write(data.astype(dtype))
        return
    bits = _frame_bits(clip, frame)
    if bits == 16 and frame.shape[0] != 1:
        bits = 8  # Pillow writes 16-bit PNGs of one band only
    write_image(path, frame, bits=bits)


def _limits(dtype: str) -> tuple[float, float]:
    info = np.iinfo(np.dtype(dtype))
    return float(info.min), float(info.max)


def _write_geotiff(clip: Clip, frames: np.ndarray, target: Path, scale: int, overwrite: bool) -> Path:
    from satsr.io.raster import RasterWriter, inspect, output_profile

    info = inspect(clip.source)
    t, c = frames.shape[:2]
    profile = output_profile(info, scale)
    profile.creation.update(count=t * c)
    profile.descriptions = tuple(f"frame {i + 1}" + (f" band {b + 1}" if c > 1 else "")
                                 for i in range(t) for b in range(c))
    profile.band_tags = ()
    profile.colorinterp = ()
    profile.scales = profile.offsets = profile.units = ()
    with RasterWriter(target, profile, overwrite=overwrite) as writer:
        writer.write_rows(frames.reshape(t * c, *frames.shape[-2:]), 0)
    return target



