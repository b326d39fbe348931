"""Networks as row streams (``satsr.models.layers.row_stream``), precision and activation-memory estimates."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import satsr.models.edsr as edsr_module
from satsr.errors import OptionError
from satsr.models.base import TorchUpscaler, peak_activation_bytes
from satsr.models.edsr import EDSR
from satsr.models.layers import (
    NotStreamableError,
    ResBlock,
    row_stream,
    run_row_stream,
    whole_maps,
)
from satsr.models.registry import create


def small_edsr(scale: int, **kw: object) -> EDSR:
    torch.manual_seed(scale)
    net = EDSR(scale, bands=3, n_blocks=3, feats=8, **kw).eval()
    with torch.no_grad():
        for p in net.parameters():  # a residual far from zero, so every layer matters
            p.normal_(0, 0.2)
    return net


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("rows", [3, 5, 64])
@pytest.mark.parametrize("kw", [{}, {"res_scale": 0.5}, {"normalize": "local"}])
def test_edsr_row_stream_equals_whole_maps(scale: int, rows: int, kw: dict, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Bands of any height (tiny ones too: a layer then waits for more rows) give the whole-map forward."""
    net = small_edsr(scale, **kw)
    x = torch.rand(2, 3, 29, 17)
    with torch.no_grad(), whole_maps():
        ref = net(x)
    monkeypatch.setattr(edsr_module, "stream_band", lambda width, feats=64: rows)
    calls: list[int] = []
    real = edsr_module.run_row_stream
    monkeypatch.setattr(edsr_module, "run_row_stream", lambda *a: calls.append(a[-1]) or real(*a))
    with torch.inference_mode():
        got = net(x)
    assert calls, "the row stream did not run"
    assert got.shape == ref.shape == (2, 3, 29 * scale, 17 * scale)
    assert torch.allclose(got, ref, atol=1e-5 * float(ref.abs().max()), rtol=0)
    # channels_last input, as TorchUpscaler runs it
    with torch.inference_mode():
        cl = net.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(cl, ref, atol=1e-5 * float(ref.abs().max()), rtol=0)


def test_generic_stream_of_sequential_layers() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 6, 5, padding=2), nn.Tanh(), ResBlock(6, 0.3), nn.Conv2d(6, 8, 3, padding=1),
                        nn.PixelShuffle(2), nn.LeakyReLU(0.1), nn.Conv2d(2, 2, 1)).eval()
    x = torch.rand(1, 2, 23, 11)
    with torch.no_grad():
        ref = net(x)
        for band in (1, 2, 7, 100):
            got = run_row_stream(row_stream(net), x, 2, band)
            assert torch.allclose(got, ref, atol=1e-6), band


def test_layers_that_are_not_row_local_are_refused() -> None:
    with pytest.raises(NotStreamableError):
        row_stream(nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.AdaptiveAvgPool2d(1)))
    with pytest.raises(NotStreamableError):
        row_stream(nn.Conv2d(2, 2, 3, stride=2, padding=1))


def test_training_and_whole_maps_do_not_stream(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    net = small_edsr(2)
    monkeypatch.setattr(edsr_module, "stream_band", lambda width, feats=64: 4)
    monkeypatch.setattr(edsr_module, "run_row_stream", lambda *a: pytest.fail("streamed"))
    x = torch.rand(1, 3, 20, 9)
    net(x).sum().backward()  # training: autograd needs the whole maps
    with torch.no_grad(), whole_maps():
        net(x)


def test_precision_choices() -> None:
    fp32 = create("edsr", 2)
    assert fp32.precision == "fp32"  # auto on a CPU
    bf16 = create("edsr", 2, precision="bf16")
    assert bf16.precision == "bf16"
    x = np.random.default_rng(0).random((3, 24, 20)).astype(np.float32)
    a, b = fp32(x), bf16(x)
    assert not np.array_equal(a, b)  # autocast really ran in bf16
    assert np.abs(a - b).max() < 0.02 and np.abs(a - b).mean() < 2e-3  # model units (0..1 images)
    with pytest.raises(OptionError, match="fp16 needs --device cuda"):
        create("edsr", 2, precision="fp16")
    with pytest.raises(OptionError, match="--precision"):
        create("edsr", 2, precision="int8")


@pytest.mark.parametrize("name,scale,h,w", [("edsr", 4, 40, 52), ("edsr", 2, 70, 16), ("espcn", 4, 30, 30)])
def test_memory_estimate_bounds_the_measured_peak(name: str, scale: int, h: int, w: int, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """``memory_bytes`` (what --max-memory divides into tiles) covers a forward's measured activation peak,
    without overstating it more than twice; streamed (small bands forced) and on whole maps."""
    model = create(name, scale)
    assert isinstance(model, TorchUpscaler)
    monkeypatch.setattr(edsr_module, "stream_band", lambda width, feats=64: 8)
    x = torch.rand(1, 3, h, w)
    for streams in (True, False):
        with torch.inference_mode():
            if streams:
                peak = peak_activation_bytes(lambda: model.forward(x))
                est = model.memory_bytes(3, h, w)
            else:
                with whole_maps():
                    peak = peak_activation_bytes(lambda: model.forward(x))
                    est = model.memory_bytes(3, h, w)
        assert peak <= est <= 2 * peak + (1 << 20), (streams, peak, est)
