"""Real training pairs: tiles of a low-res image and of a finer sensor's image of the same place,
aligned and harmonised tile by tile (``cut_real_pairs``, ``satsr pairs``).

A model trained on synthetic pairs learns to undo an assumed blur; one trained on real pairs learns the
sensor's own. The reference (e.g. an aerial photo) is resampled once onto the SR grid of the chosen
region, then every tile is aligned on its own (``satsr.ops.align.align_reference``: sub-pixel shift,
gain and offset per band), since real cross-sensor misregistration varies across a scene. Tiles whose
reference is not valid everywhere (nodata, clouds, the reference's edge) are skipped. Output: an
``LR/`` and an ``HR/`` folder of GeoTIFFs with matching names, the layout the ``folders`` dataset reads;
the HR tiles are float32 in the LR's radiometry.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from affine import Affine

from satsr.errors import InputError, OptionError
from satsr.io.raster import OutputProfile, RasterReader, Window, inspect, overlap_window, reproject_onto, write_raster
from satsr.ops.align import align_reference


def cut_real_pairs(lr: str | os.PathLike[str], reference: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                   scale: int, *, tile: int = 64, context: int = 8, bounds: Sequence[float] | None = None,
                   bands: Sequence[int] | None = None, reference_bands: Sequence[int] | None = None,
                   harmonise: str = "linear", prefix: str | None = None) -> list[str]:
    """Write aligned ``LR/<name>.tif`` and ``HR/<name>.tif`` tiles of ``tile`` LR px into ``out_dir``.

    Each tile is aligned with ``context`` LR px of real neighbours around it (cropped away after).
    Returns the names written. ``prefix`` (default: the LR and reference file stems) starts every name, so pairs of
    several scenes can share a folder.
    """
    lr_path, ref_path, out = Path(lr), Path(reference), Path(out_dir)
    s = int(scale)
    if s < 2 or tile < 8:
        raise OptionError(f"scale must be 2 or more and tile 8 or more LR px (got {scale}, {tile})")
    prefix = prefix or f"{lr_path.stem}_{ref_path.stem}"
    for sub in ("LR", "HR"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    with RasterReader(lr_path, bands=bands) as reader:
        info = reader.info
        r0, r1, c0, c1 = overlap_window(info, inspect(ref_path), bounds, min_side=tile)
        a0, a1 = max(0, r0 - context), min(info.height, r1 + context)
        b0, b1 = max(0, c0 - context), min(info.width, c1 + context)
        values, valid = reader.read_tile(a0, a1, b0, b1)
        raw = reader.read(Window(b0, a0, b1 - b0, a1 - a0))
        chosen = list(reader.bands)
    ref_bands = list(reference_bands) if reference_bands is not None else list(range(1, len(chosen) + 1))
    region_transform = info.transform @ Affine.translation(b0, a0)
    ref, ref_valid = reproject_onto(ref_path, ref_bands, region_transform @ Affine.scale(1 / s), info.crs,
                                    ((a1 - a0) * s, (b1 - b0) * s))
    ref_valid = ref_valid.all(0)
    lr_valid = valid.all(0)
    # the region's shift: every tile's is refined from it (a tile with little texture must not drift)
    prior = align_reference(values.astype(np.float64), lr_valid, ref, ref_valid, s, harmonise).registration.shift
    names = []
    for tr in range(r0, r1 - tile + 1, tile):
        for tc in range(c0, c1 - tile + 1, tile):
            # tile + context, in region coordinates
            y0, y1 = max(0, tr - context - a0), min(a1 - a0, tr + tile + context - a0)
            x0, x1 = max(0, tc - context - b0), min(b1 - b0, tc + tile + context - b0)
            win_ref_valid = ref_valid[y0 * s:y1 * s, x0 * s:x1 * s]
            iy, ix = tr - a0 - y0, tc - b0 - x0  # the tile inside the window
            core = (slice(iy * s, (iy + tile) * s), slice(ix * s, (ix + tile) * s))
            if not win_ref_valid[core].all() or not lr_valid[tr - a0:tr - a0 + tile, tc - b0:tc - b0 + tile].all():
                continue
            try:
                aligned = align_reference(values[:, y0:y1, x0:x1].astype(np.float64), lr_valid[y0:y1, x0:x1],
                                          ref[:, y0 * s:y1 * s, x0 * s:x1 * s], win_ref_valid, s, harmonise,
                                          prior=prior)
            except InputError:
                continue  # too little overlap in this tile to align it
            if not aligned.valid[core].all():
                continue
            name = f"{prefix}_r{tr:05d}_c{tc:05d}"
            t_lr = info.transform @ Affine.translation(tc, tr)
            lr_tile = raw[:, tr - a0:tr - a0 + tile, tc - b0:tc - b0 + tile]
            _write(out / "LR" / f"{name}.tif", lr_tile, t_lr, info.crs)
            _write(out / "HR" / f"{name}.tif", aligned.values[:, core[0], core[1]].astype(np.float32),
                   t_lr @ Affine.scale(1 / s), info.crs)
            names.append(name)
    if not names:
        raise InputError(f"{ref_path}: no {tile} x {tile} LR px tile of the region is fully covered by valid "
                         "reference pixels; use a smaller --tile or another region")
    return names


def _write(path: Path, data: np.ndarray, transform: Affine, crs: object) -> None:
    c, h, w = data.shape
    creation = {"driver": "GTiff", "width": w, "height": h, "count": c, "dtype": str(data.dtype),
                "compress": "deflate", "transform": transform}
    if crs is not None:
        creation["crs"] = crs
    write_raster(path, data, OutputProfile(creation=creation), overwrite=True)


__all__ = ["cut_real_pairs"]
