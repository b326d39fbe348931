"""SwinIR-light style transformer (Liang et al., ICCV-W 2021): shifted-window self-attention.

Shallow conv -> residual Swin transformer blocks (RSTB: window attention layers with relative
position bias, alternating shifted windows, then a conv) -> conv -> one-step pixel shuffle, as in
SwinIR's lightweight variant. Defaults (dim 48, 2 RSTB x 4 layers, window 8) train on a CPU.
The input is reflect-padded to a multiple of the window. Window partitions are tied to the tile
origin, so tiled output is close to, not identical with, whole-image output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from satsr.models.layers import add_bicubic, conv3x3
from satsr.models.registry import register


def _to_windows(x: torch.Tensor, ws: int) -> torch.Tensor:
    b, h, w, c = x.shape
    x = x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, c)


def _from_windows(win: torch.Tensor, ws: int, b: int, h: int, w: int) -> torch.Tensor:
    c = win.shape[-1]
    x = win.view(b, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, c)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside ws x ws windows with a learned relative position bias."""

    def __init__(self, dim: int, heads: int, ws: int) -> None:
        super().__init__()
        self.heads, self.ws = heads, ws
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.bias_table = nn.Parameter(torch.zeros((2 * ws - 1) ** 2, heads))
        nn.init.trunc_normal_(self.bias_table, std=0.02)
        coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (ws - 1)
        self.register_buffer("bias_index", rel[..., 0] * (2 * ws - 1) + rel[..., 1], persistent=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        n_win, n, c = x.shape
        qkv = self.qkv(x).view(n_win, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        bias = self.bias_table[self.bias_index.view(-1)].view(n, n, self.heads).permute(2, 0, 1)
        attn_bias = bias.unsqueeze(0)
        if mask is not None:  # (nW, n, n) additive mask for shifted windows
            nw = mask.shape[0]
            attn_bias = (attn_bias.view(1, 1, self.heads, n, n) + mask.view(1, nw, 1, n, n)).expand(
                n_win // nw, nw, self.heads, n, n).reshape(n_win, self.heads, n, n)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_bias.to(q.dtype))
        return self.proj(out.transpose(1, 2).reshape(n_win, n, c))


class SwinLayer(nn.Module):
    def __init__(self, dim: int, heads: int, ws: int, shift: int, mlp_ratio: float) -> None:
        super().__init__()
        self.ws, self.shift = ws, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, ws)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def _mask(self, h: int, w: int, device: torch.device) -> torch.Tensor | None:
        if self.shift == 0:
            return None
        img = torch.zeros(1, h, w, 1, device=device)
        cuts = (slice(0, -self.ws), slice(-self.ws, -self.shift), slice(-self.shift, None))
        label = 0
        for hs in cuts:
            for wsl in cuts:
                img[:, hs, wsl, :] = label
                label += 1
        win = _to_windows(img, self.ws).squeeze(-1)
        diff = win.unsqueeze(1) - win.unsqueeze(2)
        return diff.ne(0).float() * -100.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, H, W, C)
        b, h, w, _ = x.shape
        y = self.norm1(x)
        if self.shift:
            y = torch.roll(y, (-self.shift, -self.shift), dims=(1, 2))
        y = _from_windows(self.attn(_to_windows(y, self.ws), self._mask(h, w, x.device)), self.ws, b, h, w)
        if self.shift:
            y = torch.roll(y, (self.shift, self.shift), dims=(1, 2))
        x = x + y
        return x + self.mlp(self.norm2(x))


class RSTB(nn.Module):
    """Residual Swin transformer block: window-attention layers, a conv, a skip."""

    def __init__(self, dim: int, depth: int, heads: int, ws: int, mlp_ratio: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [SwinLayer(dim, heads, ws, 0 if i % 2 == 0 else ws // 2, mlp_ratio) for i in range(depth)]
        )
        self.conv = conv3x3(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        y = x.permute(0, 2, 3, 1)
        for layer in self.layers:
            y = layer(y)
        return x + self.conv(y.permute(0, 3, 1, 2).contiguous())


class SwinIRLight(nn.Module):
    def __init__(self, scale: int, bands: int = 3, dim: int = 48, depths: tuple[int, ...] = (4, 4),
                 heads: int = 4, window: int = 8, mlp_ratio: float = 2.0, bicubic_residual: bool = False) -> None:
        super().__init__()
        self.scale, self.window = scale, window
        self.bicubic_residual = bicubic_residual
        self.shallow = conv3x3(bands, dim)
        self.blocks = nn.Sequential(*[RSTB(dim, d, heads, window, mlp_ratio) for d in depths])
        self.after = conv3x3(dim, dim)
        self.up = nn.Sequential(conv3x3(dim, bands * scale * scale), nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.window, (-w) % self.window
        xp = F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
        f = self.shallow(xp)
        f = f + self.after(self.blocks(f))
        y = self.up(f)[..., : h * self.scale, : w * self.scale]
        return add_bicubic(y, x, self.scale) if self.bicubic_residual else y


@register("swinir", kind="sisr", neural=True, scales=(2, 3, 4),
          margin=lambda window=8, depths=(4, 4), **_: window * len(depths) + 4,
          description="SwinIR-light style shifted-window transformer (dim 48, 2x4 layers, window 8)",
          paper="Liang et al. 2021, SwinIR: Image Restoration Using Swin Transformer")
def build_swinir(scale: int, bands: int = 3, **kw: object) -> SwinIRLight:
    if "depths" in kw:
        kw["depths"] = tuple(kw["depths"])  # type: ignore[arg-type]
    return SwinIRLight(scale=scale, bands=bands, **kw)  # type: ignore[arg-type]
