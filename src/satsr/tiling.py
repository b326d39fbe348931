"""Seam-free tiled super-resolution with flat memory.

The image is cut into a grid of tiles (``tile`` px, neighbours sharing ``overlap`` px; the last
tile of a row/column is aligned to the image edge, so any size is covered). Each tile is computed
from a window grown by ``context = max(margin, overlap)`` real pixels, clipped (never padded) at
the image edges, and the model output is cropped back to the tile. Because every output pixel of a
tile then sees the same input the whole-image run would, tiled == whole up to float rounding for
any model whose ``margin`` covers its receptive field. Overlaps are blended with linear ramps that
form a partition of unity, which hides seams for models whose margin is only approximate.

Memory stays flat: tiles are processed one row-strip at a time; the output rows that no later tile
touches are written (in whole output blocks) and dropped. Only one strip of input and about one
strip plus one block row of output are in memory, however large the scene.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from satsr.masking import fill_invalid, upscale_mask, valid_mask


class TileSource(Protocol):
    """Where ``run_tiled`` reads from: float32 pixels + validity of a window."""

    count: int
    height: int
    width: int

    def read_tile(self, row0: int, row1: int, col0: int, col1: int) -> tuple[np.ndarray, np.ndarray]: ...


class TileSink(Protocol):
    """Where ``run_tiled`` writes to: full-width float rows (NaN = nodata), top to bottom."""

    def write_rows(self, values: np.ndarray, row_off: int) -> None: ...


# ----------------------------------------------------------------------------- the plan


def axis_spans(n: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """Half-open spans of ``tile`` px covering ``[0, n)``, neighbours overlapping by ``overlap``.

    The step is ``tile - overlap``; the last span ends exactly at ``n`` (it may overlap its
    neighbour by more). One span when ``n <= tile``.
    """
    if tile <= 0 or overlap < 0 or overlap >= tile:
        raise ValueError(f"need tile > overlap >= 0, got tile={tile}, overlap={overlap}")
    if n <= tile:
        return [(0, n)]
    step = tile - overlap
    spans = []
    start = 0
    while start + tile < n:
        spans.append((start, start + tile))
        start += step
    spans.append((n - tile, n))
    return spans


def feather_weights(spans: list[tuple[int, int]], scale: int) -> list[np.ndarray]:
    """Per-span 1-D blending weights at the output resolution, summing to 1 at every pixel.

    Each span ramps linearly (strictly positive) across its overlap with each neighbour; the raw
    ramps are divided by their sum, so products of row and column weights tile the plane exactly.
    """
    n = spans[-1][1] * scale
    raw: list[np.ndarray] = []
    total = np.zeros(n, dtype=np.float64)
    for i, (a, b) in enumerate(spans):
        w = np.ones((b - a) * scale, dtype=np.float64)
        if i > 0:
            ov = (spans[i - 1][1] - a) * scale
            if ov > 0:
                w[:ov] *= (np.arange(ov) + 0.5) / ov
        if i + 1 < len(spans):
            ov = (b - spans[i + 1][0]) * scale
            if ov > 0:
                w[-ov:] *= (ov - np.arange(ov) - 0.5) / ov
        raw.append(w)
        total[a * scale:b * scale] += w
    return [(w / total[a * scale:b * scale]).astype(np.float32) for w, (a, b) in zip(raw, spans, strict=True)]


@dataclass(frozen=True)
class TilePlan:
    """The tile grid for one image: row and column spans plus the context each tile reads."""

    height: int
    width: int
    scale: int
    tile: int
    overlap: int
    margin: int
    rows: list[tuple[int, int]]
    cols: list[tuple[int, int]]

    @property
    def context(self) -> int:
        """Real pixels read around each tile for the model: ``max(margin, overlap)``."""
        return max(self.margin, self.overlap)

    @property
    def n_tiles(self) -> int:
        return len(self.rows) * len(self.cols)

    def model_window(self, r: tuple[int, int], c: tuple[int, int],
                     extra: int = 0) -> tuple[int, int, int, int]:
        """Rows/cols a tile's model input covers (tile + context + ``extra``), clipped to the image."""
        ctx = self.context + extra
        return (max(0, r[0] - ctx), min(self.height, r[1] + ctx),
                max(0, c[0] - ctx), min(self.width, c[1] + ctx))


def plan_tiles(height: int, width: int, *, tile: int | None, overlap: int, margin: int,
               scale: int) -> TilePlan:
    """Plan the tiles of a ``height x width`` image (``tile=None``: one tile, the whole image)."""
    if tile is None:
        tile = max(height, width)
        overlap = 0
    if tile < 1:
        raise ValueError(f"tile must be at least 1, got {tile}")
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, tile), got {overlap} for tile {tile}")
    return TilePlan(height, width, scale, tile, overlap, margin,
                    axis_spans(height, tile, overlap), axis_spans(width, tile, overlap))


# ----------------------------------------------------------------------------- running


@dataclass
class TileStats:
    """What a tiled run did."""

    tiles: int = 0
    computed: int = 0
    skipped: int = 0
    seconds: float = 0.0


def _progress(total: int, quiet: bool, label: str) -> tuple[Callable[[], None], Callable[[], None]]:
    """(advance, close) callbacks of a rich progress bar on stderr; no-ops when quiet."""
    if quiet:
        return (lambda: None), (lambda: None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeRemainingColumn(), console=Console(stderr=True), transient=True)
    progress.start()
    task = progress.add_task(label, total=total)
    return (lambda: progress.advance(task)), progress.stop


def run_tiled(reader: TileSource, upscaler: Any, writer: TileSink, *, tile: int | None = 512,
              overlap: int = 32, quiet: bool = True, label: str = "upscaling") -> TileStats:
    """Upscale everything ``reader`` provides with ``upscaler`` and stream it to ``writer``.

    Per tile: read tile + context (+ ``margin`` more so the nearest-valid fill sees the same
    neighbours as a whole-image fill), fill invalid pixels, divide by ``upscaler.value_scale``, run
    the model, multiply back, crop to the tile, put NaN where the input was invalid (per band),
    blend. A tile whose pixels are all invalid is not computed. The writer receives float32 rows
    with NaN for nodata, in order, in multiples of its ``block_rows`` (except the last write); an
    upscaler with ``output_groups = k`` yields ``k * C`` bands (see ``_compute_tile``).
    """
    t_start = time.perf_counter()
    scale = int(upscaler.scale)
    margin = int(getattr(upscaler, "margin", 0))
    value_scale = float(getattr(upscaler, "value_scale", 1.0) or 1.0)
    H, W, C = reader.height, reader.width, reader.count
    groups = max(1, int(getattr(upscaler, "output_groups", 1)))
    plan = plan_tiles(H, W, tile=tile, overlap=overlap, margin=margin, scale=scale)
    wrow = feather_weights(plan.rows, scale)
    wcol = feather_weights(plan.cols, scale)
    block_rows = max(1, int(getattr(writer, "block_rows", 1)))
    stats = TileStats(tiles=plan.n_tiles)
    advance, close = _progress(plan.n_tiles, quiet, label)

    C_out = C * groups
    buf = np.zeros((C_out, 0, W * scale), dtype=np.float32)  # output rows [buf_row0, buf_row0 + buf rows)
    buf_row0 = 0
    try:
        for ri, (r0, r1) in enumerate(plan.rows):
            # One strip of input: every row any tile of this row may read, full width.
            s0, s1, _, _ = plan.model_window((r0, r1), (0, W), extra=margin)
            strip, valid = reader.read_tile(s0, s1, 0, W)
            need = r1 * scale - buf_row0
            if buf.shape[1] < need:
                grow = np.zeros((C_out, need - buf.shape[1], W * scale), dtype=np.float32)
                buf = np.concatenate([buf, grow], axis=1)
            for ci, (c0, c1) in enumerate(plan.cols):
                target = buf[:, r0 * scale - buf_row0:r1 * scale - buf_row0, c0 * scale:c1 * scale]
                core_valid = valid[:, r0 - s0:r1 - s0, c0:c1]
                if not core_valid.any():
                    target[...] = np.nan
                    stats.skipped += 1
                    advance()
                    continue
                y = _compute_tile(plan, strip, valid, s0, (r0, r1), (c0, c1), upscaler, value_scale, groups)
                y[~np.tile(upscale_mask(core_valid, scale), (groups, 1, 1))] = np.nan
                target += y * (wrow[ri][:, None] * wcol[ci][None, :])
                stats.computed += 1
                advance()
            last = ri + 1 == len(plan.rows)
            final = H * scale if last else plan.rows[ri + 1][0] * scale
            flush_to = final if last else (final // block_rows) * block_rows
            if flush_to > buf_row0:
                n = flush_to - buf_row0
                writer.write_rows(buf[:, :n], buf_row0)
                buf = buf[:, n:].copy()
                buf_row0 = flush_to
    finally:
        close()
    stats.seconds = time.perf_counter() - t_start
    return stats


def _compute_tile(plan: TilePlan, strip: np.ndarray, valid: np.ndarray, s0: int, r: tuple[int, int],
                  c: tuple[int, int], upscaler: Any, value_scale: float, groups: int = 1) -> np.ndarray:
    """Model output for one tile, cropped to the tile (float32, ``(groups * C, th*s, tw*s)``).

    An upscaler with a ``call_masked(x, valid)`` method gets the validity of its input window too
    (e.g. to keep LR-consistency on valid pixels only); ``output_groups`` > 1 means it returns that
    many ``C``-band images stacked on the band axis (the image plus per-pixel maps).
    """
    scale = plan.scale
    m0, m1, mc0, mc1 = plan.model_window(r, c)
    f0, f1, fc0, fc1 = plan.model_window(r, c, extra=plan.margin)
    fill_valid = valid[:, f0 - s0:f1 - s0, fc0:fc1]
    if fill_valid.all():
        x = strip[:, m0 - s0:m1 - s0, mc0:mc1]
    else:
        filled = fill_invalid(strip[:, f0 - s0:f1 - s0, fc0:fc1], fill_valid)
        x = filled[:, m0 - f0:m1 - f0, mc0 - fc0:mc1 - fc0]
    # A private copy: the model may work in place, and the strip is shared with the next tile.
    x = x / value_scale if value_scale != 1.0 else np.array(x, dtype=np.float32, copy=True)
    masked = getattr(upscaler, "call_masked", None)
    y = masked(x, valid[:, m0 - s0:m1 - s0, mc0:mc1]) if masked is not None else upscaler(x)
    if not isinstance(y, np.ndarray):  # torch tensor from a custom upscaler
        y = y.detach().cpu().numpy()
    y = np.asarray(y, dtype=np.float32)
    expected = (x.shape[0] * groups, x.shape[1] * scale, x.shape[2] * scale)
    if y.shape != expected:
        name = getattr(upscaler, "name", upscaler)
        raise RuntimeError(f"{name} returned shape {y.shape}, expected {expected}")
    if value_scale != 1.0:
        y = y * value_scale
    return y[:, (r[0] - m0) * scale:(r[1] - m0) * scale, (c[0] - mc0) * scale:(c[1] - mc0) * scale].copy()


# ----------------------------------------------------------------------------- in-memory ends


class ArraySource:
    """A ``(C, H, W)`` array as a tile source; ``nodata`` (scalar or per band) and NaN are invalid."""

    def __init__(self, data: np.ndarray, nodata: float | list[float | None] | None = None) -> None:
        if data.ndim != 3:
            raise ValueError(f"expected (bands, h, w), got shape {data.shape}")
        self.data = data
        self.count, self.height, self.width = data.shape
        self.nodata = nodata

    def read_tile(self, row0: int, row1: int, col0: int, col1: int) -> tuple[np.ndarray, np.ndarray]:
        part = self.data[:, row0:row1, col0:col1]
        return part.astype(np.float32, copy=True), valid_mask(part, self.nodata)


class ArraySink:
    """Collects the output rows into one float32 ``(C, H*s, W*s)`` array (NaN = nodata)."""

    block_rows = 1

    def __init__(self, count: int, height: int, width: int) -> None:
        self.values = np.full((count, height, width), np.nan, dtype=np.float32)

    def write_rows(self, values: np.ndarray, row_off: int) -> None:
        self.values[:, row_off:row_off + values.shape[1]] = values
