"""ESRGAN (Wang et al., ECCV-W 2018): an RRDB generator trained first for PSNR, then adversarially.

Generator: residual-in-residual dense blocks (RRDB: three dense blocks of five convolutions with
growth channels, each scaled by 0.2 and added back), a long skip, nearest-neighbour upsampling with
convolutions (x2 per stage, as in the paper), and - a departure recorded in the cards, for training on
a CPU - a residual over bicubic upsampling. Sized for a CPU (default 8 RRDBs of 32 features, growth 16).

Discriminator (``PatchDiscriminator``): strided convolutions with spectral normalisation, one logit per
patch of the HR image (no batch norm: spectral normalisation keeps it Lipschitz), and its intermediate
feature maps exposed for the feature-matching perceptual loss that replaces ESRGAN's VGG loss (satsr
never downloads a pretrained network; see ``satsr.train.gan``).

The adversarial stage makes textures look real by inventing detail the LR cannot support; the
hallucination map (``satsr upscale --hallucination``) shows where.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from satsr.models.layers import add_bicubic, conv3x3, damp_last_conv
from satsr.models.registry import register


class DenseBlock(nn.Module):
    """Five 3x3 convolutions, each seeing all earlier outputs (growth ``grow``), scaled residual."""

    def __init__(self, feats: int, grow: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList([conv3x3(feats + i * grow, grow if i < 4 else feats) for i in range(5)])
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for i, conv in enumerate(self.convs):
            y = conv(torch.cat(feats, 1))
            if i < 4:
                feats.append(self.act(y))
        return x + 0.2 * y


class RRDB(nn.Module):
    """Residual in residual dense block: three dense blocks, scaled by 0.2 and added back."""

    def __init__(self, feats: int, grow: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[DenseBlock(feats, grow) for _ in range(3)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.blocks(x)


class RRDBNet(nn.Module):
    """The ESRGAN generator: ``(N, C, h, w) -> (N, C, h*s, w*s)`` for s in 2, 3, 4."""

    def __init__(self, scale: int, bands: int = 3, n_blocks: int = 8, feats: int = 32, grow: int = 16) -> None:
        super().__init__()
        self.scale = scale
        self.head = conv3x3(bands, feats)
        self.body = nn.Sequential(*[RRDB(feats, grow) for _ in range(n_blocks)])
        self.body_end = conv3x3(feats, feats)
        stages = [2, 2] if scale == 4 else [scale]
        self.ups = nn.ModuleList([conv3x3(feats, feats) for _ in stages])
        self.factors = stages
        self.hr_conv = conv3x3(feats, feats)
        self.last = conv3x3(feats, bands)
        self.act = nn.LeakyReLU(0.2, inplace=True)
        damp_last_conv(self.last)  # start at the bicubic image

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.head(x)
        f = f + self.body_end(self.body(f))
        for conv, s in zip(self.ups, self.factors, strict=True):
            f = self.act(conv(F.interpolate(f, scale_factor=s, mode="nearest")))
        y = self.last(self.act(self.hr_conv(f)))
        return add_bicubic(y, x, self.scale)


def _margin(n_blocks: int = 8, **_: object) -> int:
    # head, 15 convs per RRDB, body end (LR px); the HR convs and bicubic add under 3 LR px
    return 1 + 15 * n_blocks + 1 + 3


class PatchDiscriminator(nn.Module):
    """Spectrally normalised convolutional discriminator: one realism logit per patch (receptive field
    about 70 HR px), and the feature maps of every stage (for feature matching)."""

    def __init__(self, bands: int = 3, feats: int = 32, stages: int = 4) -> None:
        super().__init__()
        sn = nn.utils.spectral_norm
        layers: list[nn.Module] = []
        cin = bands
        for i in range(stages):
            cout = feats * 2 ** min(i, 3)
            layers.append(nn.Sequential(sn(nn.Conv2d(cin, cout, 4, stride=2 if i < stages - 1 else 1, padding=1)),
                                        nn.LeakyReLU(0.2, inplace=True)))
            cin = cout
        self.stages = nn.ModuleList(layers)
        self.out = sn(nn.Conv2d(cin, 1, 3, padding=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return self.out(x), feats


@register("esrgan", kind="sisr", neural=True, scales=(2, 3, 4), margin=_margin,
          defaults={"n_blocks": 8, "feats": 32, "grow": 16},
          description="ESRGAN: RRDB generator (CPU size 8 x 32), trained for PSNR then adversarially; "
                      "sharp, invented texture: check --hallucination",
          paper="Wang et al. 2018, ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks")
def build_esrgan(scale: int, bands: int = 3, **kw: object) -> RRDBNet:
    return RRDBNet(scale=scale, bands=bands, **kw)  # type: ignore[arg-type]
