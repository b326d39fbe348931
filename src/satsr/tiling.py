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

It is the one engine of every raster command: ``upscale`` (a single source, a single-image model,
optionally wrapped with trust maps) and ``sharpen`` (a ``GuidedSource``: low-res bands plus a guide
on a finer grid, and a guided model) run through ``run_tiled`` with the same planning, context,
nodata handling, blending and progress bar. Sources and sinks: ``RasterReader``/``RasterWriter``
(``satsr.io.raster``), ``ArraySource``/``ArraySink`` here, ``StackedSource`` for band files on one
grid, ``SplitSink``/``BandSink`` to route band groups.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from satsr.masking import fill_invalid, upscale_mask, valid_mask, working_dtype
from satsr.ops.spans import Scale, as_scale, axis_spans, feather_weights, out_index, round_up, unit_of


class TileSource(Protocol):
    """Where ``run_tiled`` reads from: float32 pixels + validity of a window (``RasterReader``,
    ``ArraySource``, ``StackedSource``)."""

    count: int
    height: int
    width: int
    work_dtype: np.dtype  # the float type pixels are computed in (``satsr.masking.working_dtype``)

    def read_tile(self, row0: int, row1: int, col0: int, col1: int) -> tuple[np.ndarray, np.ndarray]: ...


class TileSink(Protocol):
    """Where ``run_tiled`` writes to: full-width float rows (NaN = nodata), top to bottom, in multiples
    of ``block_rows`` (except the last write)."""

    block_rows: int

    def write_rows(self, values: np.ndarray, row_off: int) -> None: ...


class TileModel(Protocol):
    """What ``run_tiled`` runs: any contract's base class (``Upscaler``, ``GuidedUpscaler``) provides it."""

    name: str
    scale: Scale
    margin: int
    output_groups: int

    def tile_output(self, x: np.ndarray, valid: np.ndarray, guide: np.ndarray | None,
                    out_hw: tuple[int, int] | None = None) -> np.ndarray: ...


@dataclass
class Strip:
    """Input pixels of rows ``[row0, row0 + rows)`` and columns ``[col0, col0 + cols)`` with validity, and
    for guided sources the same area of the guide on its ``factor`` times finer grid."""

    row0: int
    col0: int
    data: np.ndarray  # (C, rows, cols) float32
    valid: np.ndarray  # (C, rows, cols) bool
    guide: np.ndarray | None = None  # (G, rows * f, cols * f)
    guide_valid: np.ndarray | None = None
    factor: int = 1

    def window(self, r0: int, r1: int, c0: int, c1: int) -> Strip:
        """Rows ``[r0, r1)`` and columns ``[c0, c1)`` (image coordinates) of the strip."""
        a, b, c, d, f = r0 - self.row0, r1 - self.row0, c0 - self.col0, c1 - self.col0, self.factor
        guide = gvalid = None
        if self.guide is not None and self.guide_valid is not None:
            guide = self.guide[:, a * f:b * f, c * f:d * f]
            gvalid = self.guide_valid[:, a * f:b * f, c * f:d * f]
        return Strip(r0, c0, self.data[:, a:b, c:d], self.valid[:, a:b, c:d], guide, gvalid, f)

    def filled(self) -> Strip:
        """Invalid pixels (of the data and of the guide) replaced by their nearest valid neighbour."""
        data = self.data if self.valid.all() else fill_invalid(self.data, self.valid)
        guide = self.guide
        if guide is not None and self.guide_valid is not None and not self.guide_valid.all():
            guide = fill_invalid(guide, self.guide_valid)
        return Strip(self.row0, self.col0, data, self.valid, guide, self.guide_valid, self.factor)


class GuidedSource:
    """Low-res bands and a guide ``ratio`` times finer on the same footprint, read as one source on the
    low-res grid (``satsr sharpen``). Output pixels are nodata where the low-res band or any guide band is."""

    def __init__(self, lowres: TileSource, guide: TileSource, ratio: int) -> None:
        if (guide.height, guide.width) != (lowres.height * ratio, lowres.width * ratio):
            raise ValueError(f"guide {guide.height}x{guide.width} is not {ratio} x low-res "
                             f"{lowres.height}x{lowres.width}")
        self.lowres, self.guide, self.ratio = lowres, guide, ratio
        self.count, self.height, self.width = lowres.count, lowres.height, lowres.width
        self.work_dtype = np.result_type(lowres.work_dtype, guide.work_dtype)

    def read_tile(self, row0: int, row1: int, col0: int, col1: int) -> tuple[np.ndarray, np.ndarray]:
        return self.lowres.read_tile(row0, row1, col0, col1)

    def read_guide(self, row0: int, row1: int, col0: int, col1: int) -> tuple[np.ndarray, np.ndarray]:
        """The guide under low-res rows/cols ``[row0, row1) x [col0, col1)``."""
        q = self.ratio
        return self.guide.read_tile(row0 * q, row1 * q, col0 * q, col1 * q)


class StackedSource:
    """Several sources on one grid read as one, their bands concatenated in order (e.g. single-band
    Sentinel-2 files)."""

    def __init__(self, sources: Sequence[TileSource]) -> None:
        self.sources = list(sources)
        first = self.sources[0]
        for s in self.sources[1:]:
            if (s.height, s.width) != (first.height, first.width):
                raise ValueError("stacked sources must share one grid")
        self.height, self.width = first.height, first.width
        self.count = sum(s.count for s in self.sources)
        self.work_dtype = np.result_type(*(s.work_dtype for s in self.sources))

    def read_tile(self, row0: int, row1: int, col0: int, col1: int) -> tuple[np.ndarray, np.ndarray]:
        parts = [s.read_tile(row0, row1, col0, col1) for s in self.sources]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def read_strip(source: TileSource, row0: int, row1: int) -> Strip:
    """Full-width rows ``[row0, row1)`` of ``source`` (with its guide when it is a ``GuidedSource``)."""
    data, valid = source.read_tile(row0, row1, 0, source.width)
    if isinstance(source, GuidedSource):
        guide, gvalid = source.read_guide(row0, row1, 0, source.width)
        return Strip(row0, 0, data, valid, guide, gvalid, source.ratio)
    return Strip(row0, 0, data, valid)


# ----------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class TilePlan:
    """The tile grid for one image: row and column spans plus the context each tile reads."""

    height: int
    width: int
    scale: Scale
    tile: int
    overlap: int
    margin: int
    rows: list[tuple[int, int]]
    cols: list[tuple[int, int]]

    @property
    def context(self) -> int:
        """Real pixels read around each tile for the model: ``max(margin, overlap)`` (a multiple of the
        scale's denominator, so windows start on whole output pixels)."""
        return round_up(max(self.margin, self.overlap), unit_of(self.scale))

    def out(self, i: int) -> int:
        """Output index of input index ``i`` (exact for window starts)."""
        return out_index(i, self.scale)

    @property
    def n_tiles(self) -> int:
        return len(self.rows) * len(self.cols)

    def model_window(self, r: tuple[int, int], c: tuple[int, int],
                     extra: int = 0) -> tuple[int, int, int, int]:
        """Rows/cols a tile's model input covers (tile + context + ``extra``), clipped to the image."""
        ctx = self.context + round_up(extra, unit_of(self.scale))
        return (max(0, r[0] - ctx), min(self.height, r[1] + ctx),
                max(0, c[0] - ctx), min(self.width, c[1] + ctx))


def plan_tiles(height: int, width: int, *, tile: int | None, overlap: int, margin: int,
               scale: Scale) -> TilePlan:
    """Plan the tiles of a ``height x width`` image (``tile=None``: one tile, the whole image). For a
    fractional scale p/q, tile offsets are multiples of q input px, so each maps to a whole output pixel."""
    if tile is None:
        tile = max(height, width)
        overlap = 0
    if tile < 1:
        raise ValueError(f"tile must be at least 1, got {tile}")
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, tile), got {overlap} for tile {tile}")
    unit = unit_of(scale)
    return TilePlan(height, width, scale, tile, overlap, margin,
                    axis_spans(height, tile, overlap, unit), axis_spans(width, tile, overlap, unit))


# ----------------------------------------------------------------------------- running


@dataclass
class TileStats:
    """What a tiled run did."""

    tiles: int = 0
    computed: int = 0
    skipped: int = 0
    seconds: float = 0.0


def _rich_bar(label: str, total: float, counts: bool) -> tuple[Any, Any]:
    """A started rich progress bar on stderr (``counts``: "n/total", else a percentage) and its task."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    progress = Progress(TextColumn("{task.description}"), BarColumn(),
                        MofNCompleteColumn() if counts else TaskProgressColumn(), TimeRemainingColumn(),
                        console=Console(stderr=True), transient=True)
    progress.start()
    return progress, progress.add_task(label, total=total)


def progress_bar(total: int, quiet: bool, label: str) -> tuple[Callable[[], None], Callable[[], None]]:
    """(advance, close) callbacks of a rich progress bar on stderr; no-ops when quiet."""
    if quiet:
        return (lambda: None), (lambda: None)
    progress, task = _rich_bar(label, total, counts=True)
    return (lambda: progress.advance(task)), progress.stop


def fit_on_sample(source: TileSource, model: Any, *, window: int = 512, quiet: bool = True,
                  label: str = "learning") -> None:
    """Give a single-image model its scene-level ``fit`` before tiling, as ``satsr.sharpen.fit_scene`` does for
    guided ones: the whole scene when it is at most ``window`` px a side, else a central ``window`` square
    (if under a tenth of it is valid, the square of a 3 x 3 grid with the most valid pixels). Invalid
    pixels are filled with their nearest valid neighbour, as tiles are, and the mask goes with them. A
    progress bar (a percentage) appears only while a model that learns reports progress."""
    h, w = source.height, source.width
    wh, ww = min(window, h), min(window, w)

    def read(r0: int, c0: int) -> tuple[np.ndarray, np.ndarray]:
        return source.read_tile(r0, r0 + wh, c0, c0 + ww)

    data, valid = read((h - wh) // 2, (w - ww) // 2)
    if valid.mean() < 0.1 and (wh, ww) != (h, w):
        grid = [(int(r), int(c)) for r in np.linspace(0, h - wh, 3) for c in np.linspace(0, w - ww, 3)]
        data, valid = max((read(r, c) for r, c in grid), key=lambda dv: int(dv[1].sum()))
    if not valid.any():
        return  # nothing to learn from; tiles of an all-invalid scene are skipped anyway
    data = data if valid.all() else fill_invalid(data, valid)
    bar: list[Any] = []

    def progress(done: float) -> None:
        if quiet:
            return
        if not bar:
            bar.extend(_rich_bar(label, 100.0, counts=False))
        bar[0].update(bar[1], completed=100.0 * done)

    try:
        model.fit(data, valid, progress)
    finally:
        if bar:
            bar[0].stop()


def run_tiled(source: TileSource, model: TileModel, sink: TileSink, *, tile: int | None = 512,
              overlap: int = 32, quiet: bool = True, label: str = "upscaling") -> TileStats:
    """Run ``model`` over everything ``source`` provides and stream the result to ``sink``.

    Per tile: read tile + context (+ ``margin`` more so the nearest-valid fill sees the same
    neighbours as a whole-image fill), fill invalid pixels (of the guide too, for a ``GuidedSource``),
    run the model in data units (``tile_output``: the contract's ``apply``), crop to the tile, put NaN
    where the input was invalid (per band; for guided sources also where any guide band is), blend. A
    tile whose pixels are all invalid is not computed. The sink receives float32 rows with NaN for
    nodata, in order, in multiples of its ``block_rows`` (except the last write); a model with
    ``output_groups = k`` yields ``k * C`` bands (e.g. the image and its trust maps).
    """
    t_start = time.perf_counter()
    scale = as_scale(model.scale)
    margin = int(model.margin)
    H, W, C = source.height, source.width, source.count
    groups = max(1, int(model.output_groups))
    plan = plan_tiles(H, W, tile=tile, overlap=overlap, margin=margin, scale=scale)
    out_w = plan.out(W)
    wrow = feather_weights(plan.rows, scale)
    wcol = feather_weights(plan.cols, scale)
    block_rows = max(1, int(sink.block_rows))
    stats = TileStats(tiles=plan.n_tiles)
    advance, close = progress_bar(plan.n_tiles, quiet, label)

    C_out = C * groups
    work = np.dtype(source.work_dtype)
    buf = np.zeros((C_out, 0, out_w), dtype=work)  # output rows [buf_row0, buf_row0 + buf rows)
    buf_row0 = 0
    try:
        for ri, (r0, r1) in enumerate(plan.rows):
            # One strip of input: every row any tile of this row may read, full width.
            s0, s1, _, _ = plan.model_window((r0, r1), (0, W), extra=margin)
            strip = read_strip(source, s0, s1)
            need = plan.out(r1) - buf_row0
            if buf.shape[1] < need:
                grow = np.zeros((C_out, need - buf.shape[1], out_w), dtype=work)
                buf = np.concatenate([buf, grow], axis=1)
            for ci, (c0, c1) in enumerate(plan.cols):
                target = buf[:, plan.out(r0) - buf_row0:plan.out(r1) - buf_row0, plan.out(c0):plan.out(c1)]
                core = strip.window(r0, r1, c0, c1)
                if not core.valid.any():
                    target[...] = np.nan
                    stats.skipped += 1
                    advance()
                    continue
                y = _compute_tile(plan, strip, (r0, r1), (c0, c1), model, groups)
                out_valid = upscale_mask(core.valid, scale, target.shape[-2:])
                if core.guide_valid is not None:
                    out_valid = out_valid & core.guide_valid.all(0)
                y[~np.tile(out_valid, (groups, 1, 1))] = np.nan
                target += y * (wrow[ri][:, None] * wcol[ci][None, :])
                stats.computed += 1
                advance()
            last = ri + 1 == len(plan.rows)
            final = plan.out(H) if last else plan.out(plan.rows[ri + 1][0])
            flush_to = final if last else (final // block_rows) * block_rows
            if flush_to > buf_row0:
                n = flush_to - buf_row0
                sink.write_rows(buf[:, :n], buf_row0)
                buf = buf[:, n:].copy()
                buf_row0 = flush_to
    finally:
        close()
    stats.seconds = time.perf_counter() - t_start
    return stats


def _compute_tile(plan: TilePlan, strip: Strip, r: tuple[int, int], c: tuple[int, int], model: TileModel,
                  groups: int = 1) -> np.ndarray:
    """Model output for one tile, cropped to the tile (work dtype, ``(groups * C, th*s, tw*s)``).

    The model gets the validity of its input window too (``call_masked``: e.g. to keep LR-consistency
    on valid pixels only).
    """
    m0, m1, mc0, mc1 = plan.model_window(r, c)
    f0, f1, fc0, fc1 = plan.model_window(r, c, extra=plan.margin)
    filled = strip.window(f0, f1, fc0, fc1).filled()
    win = filled.window(m0, m1, mc0, mc1)
    # the window starts on a whole output pixel; it covers output pixels up to out(m1)
    out_hw = (plan.out(m1) - plan.out(m0), plan.out(mc1) - plan.out(mc0))
    fractional = not isinstance(plan.scale, int)
    y = np.asarray(model.tile_output(win.data, win.valid, win.guide, out_hw if fractional else None),
                   dtype=win.data.dtype)
    expected = (win.data.shape[0] * groups, *out_hw)
    if y.shape != expected:
        raise RuntimeError(f"{model.name} returned shape {y.shape}, expected {expected}")
    o0, oc0 = plan.out(m0), plan.out(mc0)
    return y[:, plan.out(r[0]) - o0:plan.out(r[1]) - o0, plan.out(c[0]) - oc0:plan.out(c[1]) - oc0].copy()


# ----------------------------------------------------------------------------- in-memory ends


class ArraySource:
    """A ``(C, H, W)`` array as a tile source; ``nodata`` (scalar or per band) and NaN are invalid.
    ``ValueError`` for a pixel type satsr cannot carry exactly (``satsr.masking.working_dtype``)."""

    def __init__(self, data: np.ndarray, nodata: float | list[float | None] | None = None) -> None:
        if data.ndim != 3:
            raise ValueError(f"expected (bands, h, w), got shape {data.shape}")
        self.data = data
        self.count, self.height, self.width = data.shape
        self.nodata = nodata
        self.work_dtype = working_dtype(data.dtype)

    def read_tile(self, row0: int, row1: int, col0: int, col1: int) -> tuple[np.ndarray, np.ndarray]:
        part = self.data[:, row0:row1, col0:col1]
        return part.astype(self.work_dtype, copy=True), valid_mask(part, self.nodata)


class ArraySink:
    """Collects the output rows into one ``(C, H*s, W*s)`` array of ``dtype`` (NaN = nodata)."""

    block_rows = 1

    def __init__(self, count: int, height: int, width: int, dtype: np.dtype | type = np.float32) -> None:
        self.values = np.full((count, height, width), np.nan, dtype=dtype)

    def write_rows(self, values: np.ndarray, row_off: int) -> None:
        self.values[:, row_off:row_off + values.shape[1]] = values


class SplitSink:
    """Routes the stacked band groups of a model with ``output_groups`` > 1 to one sink each (image,
    maps...)."""

    def __init__(self, sinks: Sequence[TileSink], count: int) -> None:
        self.sinks = list(sinks)
        self.count = count
        self.block_rows = max(int(s.block_rows) for s in self.sinks)

    def write_rows(self, values: np.ndarray, row_off: int) -> None:
        for g, sink in enumerate(self.sinks):
            sink.write_rows(values[g * self.count:(g + 1) * self.count], row_off)


class BandSink:
    """Writes rows into some (1-based) bands of a writer that has more (e.g. one sharpening pass of a
    13-band Sentinel-2 output)."""

    def __init__(self, writer: object, indexes: Sequence[int]) -> None:
        self.writer = writer
        self.indexes = list(indexes)
        self.block_rows = int(writer.block_rows)  # type: ignore[attr-defined]

    def write_rows(self, values: np.ndarray, row_off: int) -> None:
        self.writer.write_rows(values, row_off, indexes=self.indexes)  # type: ignore[attr-defined]
