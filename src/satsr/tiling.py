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

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
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


# ----------------------------------------------------------------------------- the memory budget

DEFAULT_MAX_MEMORY = 1.5e9  # bytes: ``--max-memory``'s default


def process_rss() -> int:
    """This process's resident memory in bytes now (Linux ``/proc``; elsewhere its peak so far, or 0)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    except (ImportError, OSError):
        return 0


def tile_bytes(plan: TilePlan, count: int, model: Any, *, groups: int = 1, block_rows: int = 512,
               batch: int = 1, itemsize: int = 4) -> tuple[int, int, int]:
    """Peak bytes a run of ``plan`` needs beyond what the process holds already, as
    ``(while the model runs, while tiles are blended and written, the model's own)``: input strips (one
    read ahead; raw, working copy and validity), the model's input windows, output row buffers (one
    accumulating, one being written), the tiles' outputs,
    one block row being cast for writing; and the largest window's model memory (``model.memory_bytes``,
    times ``batch`` windows), which holds its own output."""
    rows = max(b - a for a, b in plan.rows)
    cols = max(b - a for a, b in plan.cols)
    ctx = plan.context
    wh, ww = min(plan.height, rows + 2 * ctx), min(plan.width, cols + 2 * ctx)
    out_w = plan.out(plan.width)
    many = len(plan.rows) > 1
    strip_rows = min(plan.height, rows + 2 * (ctx + plan.margin))
    strips = (2 if many else 1) * count * strip_rows * plan.width * (2 * itemsize + 1)
    buffer = count * groups * (plan.out(rows) + (block_rows if many else 0)) * out_w * itemsize
    windows = batch * count * wh * ww * itemsize
    outputs = batch * count * groups * plan.out(rows) * plan.out(cols) * itemsize
    cast = count * groups * block_rows * out_w * (itemsize + 2)
    computing = strips + windows + (buffer + cast if many else 0)  # the previous strip may be being written
    blending = strips + (2 if many else 1) * buffer + outputs + cast
    return computing, blending, batch * int(model.memory_bytes(count, wh, ww))


def choose_tile(height: int, width: int, count: int, model: Any, *, max_memory: float, overlap: int = 32,
                block_rows: int = 512, batch: int = 1, itemsize: int = 4,
                device_memory: float | None = None) -> int | None:
    """The tile size ``--max-memory`` allows: the fewest tiles (None: the whole image in one) whose run fits
    in ``max_memory`` bytes of this process's resident memory, counted from what it holds now
    (``process_rss``), by ``tile_bytes``. A model on another device (a GPU) is held to ``device_memory``
    instead (the host then holds the tiles' outputs only). Fewest tiles, because each carries ``context`` px
    of the model's margin on every side that is computed twice; with k tiles a side the tile is the smallest
    that covers the image in k spans. A model whose context is cheap next to its tile (the classical
    kernels) may say from which size larger tiles gain nothing (``ample_tile``, input px): when the image
    needs tiling anyway, tiles stop there and the run holds less memory. At least 64 px, or the margin's
    context, however small the budget."""
    scale = as_scale(model.scale)
    margin = int(model.margin)
    unit = unit_of(scale)
    free = max_memory - process_rss()
    side = max(height, width)
    floor = round_up(max(64, 2 * overlap + 16, 2 * margin), unit)
    ample = getattr(model, "ample_tile", None)
    tile = None
    for k in range(1, side + 1):
        tile = None if k == 1 else round_up(-(-(side + (k - 1) * overlap) // k), unit)
        if tile is not None and tile < floor:
            return floor
        plan = plan_tiles(height, width, tile=tile, overlap=overlap, margin=margin, scale=scale)
        computing, blending, in_model = tile_bytes(plan, count, model, groups=max(1, int(model.output_groups)),
                                                   block_rows=block_rows, batch=batch, itemsize=itemsize)
        if device_memory is None:
            fits = max(computing + in_model, blending) <= free
        else:
            fits = max(computing, blending) <= free and in_model <= device_memory
        if fits:
            if tile is not None and ample is not None and tile > ample:
                return max(floor, round_up(int(ample), unit))  # smaller tiles need less: it fits too
            return tile
    return tile


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


def _ramp_ends(weights: np.ndarray) -> tuple[int, int]:
    """``(a, b)``: a span's blending weights are exactly 1 on ``[a, b)`` (only the ramps need multiplying)."""
    ramp = np.flatnonzero(weights != 1)
    n = len(weights)
    head = ramp[ramp < n // 2]
    tail = ramp[ramp >= n // 2]
    return (int(head.max()) + 1 if head.size else 0), (int(tail.min()) if tail.size else n)


def _blend_into(target: np.ndarray, y: np.ndarray, wr: np.ndarray, wc: np.ndarray) -> None:
    """``target += y * wr[:, None] * wc[None, :]``, multiplying only the ramps (weights are 1 elsewhere);
    ``y`` is scaled in place."""
    a, b = _ramp_ends(wr)
    c, d = _ramp_ends(wc)
    if a:
        y[:, :a] *= wr[:a, None]
    if b < len(wr):
        y[:, b:] *= wr[b:, None]
    if c:
        y[:, :, :c] *= wc[:c]
    if d < len(wc):
        y[:, :, d:] *= wc[d:]
    target += y


@dataclass
class _TileJob:
    """One tile to compute: its place in the plan and its filled model input window."""

    ci: int
    r: tuple[int, int]
    c: tuple[int, int]
    core: Strip
    win: Strip
    out_hw: tuple[int, int]
    origin: tuple[int, int]  # output index of the window's first row and column


def _tile_job(plan: TilePlan, strip: Strip, ci: int, r: tuple[int, int], c: tuple[int, int]) -> _TileJob:
    """The model input of one tile: tile + context (clipped), its invalid pixels filled from a window
    ``margin`` px larger so the fill sees the same neighbours as a whole-image fill."""
    m0, m1, mc0, mc1 = plan.model_window(r, c)
    f0, f1, fc0, fc1 = plan.model_window(r, c, extra=plan.margin)
    filled = strip.window(f0, f1, fc0, fc1).filled()
    win = filled.window(m0, m1, mc0, mc1)
    # the window starts on a whole output pixel; it covers output pixels up to out(m1)
    out_hw = (plan.out(m1) - plan.out(m0), plan.out(mc1) - plan.out(mc0))
    return _TileJob(ci, r, c, strip.window(r[0], r[1], c[0], c[1]), win, out_hw, (plan.out(m0), plan.out(mc0)))


def _run_jobs(plan: TilePlan, jobs: list[_TileJob], model: TileModel, groups: int) -> list[np.ndarray]:
    """Model outputs of ``jobs`` (work dtype, each cropped to its tile, writable), windows of one shape
    batched into one call (``tile_outputs``) when the model has it."""
    fractional = not isinstance(plan.scale, int)
    batched = getattr(model, "tile_outputs", None)
    if batched is not None and len(jobs) > 1:
        ys = batched([j.win.data for j in jobs], [j.win.valid for j in jobs], [j.win.guide for j in jobs],
                     jobs[0].out_hw if fractional else None)
    else:
        ys = [model.tile_output(j.win.data, j.win.valid, j.win.guide, j.out_hw if fractional else None)
              for j in jobs]
    out = []
    for j, y in zip(jobs, ys, strict=True):
        y = np.asarray(y, dtype=j.win.data.dtype)
        expected = (j.win.data.shape[0] * groups, *j.out_hw)
        if y.shape != expected:
            raise RuntimeError(f"{model.name} returned shape {y.shape}, expected {expected}")
        o0, oc0 = j.origin
        crop = y[:, plan.out(j.r[0]) - o0:plan.out(j.r[1]) - o0, plan.out(j.c[0]) - oc0:plan.out(j.c[1]) - oc0]
        if not crop.flags.writeable or np.may_share_memory(crop, j.win.data):
            crop = crop.copy()
        out.append(crop)
    return out


def _batches(jobs: list[_TileJob], batch: int) -> list[list[_TileJob]]:
    """Consecutive jobs whose windows have one shape, at most ``batch`` per group."""
    groups: list[list[_TileJob]] = []
    for job in jobs:
        if groups and len(groups[-1]) < batch and groups[-1][0].win.data.shape == job.win.data.shape \
                and groups[-1][0].out_hw == job.out_hw:
            groups[-1].append(job)
        else:
            groups.append([job])
    return groups


def run_tiled(source: TileSource, model: TileModel, sink: TileSink, *, tile: int | None = 512,
              overlap: int = 32, quiet: bool = True, label: str = "upscaling", batch: int = 1,
              overlap_io: bool = True) -> TileStats:
    """Run ``model`` over everything ``source`` provides and stream the result to ``sink``.

    Per tile: read tile + context (+ ``margin`` more so the nearest-valid fill sees the same
    neighbours as a whole-image fill), fill invalid pixels (of the guide too, for a ``GuidedSource``),
    run the model in data units (``tile_output``: the contract's ``apply``), crop to the tile, put NaN
    where the input was invalid (per band; for guided sources also where any guide band is), blend. A
    tile whose pixels are all invalid is not computed. The sink receives float32 rows with NaN for
    nodata, in order, in multiples of its ``block_rows`` (except the last write); a model with
    ``output_groups = k`` yields ``k * C`` bands (e.g. the image and its trust maps).

    ``batch`` > 1 hands up to that many same-shaped tiles of a row to the model at once (its
    ``tile_outputs``: one forward on a GPU). With ``overlap_io`` the next strip is read and the finished
    rows are written on two helper threads while tiles compute (GDAL decodes and compresses without the
    GIL); the source and the sink are each used by one thread at a time, and every write has finished
    when this returns or raises.
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
    # two output buffers used in turn (one accumulating, the other's rows being written): fresh pages cost a
    # page fault each when first touched, several times the blend itself, so they are allocated once
    pool: list[np.ndarray | None] = [None, None]

    def strip_rows(ri: int) -> tuple[int, int]:
        # one strip of input: every row any tile of this row may read, full width
        s0, s1, _, _ = plan.model_window(plan.rows[ri], (0, W), extra=margin)
        return s0, s1

    io = _IOThreads(overlap_io)
    try:
        pending = io.read(read_strip, source, *strip_rows(0))
        for ri, (r0, r1) in enumerate(plan.rows):
            strip = pending.result()
            if ri + 1 < len(plan.rows):
                pending = io.read(read_strip, source, *strip_rows(ri + 1))
            # the other buffer of the pool (the previous one may still be being written), holding the rows
            # carried over, the rest zeroed
            need = max(plan.out(r1) - buf_row0, buf.shape[1])
            spare = pool[ri % 2]
            if spare is None or spare.shape[1] < need:
                spare = pool[ri % 2] = np.zeros((C_out, need, out_w), dtype=work)
            else:
                io.release(spare)
            grown = spare[:, :need]
            carry = buf.shape[1]
            grown[:, :carry] = buf
            grown[:, carry:] = 0
            buf = grown
            jobs = []
            for ci, (c0, c1) in enumerate(plan.cols):
                core = strip.window(r0, r1, c0, c1)
                if not core.valid.any():
                    buf[:, plan.out(r0) - buf_row0:plan.out(r1) - buf_row0, plan.out(c0):plan.out(c1)] = np.nan
                    stats.skipped += 1
                    advance()
                    continue
                jobs.append(_tile_job(plan, strip, ci, (r0, r1), (c0, c1)))
            for group in _batches(jobs, max(1, batch)):
                for job, y in zip(group, _run_jobs(plan, group, model, groups), strict=True):
                    (c0, c1), core = job.c, job.core
                    target = buf[:, plan.out(r0) - buf_row0:plan.out(r1) - buf_row0, plan.out(c0):plan.out(c1)]
                    guide_ok = core.guide_valid is None or bool(core.guide_valid.all())
                    if not (guide_ok and core.valid.all()):
                        out_valid = upscale_mask(core.valid, scale, target.shape[-2:])
                        if core.guide_valid is not None:
                            out_valid = out_valid & core.guide_valid.all(0)
                        y[~np.tile(out_valid, (groups, 1, 1))] = np.nan
                    _blend_into(target, y, wrow[ri], wcol[job.ci])
                    stats.computed += 1
                    advance()
            last = ri + 1 == len(plan.rows)
            final = plan.out(H) if last else plan.out(plan.rows[ri + 1][0])
            flush_to = final if last else (final // block_rows) * block_rows
            if flush_to > buf_row0:
                n = flush_to - buf_row0
                io.write(sink, buf[:, :n], buf_row0)
                buf = buf[:, n:]
                buf_row0 = flush_to
        io.finish()
    finally:
        io.close()
        close()
    stats.seconds = time.perf_counter() - t_start
    return stats


def _write_blocks(sink: TileSink, values: np.ndarray, row_off: int) -> None:
    step = max(1, int(sink.block_rows))
    for r in range(0, values.shape[1], step):
        sink.write_rows(values[:, r:r + step], row_off + r)


class _IOThreads:
    """The reading and writing helpers of ``run_tiled``: one thread each (so the source and the sink are
    each used by one thread at a time, writes stay in order), at most one read ahead and one write
    pending. Without ``enabled`` everything runs inline."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.reader: ThreadPoolExecutor | None = None
        self.writer: ThreadPoolExecutor | None = None
        self.pending_write: Future[None] | None = None
        self.pending_buffer: np.ndarray | None = None  # what the pending write reads
        if enabled:
            self.reader = ThreadPoolExecutor(1, thread_name_prefix="satsr-read")
            self.writer = ThreadPoolExecutor(1, thread_name_prefix="satsr-write")

    def read(self, fn: Callable[..., Strip], *args: Any) -> Future[Strip]:
        if self.reader is None:
            done: Future[Strip] = Future()
            done.set_result(fn(*args))
            return done
        return self.reader.submit(fn, *args)

    def write(self, sink: TileSink, values: np.ndarray, row_off: int) -> None:
        """``sink.write_rows`` of ``values`` a block row at a time (the sink's casts then work on one block
        row, not a whole strip)."""
        if self.writer is None:
            _write_blocks(sink, values, row_off)
            return
        if self.pending_write is not None:
            self.pending_write.result()  # raises the previous write's error here
        self.pending_write = self.writer.submit(_write_blocks, sink, values, row_off)
        self.pending_buffer = values

    def release(self, buffer: np.ndarray | None) -> None:
        """Wait until the pending write no longer reads ``buffer`` (it is about to be reused)."""
        if buffer is not None and self.pending_buffer is not None and np.may_share_memory(buffer,
                                                                                          self.pending_buffer):
            self.finish()

    def finish(self) -> None:
        """Wait for the last write (its error, if any, is raised here)."""
        if self.pending_write is not None:
            self.pending_write.result()
            self.pending_write = None
            self.pending_buffer = None

    def close(self) -> None:
        """Stop both threads; a write under way finishes first (the sink may be closed afterwards)."""
        for pool in (self.reader, self.writer):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)


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
