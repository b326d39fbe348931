"""Spectral-group super-resolution of hyperspectral cubes (``sgsr``), in the spirit of SSPSR (Jiang et
al., IEEE TCI 2020, "Learning Spatial-Spectral Prior for Super-Resolution of Hyperspectral Imagery").

A cube of any band count is cut into overlapping groups of ``group`` neighbouring bands; one small
network with shared weights super-resolves every group (so 1, 48 or 128 bands cost the same per group
and the weights do not depend on the band count), seeing besides its own bands the mean of the
``context`` bands around the group (the spectral neighbourhood's spatial structure at a far better
signal-to-noise ratio than one band; a neighbourhood rather than the whole cube so that training on
windows of a cube's bands sees what inference on the whole cube sees). Inside
the branch, residual blocks end with a per-pixel spectral attention (a squeeze-excitation over the
feature channels at each pixel, no spatial pooling, so a tile's centre equals the whole-image result).
Overlapping group outputs are averaged band by band, and a small 3-D convolution block at high
resolution smooths the residual along the spectrum and space. The output is a residual over a base:
``base="bicubic"``, or ``base="edsr"``: a per-band EDSR x2 (run twice for x4) whose weights come from the
shipped ``edsr-ms_x2`` (``init_from``) and stay frozen, so the spectral branch only learns what a
band-by-band network cannot see (a departure from SSPSR, recorded in the card: with two small training
scenes the per-band prior learned from Landsat/Sentinel-2 is worth keeping).

Units: the network is unit-free. Each band is centred on its local mean and divided by one local
contrast shared by all bands at that pixel (so the bands' relative contrast, the spectral shape of
the detail, is kept); the predicted detail is multiplied back by that contrast. A cube in DN,
radiance or reflectance gets the same treatment (``value_scale`` 1). The ``edsr`` base is not: it
expects reflectance (0..2, what ``edsr-ms`` sees after its division by 10000).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from satsr.models.base import ModelCard, TorchUpscaler
from satsr.models.edsr import EDSR
from satsr.models.layers import PixelShuffleUpsampler, add_bicubic, conv3x3, damp_last_conv, local_stats
from satsr.models.registry import register


def band_windows(bands: int, group: int, overlap: int) -> list[int]:
    """First band of each group of ``group`` bands covering ``0..bands-1`` with at least ``overlap``
    shared bands between neighbours; the last group ends on the last band. Fewer bands than a group:
    one group (the cube is padded to a group by repeating its last band)."""
    if bands <= group:
        return [0]
    stride = max(1, group - overlap)
    n = math.ceil((bands - group) / stride) + 1
    starts = [min(i * stride, bands - group) for i in range(n)]
    return sorted(set(starts))


class SpectralAttention(nn.Module):
    """Per-pixel squeeze-excitation over feature channels (1x1 convolutions): weighs the spectral
    features at each pixel without pooling over the tile."""

    def __init__(self, feats: int, reduction: int) -> None:
        super().__init__()
        mid = max(4, feats // reduction)
        self.gate = nn.Sequential(nn.Conv2d(feats, mid, 1), nn.ReLU(inplace=True), nn.Conv2d(mid, feats, 1),
                                  nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class AttentionBlock(nn.Module):
    """conv-ReLU-conv, spectral attention, added to the input (RCAB without the global pooling)."""

    def __init__(self, feats: int, reduction: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3x3(feats, feats), nn.ReLU(inplace=True), conv3x3(feats, feats),
                                  SpectralAttention(feats, reduction))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Spectral3D(nn.Module):
    """A 3-D convolution block over (band, row, column) of a residual cube ``(N, C, H, W)``: band-count
    free, it carries detail between neighbouring bands across group borders.

    The 3x3x3 kernels are kept as 4-D parameters ``(feats, 3, 3, 3)`` and reshaped for ``conv3d`` on
    each call, so that the model as a whole can be moved to ``channels_last`` (which refuses 5-D
    tensors) like every other network here.
    """

    def __init__(self, feats: int = 4) -> None:
        super().__init__()
        self.w_in = nn.Parameter(torch.randn(feats, 3, 3, 3) * math.sqrt(2.0 / 27))
        self.b_in = nn.Parameter(torch.zeros(feats))
        # start as the identity: a small output kernel and no bias
        self.w_out = nn.Parameter(torch.randn(feats, 3, 3, 3) * 0.1 * math.sqrt(1.0 / (27 * feats)))
        self.b_out = nn.Parameter(torch.zeros(1))

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        f = self.w_in.shape[0]
        w_in = self.w_in.contiguous().view(f, 1, 3, 3, 3).to(r.dtype)
        w_out = self.w_out.contiguous().view(1, f, 3, 3, 3).to(r.dtype)
        h = F.relu(F.conv3d(r.unsqueeze(1), w_in, self.b_in.to(r.dtype), padding=1))
        return r + F.conv3d(h, w_out, self.b_out.to(r.dtype), padding=1).squeeze(1)


class SGSR(nn.Module):
    """``forward((N, C, h, w)) -> (N, C, h*scale, w*scale)`` for any ``C``; ``bands`` is only recorded."""

    def __init__(self, scale: int, bands: int = 0, group: int = 8, overlap: int = 2, feats: int = 48,
                 n_blocks: int = 4, reduction: int = 8, norm_sigma: float = 3.0, feats3d: int = 4,
                 context: int = 16, base: str = "bicubic", base_blocks: int = 8, base_feats: int = 48) -> None:
        super().__init__()
        if group < 1 or not 0 <= overlap < group:
            raise ValueError(f"need group >= 1 and 0 <= overlap < group, got {group} and {overlap}")
        if base not in ("bicubic", "edsr"):
            raise ValueError(f"base must be 'bicubic' or 'edsr', got {base!r}")
        self.base = base
        self.base_net: EDSR | None = None
        if base == "edsr":
            if scale & (scale - 1):
                raise ValueError(f"base 'edsr' runs EDSR x2 repeatedly: scale {scale} is not a power of two")
            self.base_net = EDSR(scale=2, bands=1, n_blocks=base_blocks, feats=base_feats)
            self.base_net.requires_grad_(False)  # frozen: loaded from edsr-ms_x2 (init_from)
        self.scale = scale
        self.group = group
        self.overlap = overlap
        self.context = context
        self.norm_sigma = norm_sigma
        self.head = conv3x3(group + 1, feats)
        self.body = nn.Sequential(*[AttentionBlock(feats, reduction) for _ in range(n_blocks)], conv3x3(feats, feats))
        self.tail = nn.Sequential(PixelShuffleUpsampler(scale, feats), conv3x3(feats, group))
        damp_last_conv(self.tail)  # start near bicubic
        self.spectral = Spectral3D(feats3d) if feats3d > 0 else None

    def normalise(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(bands centred on their local mean / the shared local contrast, that contrast ``(N, 1, h, w)``)."""
        mean, std = local_stats(x, self.norm_sigma)
        with torch.autocast(x.device.type, enabled=False):
            s = torch.sqrt((std * std).mean(1, keepdim=True))
            return (x.float() - mean) / s, s

    def residual(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised detail ``(N, C, H, W)`` of a normalised cube ``z`` (groups, shared branch, merge)."""
        n, c, h, w = z.shape
        g = self.group
        zp = z if c >= g else torch.cat([z, z[:, -1:].expand(n, g - c, h, w)], 1)
        starts = band_windows(c, g, self.overlap)
        k = len(starts)
        cum = F.pad(z.cumsum(1), (0, 0, 0, 0, 1, 0))  # cum[:, b] = sum of bands < b
        ctx = []
        for a in starts:  # mean of the `context` bands centred on the group (clipped to the cube)
            lo = max(0, min(a + g // 2 - self.context // 2, c - self.context))
            hi = min(c, lo + max(self.context, 1))
            ctx.append((cum[:, hi] - cum[:, lo]) / (hi - lo))
        inp = torch.cat([torch.stack([zp[:, a:a + g] for a in starts], 1), torch.stack(ctx, 1)[:, :, None]], 2)
        inp = inp.reshape(n * k, g + 1, h, w)
        f = self.head(inp.contiguous(memory_format=torch.channels_last))
        y = self.tail(f + self.body(f)).float().reshape(n, k, g, h * self.scale, w * self.scale)
        if c < g:
            return y[:, 0, :c]
        out = y.new_zeros(n, c, h * self.scale, w * self.scale)
        count = y.new_zeros(1, c, 1, 1)
        for i, a in enumerate(starts):  # average the bands two groups share
            out[:, a:a + g] += y[:, i]
            count[:, a:a + g] += 1
        return out / count

    def base_image(self, x: torch.Tensor) -> torch.Tensor:
        """The per-band EDSR base ``(N, C, H, W)`` (fp32, no gradient): every band as a 1-band image."""
        assert self.base_net is not None
        n, c, h, w = x.shape
        y = x.reshape(n * c, 1, h, w)
        with torch.no_grad():
            self.base_net.eval()
            for _ in range(int(math.log2(self.scale))):
                y = self.base_net(y.contiguous(memory_format=torch.channels_last)).float()
        return y.reshape(n, c, *y.shape[-2:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z, s = self.normalise(x)
        r = self.residual(z)
        if self.spectral is not None:
            r = self.spectral(r)
        base = self.base_image(x) if self.base_net is not None else None  # bf16 in training: EDSR adds its
        with torch.autocast(x.device.type, enabled=False):  # detail to an fp32 bicubic (add_bicubic)
            up = F.interpolate(s, scale_factor=self.scale, mode="bicubic", align_corners=False).clamp_min(0)
            if base is not None:
                return base + r.float() * up
            return add_bicubic(r.float() * up, x, self.scale)


def _margin(n_blocks: int = 4, norm_sigma: float = 3.0, base: str = "bicubic", base_blocks: int = 8,
            scale: int = 4, **_: object) -> int:
    # head + 2 per block + body end + upsampler + final conv and 3-D block (at HR, < 1 LR px) + bicubic
    # (2), plus the local statistics' window; the EDSR base: its reach per x2 pass, halved at each pass
    # (the registry does not pass the scale: the x4 reach is used, enough for x2)
    own = 2 * n_blocks + 6 + math.ceil(3 * norm_sigma) + 2
    if base != "edsr":
        return own
    reach = sum(math.ceil((2 * base_blocks + 6) / 2**i) for i in range(int(math.log2(max(scale, 2)))))
    return max(own, reach)


def wrap_sgsr(net: SGSR, *, name: str, scale: int, card: ModelCard | None, device: str, margin: int,
              **_: object) -> TorchUpscaler:
    """The registry's wrapper: the network as a single-image model that takes any band count."""
    return TorchUpscaler(net, name=name, scale=scale, margin=margin, bands=None, card=card, device=device)


@register("sgsr", kind="sisr", neural=True, scales=(2, 3, 4), margin=_margin, wrap=wrap_sgsr,
          defaults={"group": 8, "overlap": 2, "feats": 48, "n_blocks": 4},
          description="spectral-group SR for hyperspectral cubes (any band count): shared group branch with "
                      "spectral attention, cube-mean context, 3-D block, residual over bicubic, unit-free",
          paper="after Jiang et al. 2020, SSPSR: Learning Spatial-Spectral Prior for Super-Resolution of "
                "Hyperspectral Imagery")
def build_sgsr(scale: int, bands: int = 0, **kw: object) -> SGSR:
    return SGSR(scale=scale, bands=bands, **kw)  # type: ignore[arg-type]
