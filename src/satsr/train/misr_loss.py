"""Losses for multi-image SR that reward what the PROBA-V score rewards.

The challenge's cPSNR compares the prediction with every crop of the HR image shifted by up to
``border`` pixels (49 shifts for ``border = 3``), removes the mean brightness difference over the
clear HR pixels (status mask) and keeps the best shift. The real HR is another acquisition than the
LR frames, so its exact sub-pixel position and its brightness are unknowable; a loss that punishes
them would teach the network to guess. ``shift_tolerant_loss`` does the same search as the metric:
for each of the 49 crops, the masked, bias-corrected L1 or MSE; the loss is the minimum.
"""

from __future__ import annotations

import torch


def shifted_crops(hr: torch.Tensor, border: int) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, S, C, H - 2b, W - 2b)``: every crop of ``hr`` moved by ``0..2b`` px."""
    h, w = hr.shape[-2:]
    hh, ww = h - 2 * border, w - 2 * border
    views = [hr[..., u : u + hh, v : v + ww] for u in range(2 * border + 1) for v in range(2 * border + 1)]
    return torch.stack(views, 1)


def per_shift_errors(sr: torch.Tensor, hr: torch.Tensor, sm: torch.Tensor | None, border: int = 3,
                     kind: str = "l1", norm: torch.Tensor | None = None) -> torch.Tensor:
    """Masked, brightness-bias-corrected error of ``sr`` against each shifted crop of ``hr``: ``(B, S)``.

    ``sr``/``hr`` ``(B, C, H, W)``; ``sm`` ``(B, H, W)`` True where the HR is clear (None = all);
    ``norm`` ``(B, C, 1, 1)`` divides the errors (per-stack contrast) before they are averaged.
    The bias of each crop is the mean difference over its clear pixels, as in cPSNR.
    """
    b, c, h, w = sr.shape
    src = sr[..., border : h - border, border : w - border].unsqueeze(1)  # (B, 1, C, h', w')
    tgt = shifted_crops(hr, border)  # (B, S, C, h', w')
    if sm is None:
        sm = torch.ones(b, h, w, dtype=torch.bool, device=sr.device)
    m = shifted_crops(sm[:, None].to(sr.dtype), border)  # (B, S, 1, h', w')
    diff = tgt - src
    if norm is not None:
        diff = diff / norm.unsqueeze(1)
    n = m.sum((-2, -1)).clamp(min=1)  # (B, S, 1)
    bias = (diff * m).sum((-2, -1)) / n  # (B, S, C)
    e = (diff - bias[..., None, None]) * m
    if kind == "l1":
        err = e.abs().sum((-2, -1)) / n
    elif kind in ("mse", "l2"):
        err = (e**2).sum((-2, -1)) / n
    else:
        raise ValueError(f"unknown MISR loss {kind!r}")
    return err.mean(-1)


def shift_tolerant_loss(sr: torch.Tensor, hr: torch.Tensor, sm: torch.Tensor | None, border: int = 3,
                        kind: str = "l1", norm: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over the batch of the best-shift error; also returns the chosen shift index per sample."""
    err = per_shift_errors(sr, hr, sm, border, kind, norm)
    best, idx = err.min(1)
    return best.mean(), idx


def laplace_nll_at(sr: torch.Tensor, hr: torch.Tensor, sm: torch.Tensor | None, log_sigma: torch.Tensor,
                   shift_idx: torch.Tensor, border: int = 3, norm: torch.Tensor | None = None) -> torch.Tensor:
    """Laplace negative log-likelihood of the (bias-corrected) error at each sample's best shift.

    Trains an uncertainty head: ``log_sigma`` ``(B, C, H, W)`` is the log scale in the units of ``norm``
    (or of the data). The prediction is detached, so the likelihood only shapes the uncertainty.
    """
    b, c, h, w = sr.shape
    sl = (slice(None), slice(None), slice(border, h - border), slice(border, w - border))
    src, ls = sr.detach()[sl], log_sigma[sl]
    tgt = shifted_crops(hr, border)[torch.arange(b), shift_idx]
    if sm is None:
        sm = torch.ones(b, h, w, dtype=torch.bool, device=sr.device)
    m = shifted_crops(sm[:, None].to(sr.dtype), border)[torch.arange(b), shift_idx]
    diff = tgt - src
    if norm is not None:
        diff = diff / norm
    n = m.sum((-2, -1)).clamp(min=1)
    bias = (diff * m).sum((-2, -1)) / n
    e = (diff - bias[..., None, None]).abs()
    nll = (e * torch.exp(-ls) + ls) * m
    return (nll.sum((-2, -1)) / n).mean()


def cpsnr(sr: torch.Tensor, hr: torch.Tensor, sm: torch.Tensor | None, border: int = 3,
          peak: float = 1.0) -> torch.Tensor:
    """The challenge's cPSNR (dB) per sample ``(B,)`` (values in units where ``peak`` is full scale)."""
    mse = per_shift_errors(sr.double(), hr.double(), sm, border, "mse").min(1).values
    return 10 * torch.log10(peak**2 / mse.clamp(min=1e-20))
