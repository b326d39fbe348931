"""Tiling: full coverage, partition-of-unity blending, tiled == whole, nodata, skipped tiles, memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from scipy import ndimage

import satsr
from helpers import smooth_image
from satsr.models import registry
from satsr.models.base import TorchUpscaler, Upscaler
from satsr.tiling import ArraySink, ArraySource, axis_spans, feather_weights, plan_tiles, run_tiled


@pytest.mark.parametrize("n,tile,overlap", [(100, 32, 8), (64, 64, 16), (65, 64, 16), (7, 64, 16),
                                            (173, 64, 16), (10, 3, 2), (50, 10, 0)])
def test_axis_spans_cover_everything(n: int, tile: int, overlap: int) -> None:
    spans = axis_spans(n, tile, overlap)
    covered = np.zeros(n, int)
    for a, b in spans:
        assert 0 <= a < b <= n and b - a == min(tile, n)
        covered[a:b] += 1
    assert covered.min() >= 1 and spans[0][0] == 0 and spans[-1][1] == n
    for (_, b0), (a1, _) in zip(spans, spans[1:], strict=False):
        assert b0 - a1 >= overlap  # neighbours share at least the overlap


def test_axis_spans_reject_bad_sizes() -> None:
    for tile, overlap in [(0, 0), (8, 8), (8, -1)]:
        with pytest.raises(ValueError):
            axis_spans(100, tile, overlap)


@pytest.mark.parametrize("n,tile,overlap,scale", [(100, 32, 8, 2), (173, 64, 16, 3), (20, 8, 6, 4)])
def test_feather_weights_are_a_partition_of_unity(n: int, tile: int, overlap: int, scale: int) -> None:
    spans = axis_spans(n, tile, overlap)
    weights = feather_weights(spans, scale)
    total = np.zeros(n * scale)
    for w, (a, b) in zip(weights, spans, strict=True):
        assert w.shape == ((b - a) * scale,) and (w > 0).all()
        total[a * scale:b * scale] += w
    assert np.allclose(total, 1.0, atol=1e-6)
    if len(spans) > 1 and overlap:  # a real ramp: weight rises across the overlap
        assert weights[1][0] < weights[1][overlap * scale - 1]


def test_plan_context_is_max_of_margin_and_overlap() -> None:
    plan = plan_tiles(100, 80, tile=32, overlap=8, margin=38, scale=2)
    assert plan.context == 38 and plan.n_tiles == len(plan.rows) * len(plan.cols)
    assert plan.model_window((40, 72), (24, 56)) == (2, 100, 0, 80)
    assert plan_tiles(100, 80, tile=32, overlap=8, margin=3, scale=2).context == 8
    assert plan_tiles(10, 12, tile=None, overlap=5, margin=0, scale=2).n_tiles == 1


# ----------------------------------------------------------------------------- tiled == whole


@pytest.mark.parametrize("model", ["bicubic", "lanczos"])
@pytest.mark.parametrize("shape,tile,overlap,scale", [
    ((2, 150, 173), 64, 16, 2),  # not a multiple of the tile
    ((1, 61, 47), 64, 16, 3),  # smaller than one tile in one axis
    ((1, 45, 38), 8, 2, 4),  # tiny tiles, smaller than the context
])
def test_classical_tiled_equals_whole(model: str, shape: tuple[int, int, int], tile: int, overlap: int,
                                      scale: int) -> None:
    x = np.round(smooth_image(*shape, seed=3, lo=0, hi=65535, noise=0.2)).astype(np.uint16)
    whole = satsr.upscale(x, scale=scale, model=model, tile=None)
    tiled = satsr.upscale(x, scale=scale, model=model, tile=tile, overlap=overlap)
    assert tiled.shape == whole.shape == (shape[0], shape[1] * scale, shape[2] * scale)
    assert tiled.dtype == np.uint16
    assert np.abs(tiled.astype(int) - whole.astype(int)).max() <= 1
    # The single-tile run is the plain model applied to the whole image, rounded.
    direct = registry.create(model, scale)(x.astype(np.float32))
    assert np.abs(whole.astype(float) - np.clip(np.rint(direct), 0, 65535)).max() <= 1


def test_tiled_equals_whole_with_nodata(shared_data: Path) -> None:
    """Real scene with a nodata border: the fill sees the same neighbours tiled or not."""
    with rasterio.open(shared_data / "misc" / "RGB.byte.tif") as ds:
        x = ds.read(window=((200, 420), (0, 260)))  # crosses the nodata edge
    whole = satsr.upscale(x, scale=2, model="bicubic", tile=None, nodata=0)
    tiled = satsr.upscale(x, scale=2, model="bicubic", tile=64, overlap=16, nodata=0)
    assert np.array_equal(whole == 0, tiled == 0)
    assert np.abs(tiled.astype(int) - whole.astype(int)).max() <= 1


def _array_run(x: np.ndarray, upscaler: object, tile: int | None, overlap: int) -> np.ndarray:
    src = ArraySource(x)
    sink = ArraySink(x.shape[0], x.shape[1] * 2, x.shape[2] * 2)
    run_tiled(src, upscaler, sink, tile=tile, overlap=overlap)
    return sink.values


def test_edsr_random_init_tiled_matches_untiled() -> None:
    """EDSR (margin 38 LR px): tiles computed with that much real context match the whole image."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    up = registry.create("edsr", 2, pretrained=False)
    assert up.margin >= 36  # head + 16 blocks x 2 + body end + upsampler + tail convs
    x = smooth_image(3, 16, 120, seed=5, lo=0, hi=1).astype(np.float32)
    whole = up(x)
    tiled = _array_run(x, up, tile=32, overlap=8)  # interior tiles see real context on both sides
    assert np.abs(tiled - whole).max() < 1e-3
    assert np.abs(whole).max() > 0.1  # not trivially zero


def test_small_edsr_tiled_matches_on_a_2d_grid_and_context_matters() -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    spec = registry.get_spec("edsr")
    net = registry.build_net("edsr", 2, bands=1, n_blocks=2, feats=16)
    margin = spec.margin_for(n_blocks=2)
    up = TorchUpscaler(net, name="edsr-small", scale=2, margin=margin, bands=(1,))
    x = smooth_image(1, 90, 100, seed=6, lo=0, hi=1).astype(np.float32)
    whole = up(x)
    assert np.abs(_array_run(x, up, tile=24, overlap=4) - whole).max() < 1e-3
    # With too little context (a declared margin of 1) the seams show: the test has teeth.
    short = TorchUpscaler(net, name="edsr-small", scale=2, margin=1, bands=(1,))
    assert np.abs(_array_run(x, short, tile=24, overlap=0) - whole).max() > 1e-3


# ----------------------------------------------------------------------------- nodata


class CountingNearest(Upscaler):
    """Pixel replication that records the input shape of every call."""

    def __init__(self, scale: int = 2) -> None:
        self.scale = scale
        self.name = "counting"
        self.margin = 1
        self.calls: list[tuple[int, ...]] = []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.calls.append(tuple(x.shape))
        return np.repeat(np.repeat(x, self.scale, -2), self.scale, -1)


def test_all_nodata_tile_is_skipped_and_written_as_nodata() -> None:
    x = np.full((2, 96, 64), 500, dtype=np.uint16)
    x[:, :32, :32] = 0  # exactly the top-left tile is nodata in every band
    x[0, 40, 40] = 0  # a single nodata pixel in one band only
    up = CountingNearest()
    out = satsr.upscale(x, scale=2, model=up, tile=32, overlap=0, nodata=0)
    assert len(up.calls) == 3 * 2 - 1  # 6 tiles, the nodata one never computed
    assert (out[:, :64, :64] == 0).all()
    assert (out[0, 80:82, 80:82] == 0).all() and (out[1, 80:82, 80:82] == 500).all()
    valid = np.ones_like(out, bool)
    valid[:, :64, :64] = False
    valid[0, 80:82, 80:82] = False
    assert (out[valid] == 500).all()


def test_nodata_does_not_bleed_into_valid_pixels() -> None:
    x = np.full((1, 40, 40), 1000.0, dtype=np.float32)
    x[:, :, :15] = -9999.0
    for model in ("bicubic", "lanczos"):
        out = satsr.upscale(x, scale=3, model=model, tile=16, overlap=4, nodata=-9999.0)
        assert (out[:, :, :45] == -9999.0).all()
        assert np.allclose(out[:, :, 45:], 1000.0, atol=1e-3)  # no pull towards -9999 at the edge


def test_nan_is_nodata_in_float_input() -> None:
    x = smooth_image(1, 30, 30, seed=2).astype(np.float32)
    x[0, 10:14, 5:9] = np.nan
    out = satsr.upscale(x, scale=2, model="bicubic", tile=16, overlap=4)
    assert np.array_equal(np.isnan(out[0]), np.repeat(np.repeat(np.isnan(x[0]), 2, 0), 2, 1))


def test_rgb_byte_x3_nodata_criterion(shared_data: Path) -> None:
    """Per band: output nodata == input nodata upscaled by nearest; the edge stays unbiased."""
    with rasterio.open(shared_data / "misc" / "RGB.byte.tif") as ds:
        x = ds.read()
    out = satsr.upscale(x, scale=3, model="bicubic", nodata=0, tile=256, overlap=16)
    nearest = np.repeat(np.repeat(x, 3, 1), 3, 2).astype(np.float64)

    def edge_bias(result: np.ndarray, b: int) -> float:
        invalid = nearest[b] == 0
        near_edge = ndimage.binary_dilation(invalid, iterations=2) & ~invalid  # within 2 px
        assert near_edge.sum() > 1000
        o, n = result[near_edge].astype(np.float64), nearest[b][near_edge]
        return abs(o.mean() - n.mean()) / n.mean()

    for b in range(3):
        assert np.array_equal(out[b] == 0, nearest[b] == 0)
        assert edge_bias(out[b], b) < 0.03
    # Teeth: bicubic run straight over the nodata zeros darkens the edge by far more than 3 %.
    naive = registry.create("bicubic", 3)(x[:1].astype(np.float32))[0]
    assert edge_bias(naive, 0) > 0.10


# ----------------------------------------------------------------------------- streaming


class RecordingSink(ArraySink):
    block_rows = 16

    def __init__(self, *args: int) -> None:
        super().__init__(*args)
        self.writes: list[tuple[int, int]] = []

    def write_rows(self, values: np.ndarray, row_off: int) -> None:
        self.writes.append((row_off, values.shape[1]))
        super().write_rows(values, row_off)


def test_rows_are_streamed_in_order_and_in_whole_blocks() -> None:
    x = smooth_image(1, 200, 30, seed=4).astype(np.float32)
    sink = RecordingSink(1, 400, 60)
    run_tiled(ArraySource(x), registry.create("bicubic", 2), sink, tile=32, overlap=8)
    offsets = [o for o, _ in sink.writes]
    assert offsets[0] == 0 and len(sink.writes) > 5  # written strip by strip, not at the end
    for (o0, n0), (o1, _) in zip(sink.writes, sink.writes[1:], strict=False):
        assert o1 == o0 + n0 and o1 % 16 == 0
    assert sum(n for _, n in sink.writes) == 400
    assert np.allclose(sink.values, registry.create("bicubic", 2)(x), atol=1e-3)
