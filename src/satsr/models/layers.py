"""Building blocks shared by the neural families (torch only; no satsr imports above models/)."""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def conv3x3(cin: int, cout: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1, bias=bias)


class PixelShuffleUpsampler(nn.Sequential):
    """Sub-pixel convolution upsampling (ESPCN/EDSR): x2^n as repeated x2 stages, x3 in one stage."""

    def __init__(self, scale: int, feats: int) -> None:
        layers: list[nn.Module] = []
        if scale & (scale - 1) == 0:  # power of two
            for _ in range(int(math.log2(scale))):
                layers += [conv3x3(feats, 4 * feats), nn.PixelShuffle(2)]
        elif scale in (3, 5, 6, 7):
            layers += [conv3x3(feats, scale * scale * feats), nn.PixelShuffle(scale)]
        else:
            raise ValueError(f"pixel-shuffle upsampler does not support scale {scale}")
        super().__init__(*layers)


def upsampler_margin(scale: int) -> int:
    """Context (input px) consumed by ``PixelShuffleUpsampler`` plus a final HR conv, rounded up."""
    return 2


def bicubic_up(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic upsampling used as a global residual path (torch's a=-0.75 kernel, edge-clamped)."""
    return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)


def add_bicubic(residual: torch.Tensor, lr: torch.Tensor, scale: int) -> torch.Tensor:
    """``residual + bicubic(lr)`` computed in fp32 even under bf16 autocast.

    The bicubic path carries most of the signal; in bf16 it would be quantised to ~1/256 of its
    value (about 1 DN of 8-bit data), which caps attainable PSNR and blurs the training signal.
    """
    with torch.autocast(lr.device.type, enabled=False):
        up = bicubic_up(lr.float(), scale)
        if torch.is_grad_enabled():
            return residual.float() + up
        return residual.float().add_(up)  # inference: one output-sized map less, in the residual's layout


def damp_last_conv(module: nn.Module, factor: float = 0.1) -> None:
    """Scale down the last conv of ``module`` so a residual network starts near its skip path."""
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        convs[-1].weight.mul_(factor)
        if convs[-1].bias is not None:
            convs[-1].bias.zero_()


class ResBlock(nn.Module):
    """EDSR residual block: conv-ReLU-conv, scaled, added to the input (no batch norm)."""

    def __init__(self, feats: int, res_scale: float = 1.0) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3x3(feats, feats), nn.ReLU(inplace=True), conv3x3(feats, feats))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


def gaussian_taps(sigma: float) -> torch.Tensor:
    """Normalised 1-D Gaussian taps out to 3 sigma."""
    r = max(1, math.ceil(3 * sigma))
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def local_stats(x: torch.Tensor, sigma: float, rel_floor: float = 0.01) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-band local mean and standard deviation of ``(N, C, h, w)`` under a Gaussian window (reflected
    borders), in fp32. The deviation has a floor of ``rel_floor`` x |mean| so flat areas do not blow up;
    scaling ``x`` by a gain scales both exactly, and an offset leaves the deviation unchanged except
    where that floor binds."""
    with torch.autocast(x.device.type, enabled=False):
        x = x.float()
        k = gaussian_taps(sigma).to(x.device)
        r = (k.numel() - 1) // 2
        c = x.shape[1]

        def blur(t: torch.Tensor) -> torch.Tensor:
            mode = "reflect" if min(t.shape[-2:]) > r else "replicate"
            t = F.pad(t, (r, r, r, r), mode=mode)
            t = F.conv2d(t, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
            return F.conv2d(t, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)

        mean = blur(x)
        var = (blur(x * x) - mean * mean).clamp_min(0)
        std = torch.sqrt(var + (rel_floor * mean) ** 2 + 1e-12)
    return mean, std


# ----------------------------------------------------------------------------- row streaming (inference)
#
# A network made of row-local layers (convolutions with "same" zero padding, element-wise activations, pixel
# shuffles, residual sums) can run over an image band of rows by band, each layer keeping only the last
# ``k - 1`` rows of its input between bands ("line buffering"): no pixel is computed twice, and the peak
# memory is a few bands of features instead of several whole feature maps. The result is the whole-image
# forward's, up to float rounding. Written by hand: torch has no streaming executor for eager modules.


_ROW_STREAMS = contextvars.ContextVar("satsr_row_streams", default=True)


def row_streams_allowed() -> bool:
    """False inside ``whole_maps`` (memory estimates follow it)."""
    return _ROW_STREAMS.get()


def row_streams_enabled() -> bool:
    """Whether a forward runs as row streams now: in inference, outside ``whole_maps`` and ONNX export."""
    return _ROW_STREAMS.get() and not torch.is_grad_enabled() and not torch.onnx.is_in_onnx_export()


@contextlib.contextmanager
def whole_maps() -> Iterator[None]:
    """Run networks on whole feature maps, as they are written (for export: a traced graph must not depend
    on the input's height)."""
    token = _ROW_STREAMS.set(False)
    try:
        yield
    finally:
        _ROW_STREAMS.reset(token)


class NotStreamableError(TypeError):
    """A module the row stream cannot run band by band (it is not row-local)."""


def _has_rows(t: torch.Tensor | None) -> bool:
    return t is not None and t.shape[-2] > 0


def _zero_rows(like: torch.Tensor, rows: int) -> torch.Tensor:
    z = like.new_zeros((*like.shape[:-2], rows, like.shape[-1]))
    if like.dim() == 4 and like.is_contiguous(memory_format=torch.channels_last):
        z = z.contiguous(memory_format=torch.channels_last)
    return z


class _ConvRows:
    """A stride-1 convolution with zero "same" padding, fed rows: its output lags its input by ``k // 2`` rows."""

    def __init__(self, conv: nn.Conv2d) -> None:
        k = conv.kernel_size
        if (k[0] != k[1] or k[0] % 2 == 0 or conv.stride != (1, 1) or conv.dilation != (1, 1)
                or conv.padding != (k[0] // 2, k[1] // 2) or conv.padding_mode != "zeros"):
            raise NotStreamableError(f"{conv} is not a stride-1 'same' convolution")
        self.conv, self.k, self.p = conv, k[0], k[0] // 2
        self.cache: torch.Tensor | None = None
        self.started = False

    def push(self, x: torch.Tensor | None, last: bool) -> torch.Tensor | None:
        parts = []
        if _has_rows(x) and not self.started:
            parts.append(_zero_rows(x, self.p))  # type: ignore[arg-type]
            self.started = True
        if self.cache is not None:
            parts.append(self.cache)
        if _has_rows(x):
            parts.append(x)
        if last and parts:
            parts.append(_zero_rows(parts[-1], self.p))
        if not parts:
            return None
        inp = parts[0] if len(parts) == 1 else torch.cat(parts, dim=-2)
        if inp.shape[-2] < self.k:
            self.cache = None if last else inp
            return None
        c = self.conv
        out = F.conv2d(inp, c.weight, c.bias, 1, (0, self.p), 1, c.groups)
        keep = self.k - 1
        self.cache = None if last or keep == 0 else inp[..., inp.shape[-2] - keep:, :].clone()
        return out


class _MapRows:
    """A module applied to each band as it is (element-wise activations, pixel shuffle)."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def push(self, x: torch.Tensor | None, last: bool) -> torch.Tensor | None:
        return self.module(x) if _has_rows(x) else None


class SeqRows:
    def __init__(self, nodes: list[Any]) -> None:
        self.nodes = nodes

    def push(self, x: torch.Tensor | None, last: bool) -> torch.Tensor | None:
        for node in self.nodes:
            x = node.push(x, last)
        return x


class ResidualRows:
    """``x + scale * body(x)``: the input rows wait until the body's (lagging) output reaches them."""

    def __init__(self, body: Any, scale: float = 1.0) -> None:
        self.body, self.scale = body, scale
        self.pending: torch.Tensor | None = None

    def push(self, x: torch.Tensor | None, last: bool) -> torch.Tensor | None:
        if _has_rows(x):
            self.pending = x if self.pending is None else torch.cat([self.pending, x], dim=-2)
        y = self.body.push(x, last)
        if not _has_rows(y) or self.pending is None:
            return None
        n = y.shape[-2]  # type: ignore[union-attr]
        skip, rest = self.pending[..., :n, :], self.pending[..., n:, :]
        out = skip + (y if self.scale == 1.0 else self.scale * y)
        self.pending = rest.clone() if rest.shape[-2] else None
        return out


class RebandRows:
    """Feeds its input to ``inner`` in pieces of at most ``rows`` rows (layers after an upsampling work on
    ``scale``^2 times more pixels per row: smaller pieces keep their bands small)."""

    def __init__(self, inner: Any, rows: int) -> None:
        self.inner, self.rows = inner, max(1, rows)

    def push(self, x: torch.Tensor | None, last: bool) -> torch.Tensor | None:
        if not _has_rows(x):
            return self.inner.push(None, last)
        pieces = list(x.split(self.rows, dim=-2))  # type: ignore[union-attr]
        outs = [self.inner.push(p, last and i == len(pieces) - 1) for i, p in enumerate(pieces)]
        outs = [o for o in outs if _has_rows(o)]
        return None if not outs else outs[0] if len(outs) == 1 else torch.cat(outs, dim=-2)


def row_stream(module: nn.Module) -> Any:
    """The row-stream form of ``module`` (convolutions, activations, pixel shuffles, ``ResBlock`` and
    ``nn.Sequential`` of them, ``PixelShuffleUpsampler``); ``NotStreamableError`` for anything else. A fresh
    stream per image: its nodes keep rows between bands."""
    if isinstance(module, nn.Conv2d):
        return _ConvRows(module)
    if isinstance(module, nn.ReLU | nn.LeakyReLU | nn.Tanh | nn.PReLU | nn.Identity | nn.PixelShuffle):
        return _MapRows(module)
    if isinstance(module, ResBlock):
        return ResidualRows(row_stream(module.body), module.res_scale)
    if isinstance(module, nn.Sequential):
        return SeqRows([row_stream(m) for m in module])
    raise NotStreamableError(f"{type(module).__name__} is not row-local")


def stream_band(width: int, feats: int = 64, target_bytes: int = 16 << 20) -> int:
    """Rows per band of a ``width`` px wide input whose layers carry ``feats`` fp32 channels: a band of
    features of about ``target_bytes`` (16 MB: large enough that the per-call overhead of a layer stays
    small, small enough that a whole scene's bands fit in a modest memory budget)."""
    return max(8, target_bytes // max(1, width * feats * 4))


def run_row_stream(stream: Any, x: torch.Tensor, scale: int, band: int) -> torch.Tensor:
    """Push ``x`` ``(N, C, H, W)`` through ``stream`` ``band`` rows at a time; the output ``(N, C', H*s, W*s)``
    is assembled in one NCHW tensor as its rows come out."""
    n, _, h, w = x.shape
    out: torch.Tensor | None = None
    row = 0
    for r0 in range(0, h, band):
        y = stream.push(x[..., r0:r0 + band, :], r0 + band >= h)
        if not _has_rows(y):
            continue
        if out is None:
            out = torch.empty((n, y.shape[1], h * scale, w * scale), dtype=y.dtype, device=y.device)  # type: ignore[union-attr]
        rows = y.shape[-2]  # type: ignore[union-attr]
        out[..., row:row + rows, :] = y
        row += rows
    if out is None or row != h * scale:
        raise RuntimeError(f"row stream produced {row} of {h * scale} rows")
    return out
