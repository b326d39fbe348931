"""The memory budget (``--max-memory`` -> ``tiling.choose_tile``), batched tiles and overlapped I/O."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

import satsr.tiling as tiling
from helpers import smooth_image
from satsr.api import upscale
from satsr.cli import main
from satsr.models import registry
from satsr.models.base import Upscaler
from satsr.tiling import ArraySink, ArraySource, choose_tile, plan_tiles, run_tiled, tile_bytes


class Costly(Upscaler):
    """A bicubic stand-in whose working memory is ``per_px`` bytes per output pixel and band."""

    def __init__(self, per_px: float, margin: int = 8) -> None:
        self.inner = registry.create("bicubic", 2)
        self.name, self.scale, self.margin, self.bytes_per_pixel = "costly", 2, margin, per_px

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.inner(x)


@pytest.fixture
def no_rss(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The budget counted from zero, so tile sizes do not depend on this process's memory."""
    monkeypatch.setattr(tiling, "process_rss", lambda: 0)


def test_choose_tile_takes_the_fewest_tiles_that_fit(no_rss) -> None:  # type: ignore[no-untyped-def]
    model = Costly(1000.0)

    def need(tile: int | None) -> int:
        plan = plan_tiles(600, 500, tile=tile, overlap=32, margin=8, scale=2)
        computing, blending, in_model = tile_bytes(plan, 2, model)
        return max(computing + in_model, blending)

    assert choose_tile(600, 500, 2, model, max_memory=need(None)) is None  # the whole image fits
    previous = None
    for share in (2, 3, 6):
        budget = need(None) // share
        tile = choose_tile(600, 500, 2, model, max_memory=budget)
        assert tile is not None and need(tile) <= budget
        spans = len(plan_tiles(600, 500, tile=tile, overlap=32, margin=8, scale=2).rows)
        fewer = -(-(600 + (spans - 2) * 32) // (spans - 1))  # the smallest tile with one span fewer
        assert spans == 2 and need(None) > budget or need(fewer) > budget
        assert previous is None or tile <= previous  # a smaller budget never gives larger tiles
        previous = tile
    assert choose_tile(600, 500, 2, model, max_memory=1.0) == 80  # the floor: 2 x overlap + 16


def test_auto_tile_equals_explicit_tiles_and_whole(no_rss) -> None:  # type: ignore[no-untyped-def]
    x = smooth_image(2, 90, 70, seed=3).astype(np.float32)
    model = Costly(2000.0)
    whole = upscale(x, scale=2, model=model, tile=None)
    budget = 3e7
    tile = choose_tile(90, 70, 2, model, max_memory=budget)
    assert tile is not None and tile < 90
    auto = upscale(x, scale=2, model=model, max_memory=budget)
    assert np.array_equal(auto, upscale(x, scale=2, model=model, tile=tile))
    assert np.allclose(auto, whole, atol=1e-3)
    # an explicit tile wins over the budget
    assert np.array_equal(upscale(x, scale=2, model=model, tile=40, max_memory=1.0),
                          upscale(x, scale=2, model=model, tile=40))


def test_batched_tiles_equal_one_at_a_time() -> None:
    """The GPU path's batching (several same-shaped tiles per forward) run on the CPU gives the unbatched
    result; so does reading and writing on the main thread."""
    model = registry.create("espcn", 2, pretrained=False)
    x = (smooth_image(3, 70, 130, seed=5) / 16).astype(np.float32)
    runs = {}
    for batch, io in ((1, True), (3, True), (8, False)):
        sink = ArraySink(3, 140, 260)
        calls: list[int] = []
        real = model.forward
        model.forward = lambda t, real=real, calls=calls: calls.append(t.shape[0]) or real(t)  # type: ignore[method-assign]
        run_tiled(ArraySource(x), model, sink, tile=32, overlap=8, batch=batch, overlap_io=io)
        del model.forward
        runs[batch] = sink.values
        assert max(calls) == min(batch, 3)  # three interior tiles a row share a shape
    assert np.allclose(runs[1], runs[3], atol=1e-4) and np.allclose(runs[1], runs[8], atol=1e-4)


def test_overlapped_io_writes_the_same_file(make_geotiff, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    data = np.round(smooth_image(2, 300, 260, seed=1, hi=60000)).astype(np.uint16)
    data[:, 40:90, 30:70] = 0
    src = make_geotiff("in.tif", data, nodata=0, tiled=True, blockxsize=64, blockysize=64)
    outs = []
    for io in (True, False):
        real = tiling.run_tiled
        monkeypatch.setattr("satsr.api.run_tiled", lambda *a, io=io, real=real, **k: real(*a, overlap_io=io, **k))
        out = tmp_path / f"out_{io}.tif"
        upscale(src, scale=2, model="bicubic", out=out, tile=96, overlap=16)
        with rasterio.open(out) as ds:
            outs.append(ds.read())
    assert np.array_equal(outs[0], outs[1])
    assert (outs[0][:, 80:180, 60:140] == 0).all()  # the nodata hole, upscaled


def test_a_failing_write_stops_the_run_and_raises(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    class Broken(ArraySink):
        def write_rows(self, values: np.ndarray, row_off: int) -> None:
            if row_off > 0:
                raise OSError("disk full")
            super().write_rows(values, row_off)

    sink = Broken(1, 200, 200)
    sink.block_rows = 16  # type: ignore[misc]
    with pytest.raises(OSError, match="disk full"):
        run_tiled(ArraySource(np.ones((1, 100, 100), np.float32)), registry.create("bicubic", 2), sink,
                  tile=32, overlap=4)


@pytest.mark.parametrize("value,problem", [("lots", "give a size"), ("-1GB", "give a size"), ("3XB", "give a size")])
def test_bad_max_memory_is_one_line(value: str, problem: str, make_geotiff, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    src = make_geotiff("in.tif", np.ones((1, 20, 20), np.uint8))
    with pytest.raises(SystemExit) as exc:
        main(["upscale", str(src), str(tmp_path / "o.tif"), "--scale", "2", "--max-memory", value, "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1
    assert err[0].startswith("satsr: error: --max-memory") and problem in err[0]


def test_max_memory_and_tile_options_reach_the_engine(make_geotiff, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    src = make_geotiff("in.tif", np.round(smooth_image(1, 120, 100, seed=2)).astype(np.uint16))
    seen: list[int | None] = []
    real = tiling.run_tiled
    monkeypatch.setattr("satsr.api.run_tiled", lambda *a, **k: seen.append(k["tile"]) or real(*a, **k))
    main(["upscale", str(src), str(tmp_path / "a.tif"), "-s", "2", "-q"])  # 1.5 GB: one tile
    main(["upscale", str(src), str(tmp_path / "b.tif"), "-s", "2", "-q", "--tile", "48"])
    monkeypatch.setattr(tiling, "process_rss", lambda: 0)
    main(["upscale", str(src), str(tmp_path / "c.tif"), "-s", "2", "-q", "--max-memory", "500KB"])
    assert seen[0] is None and seen[1] == 48 and seen[2] is not None and seen[2] < 120
    files = []
    for n in "abc":
        with rasterio.open(tmp_path / f"{n}.tif") as ds:
            files.append(ds.read().astype(int))
    # tiles agree with the whole image up to float rounding of the blend: at most 1 DN after rounding
    assert np.abs(files[0] - files[1]).max() <= 1 and np.abs(files[0] - files[2]).max() <= 1


@pytest.mark.parametrize("kernel", ["nearest", "bicubic", "lanczos"])
@pytest.mark.parametrize("scale", [2, 4, 2.5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_classical_memory_estimate_bounds_the_measured_peak(kernel: str, scale: float, dtype: type) -> None:
    """``memory_bytes`` of the classical kernels (what ``--max-memory`` divides) covers the peak numpy
    allocates in a call (``tracemalloc``), the output included, without overstating it more than 5 times."""
    import tracemalloc

    model = registry.create(kernel, scale)
    x = np.random.default_rng(0).random((2, 90, 70)).astype(dtype)
    tracemalloc.start()
    try:
        y = model.apply(x, None, dtype)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    est = model.memory_bytes(2, 90, 70)
    assert y.shape[0] == 2 and peak <= est <= 5 * peak, (peak, est)


def test_ample_tile_stops_tiles_growing(no_rss) -> None:  # type: ignore[no-untyped-def]
    """A classical kernel on a scene that needs tiling gets tiles of ``ample_tile`` px, not the largest the
    budget allows; a scene that fits whole still runs whole; a tight budget still gives smaller tiles."""
    model = registry.create("bicubic", 2)
    assert model.ample_tile == 768
    big = choose_tile(10000, 10000, 1, model, max_memory=1.5e9)
    assert big == 768
    model.ample_tile = None  # type: ignore[misc]
    uncapped = choose_tile(10000, 10000, 1, model, max_memory=1.5e9)
    assert uncapped is not None and uncapped > 768
    del model.ample_tile
    assert choose_tile(1000, 900, 1, model, max_memory=1.5e9) is None
    tight = choose_tile(10000, 10000, 1, model, max_memory=3e8)
    assert tight is not None and tight < 768
    # the capped tiles give the whole image's result (the kernel's margin is exact)
    x = smooth_image(1, 300, 260, seed=4).astype(np.float32)
    assert np.allclose(upscale(x, scale=2, model=model, tile=96), upscale(x, scale=2, model=model, tile=None),
                       atol=1e-3)


class SlowSink(ArraySink):
    """An ``ArraySink`` whose writes take a while, so the engine's next strips run while one is pending."""

    def write_rows(self, values: np.ndarray, row_off: int) -> None:
        import time

        time.sleep(0.01)
        super().write_rows(values.copy(), row_off)


@pytest.mark.parametrize("block_rows", [1, 16, 100, 1000])
def test_reused_output_buffers_wait_for_pending_writes(block_rows: int) -> None:
    """The engine's two output buffers are reused strip after strip; a buffer is only overwritten once the
    write reading it is done, whether every strip flushes rows or several strips pass without a flush."""
    x = smooth_image(2, 200, 90, seed=6).astype(np.float32)
    model = registry.create("bicubic", 2)
    runs = []
    for io in (True, False):
        sink = SlowSink(2, 400, 180)
        sink.block_rows = block_rows  # type: ignore[misc]
        run_tiled(ArraySource(x), model, sink, tile=32, overlap=8, overlap_io=io)
        runs.append(sink.values)
    whole = ArraySink(2, 400, 180)
    run_tiled(ArraySource(x), model, whole, tile=None)
    assert not np.isnan(runs[0]).any()
    assert np.array_equal(runs[0], runs[1]) and np.allclose(runs[0], whole.values, atol=1e-3)


def test_chunked_cast_writes_the_same_file(make_geotiff, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The writer casts a few rows at a time (``_cast_rows``): the same pixels as one cast of the whole
    block, nodata, clipping and the nudge of values that would equal nodata included."""
    import satsr.io.raster as raster

    data = np.round(smooth_image(2, 120, 90, seed=8, hi=255)).astype(np.uint8)
    data[:, 10:30, 20:40] = 7
    src = make_geotiff("in.tif", data, nodata=7)
    outs = []
    for chunk in (1 << 30, 13):
        monkeypatch.setattr(raster, "_CAST_CHUNK", chunk)
        out = tmp_path / f"out_{chunk}.tif"
        upscale(src, scale=2, model="lanczos", out=out, tile=None)
        with rasterio.open(out) as ds:
            outs.append(ds.read())
    assert np.array_equal(outs[0], outs[1])
    assert (outs[0][:, 20:60, 40:80] == 7).all() and (outs[0] == 7).sum() == 2 * 40 * 40
