"""Shared pieces of the multi-image (MISR) networks: stack preparation, residual composition, the
``Fuser`` wrapper that runs them on real stacks.

Every deep MISR family here works the same way around its learned core:

1. ``prepare``: frames ``(B, T, C, h, w)`` with clear masks ``(B, T, h, w)`` -> a per-pixel median
   reference of the clear observations, frames matched radiometrically to it (offset and a clamped
   gain: real revisits differ by ~5-10 % in brightness), cloudy pixels replaced by the reference (so
   clouds never reach the network), the mean of the clear observations as the base image, and
   per-stack statistics ``(mu, s)`` that bring every input to zero mean and unit contrast.
2. the core maps the normalised stack to a residual at high resolution;
3. ``compose``: ``output = bicubic(base) + s * residual`` (+ ``mu`` bookkeeping).

The network therefore only learns corrections over a strong classical estimate (the challenge
baseline is the bicubic mean of the clearest frames), works for any brightness range or sensor, and
sees no cloud. Nothing here imports above ``models/``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from satsr.arrays import Array, like_input, to_tensor
from satsr.errors import OptionError
from satsr.models.base import Fuser, ModelCard
from satsr.models.layers import bicubic_up, conv3x3
from satsr.ops.registration import register_stack


@dataclass
class Prepared:
    """A normalised stack, ready for a learned core (all tensors float32)."""

    frames: torch.Tensor  # (B, T, C, h, w) normalised, cloudy pixels filled from the reference
    ref: torch.Tensor  # (B, C, h, w) normalised median reference
    base: torch.Tensor  # (B, C, h, w) normalised mean of the clear observations
    clear: torch.Tensor  # (B, T, h, w) bool, clear and valid
    valid: torch.Tensor  # (B, T) bool, real (not padding) frames
    mu: torch.Tensor  # (B, C, 1, 1)
    s: torch.Tensor  # (B, C, 1, 1)
    weight: torch.Tensor  # (B, T) in (0, 1]: agreement of each frame with the reference

    def crop(self, y0: int, y1: int, x0: int, x1: int) -> Prepared:
        """The same stack restricted to a window (statistics stay those of the whole stack)."""
        win = (..., slice(y0, y1), slice(x0, x1))
        return Prepared(self.frames[win], self.ref[win], self.base[win], self.clear[win], self.valid, self.mu,
                        self.s, self.weight)


def _nanmedian_t(x: torch.Tensor) -> torch.Tensor:
    """Median over dim 1 ignoring NaN (lower median, as torch does); all-NaN -> NaN."""
    return torch.nanmedian(x, dim=1).values


def _box3(x: torch.Tensor) -> torch.Tensor:
    shape = x.shape
    y = F.avg_pool2d(x.reshape(-1, 1, *shape[-2:]), 3, 1, 1, count_include_pad=False)
    return y.reshape(shape)


@torch.no_grad()
def prepare(frames: torch.Tensor, masks: torch.Tensor, valid: torch.Tensor | None = None,
            match: bool = True, min_scale: float = 1e-4) -> Prepared:
    """Reference, radiometric matching, cloud filling, base image and normalisation (see module doc).

    Non-finite pixels count as cloudy. Pixels with no clear observation fall back to the median of
    all valid frames (better than nothing; they are rare after clearance-ordered selection).
    """
    x = frames.float()
    b, t, c, h, w = x.shape
    if valid is None:
        valid = torch.ones(b, t, dtype=torch.bool, device=x.device)
    finite = torch.isfinite(x).all(2)
    clear = masks.bool() & finite & valid[:, :, None, None]
    x = torch.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    vmask = (valid[:, :, None, None] & finite)[:, :, None].expand_as(x)
    cmask = clear[:, :, None].expand_as(x)
    nan = torch.tensor(float("nan"), device=x.device)

    def reference(y: torch.Tensor) -> torch.Tensor:
        med = _nanmedian_t(torch.where(cmask, y, nan))
        anyv = _nanmedian_t(torch.where(vmask, y, nan))
        return torch.nan_to_num(torch.where(torch.isnan(med), anyv, med), nan=0.0)

    ref = reference(x)
    if match:
        # per-frame offset + clamped gain that map the frame onto the reference over its clear pixels;
        # statistics of 3x3-smoothed images, so noise does not bias the gain down
        cm = cmask.float()
        n = cm.sum((-2, -1)).clamp(min=1)
        xs = _box3(torch.where(cmask, x, ref[:, None].expand_as(x)))  # clouds must not leak via the box
        rs = _box3(ref)[:, None].expand_as(x)
        mx = (x * cm).sum((-2, -1)) / n
        mr = (rs * cm).sum((-2, -1)) / n
        vx = (((xs - mx[..., None, None]) ** 2) * cm).sum((-2, -1)) / n
        vr = (((rs - mr[..., None, None]) ** 2) * cm).sum((-2, -1)) / n
        gain = torch.sqrt((vr + 1e-12) / (vx + 1e-12)).clamp(0.6, 1.6)  # real revisits: 0.6-1.35
        enough = (cm.mean((-2, -1)) > 0.05).float()
        gain = enough * gain + (1 - enough)
        mr = enough * mr + (1 - enough) * mx
        x = (x - mx[..., None, None]) * gain[..., None, None] + mr[..., None, None]
        x = torch.where(vmask, x, torch.zeros_like(x))
        ref = reference(x)
    filled = torch.where(cmask, x, ref[:, None].expand_as(x))
    weight = frame_weights(filled, ref, clear, valid)
    wmap = cmask.float() * weight[:, :, None, None, None]
    wsum = wmap.sum(1)
    base = torch.where(wsum > 0, (filled * wmap).sum(1) / wsum.clamp(min=1e-6), ref)
    mu = ref.mean((-2, -1), keepdim=True)
    s = ref.std((-2, -1), keepdim=True).clamp(min=min_scale) if h * w > 1 else torch.full_like(mu, min_scale)
    s = torch.nan_to_num(s, nan=min_scale)
    vf = valid[:, :, None, None, None].float()
    return Prepared(
        frames=((filled - mu[:, None]) / s[:, None]) * vf,
        ref=(ref - mu) / s,
        base=(base - mu) / s,
        clear=clear,
        valid=valid,
        mu=mu,
        s=s,
        weight=weight,
    )


def frame_weights(filled: torch.Tensor, ref: torch.Tensor, clear: torch.Tensor, valid: torch.Tensor,
                  min_clear: float = 0.05) -> torch.Tensor:
    """Per-frame weights ``(B, T)`` in (0, 1] from agreement with the reference.

    Real revisits include frames that differ from the rest far more than noise explains (another
    season, undetected haze): their mean squared difference ``d`` to the median reference (3x3
    smoothed, over their clear pixels) is large. ``w = 1 / (d + median(d))``, scaled to a maximum of
    1, keeps typical frames near equal weight and divides an outlier's by its excess. Symmetric in
    the frames (the order does not matter). Frames with too few clear pixels get 0.5.
    """
    cm = clear[:, :, None].expand_as(filled).float()
    diff = (_box3(filled) - _box3(ref)[:, None]) ** 2
    n = cm.sum((2, 3, 4))
    d = (diff * cm).sum((2, 3, 4)) / n.clamp(min=1)  # (B, T)
    known = valid & (clear.float().mean((-2, -1)) > min_clear)
    big = torch.tensor(float("nan"), device=d.device)
    med = torch.nanmedian(torch.where(known, d, big), dim=1, keepdim=True).values
    med = torch.nan_to_num(med, nan=1.0).clamp(min=1e-12)
    w = 1.0 / (d + med)
    w = torch.where(known, w, torch.zeros_like(w))
    top = w.amax(1, keepdim=True).clamp(min=1e-12)
    w = torch.where(known, w / top, torch.full_like(w, 0.5))
    return torch.where(valid, w, torch.zeros_like(w))


class MISRNet(nn.Module):
    """Base of the deep MISR families: ``forward(frames, masks) -> (sr, log_sigma | None)``.

    Subclasses implement ``core(prep) -> (residual (B, C, H, W), log_sigma | None)`` in normalised
    units. ``sr`` is in the input's units; ``log_sigma`` is the log of a per-pixel Laplace scale in
    normalised units (``sigma_in_input_units = exp(log_sigma) * s``).
    """

    scale: int = 3
    bands: int = 1
    match: bool = True

    def core(self, prep: Prepared) -> tuple[torch.Tensor, torch.Tensor | None]:  # pragma: no cover
        raise NotImplementedError

    def compose(self, prep: Prepared, residual: torch.Tensor) -> torch.Tensor:
        with torch.autocast(residual.device.type, enabled=False):
            up = bicubic_up(prep.base.float(), self.scale)
            return (up + residual.float()) * prep.s + prep.mu

    def forward(self, frames: torch.Tensor, masks: torch.Tensor,
                valid: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        prep = prepare(frames, masks, valid, match=self.match)
        res, log_sigma = self.core(prep)
        return self.compose(prep, res), log_sigma


def frame_inputs(prep: Prepared) -> torch.Tensor:
    """Per-frame network input ``(B, T, 2C + 1, h, w)``: the frame, the reference, and its clear mask
    scaled by the frame's weight (``frame_weights``)."""
    b, t, c, h, w = prep.frames.shape
    ref = prep.ref[:, None].expand(b, t, c, h, w)
    conf = prep.clear[:, :, None].float() * prep.weight[:, :, None, None, None]
    return torch.cat([prep.frames, ref, conf], 2)


class ShuffleDecoder(nn.Sequential):
    """Features ``(N, F, h, w)`` -> ``(N, out, h*s, w*s)``: conv, PReLU, sub-pixel conv, HR conv.

    The last conv starts near zero so a fresh network outputs the classical base image.
    """

    def __init__(self, feats: int, out: int, scale: int) -> None:
        super().__init__(conv3x3(feats, feats), nn.PReLU(feats), conv3x3(feats, feats * scale * scale),
                         nn.PixelShuffle(scale), conv3x3(feats, out))
        with torch.no_grad():
            self[-1].weight.mul_(0.1)
            self[-1].bias.zero_()


def masked_softmax_pool(feats: torch.Tensor, scores: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Attention pooling over dim 1: ``softmax(scores)`` restricted to ``weight > 0`` (falls back to all
    frames where none is allowed). ``feats``, ``scores`` ``(B, T, F, h, w)``; ``weight`` ``(B, T, 1, h, w)``.
    """
    allowed = weight > 0
    none = ~allowed.any(1, keepdim=True)
    allowed = allowed | none
    scores = scores.masked_fill(~allowed, float("-inf"))
    att = torch.softmax(scores.float(), dim=1).to(feats.dtype)
    return (att * feats).sum(1)


# ----------------------------------------------------------------------------- the Fuser wrapper


def stack_tensors(frames: Array, masks: Array | None, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A stack as tensors on ``device``: frames ``(T, C, h, w)`` (a ``(T, h, w)`` stack gets one band) and
    boolean clear masks ``(T, h, w)`` (all clear when None)."""
    x = to_tensor(frames, device)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise ValueError(f"expected frames (T, bands, h, w), got shape {tuple(x.shape)}")
    t, _, h, w = x.shape
    if masks is None:
        return x, torch.ones(t, h, w, dtype=torch.bool, device=device)
    m = masks if isinstance(masks, torch.Tensor) else torch.from_numpy(np.array(masks))
    return x, (m.to(device) > 0).reshape(t, h, w)


def integer_align(frames: torch.Tensor, masks: torch.Tensor, shifts: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Move each frame by its registration shift rounded to whole pixels; pixels moved in from
    outside the frame are marked not clear. ``shifts`` ``(T, 2)`` as ``satsr.ops.registration`` gives them."""
    out, outm = frames.clone(), masks.clone()
    h, w = frames.shape[-2:]
    for i, (dy, dx) in enumerate(np.rint(shifts).astype(int)):
        if dy == 0 and dx == 0:
            continue
        dy, dx = int(np.clip(dy, -h + 1, h - 1)), int(np.clip(dx, -w + 1, w - 1))
        out[i] = torch.roll(frames[i], (dy, dx), (-2, -1))
        m = torch.roll(masks[i], (dy, dx), (-2, -1))
        if dy > 0:
            m[:dy] = False
        elif dy < 0:
            m[dy:] = False
        if dx > 0:
            m[:, :dx] = False
        elif dx < 0:
            m[:, dx:] = False
        outm[i] = m
    return out, outm


class NeuralFuser(Fuser):
    """Runs a ``MISRNet`` as a ``Fuser`` on one stack ``(T, C, h, w)`` + masks ``(T, h, w)``.

    Frames are (re)ordered by clearance and the clearest ``max_frames`` kept; with ``align`` every
    frame is registered to the clearest one (``satsr.ops.registration``) and moved by the whole-pixel part
    of its shift (the sub-pixel part is the information the network fuses, and is what it was
    trained on); a 1-band network is run on each band of a multiband stack; big scenes are processed
    in overlapping tiles of the learned core after a global preparation (so statistics and
    references are those of the whole stack).

    ``max_frames`` defaults to 8: the shipped models were trained on 5-12 frames, and on real
    PROBA-V revisits that were never scored (``benchmarks/misr_deep_semireal.py``) 8 beat 1, 4 and
    16 for both HighRes-net and RAMS, and 2 for HighRes-net (more frames add more real surface
    change than detail).
    """

    def __init__(self, net: MISRNet, name: str, scale: int, card: ModelCard | None = None,
                 device: str | torch.device = "cpu", max_frames: int = 8, tile: int = 160,
                 context: int = 24, align: bool = True, tta: bool = False) -> None:
        self.net = net.eval().to(device)
        self.name = name
        self.scale = scale
        self.scales = (scale,)
        self.card = card
        self.device = torch.device(device)
        self.max_frames = int(max_frames)
        self.tile = int(tile)
        self.context = int(context)
        self.align = bool(align)
        self.tta = bool(tta)
        self.last_shifts: np.ndarray | None = None
        self.net_bands = int(getattr(net, "bands", 1))
        self.bands = None if self.net_bands == 1 else (self.net_bands,)

    @torch.inference_mode()
    def fuse_with_uncertainty(self, frames: Array, masks: Array | None) -> tuple[Array, Array | None]:
        x, m = stack_tensors(frames, masks, self.device)
        t, c, h, w = x.shape
        m = m & torch.isfinite(x).all(1)
        clearance = m.float().mean((1, 2))
        order = torch.argsort(-clearance, stable=True)
        keep = order[: self.max_frames]
        if len(order) > self.max_frames and clearance[keep].min() == 0:
            keep = keep[clearance[keep] > 0] if (clearance[keep] > 0).any() else keep[:1]
        x, m = x[keep], m[keep]
        if self.align and len(x) > 1 and min(h, w) >= 8:
            x, m = self._align(x, m)
        if self.net_bands == 1:
            outs = [self._run(x[:, i : i + 1], m) for i in range(c)]
            y = torch.cat([o[0] for o in outs], 0)
            sig = None if outs[0][1] is None else torch.cat([o[1] for o in outs], 0)
        else:
            if c != self.net_bands:
                raise OptionError(f"{self.describe()} takes {self.net_bands} bands, got {c}")
            y, sig = self._run(x, m)
        return like_input(y, frames), (None if sig is None else like_input(sig, frames))

    def _align(self, x: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        frames = x.detach().cpu().double().numpy()
        masks = m.detach().cpu().numpy()
        usable = masks.reshape(len(masks), -1).mean(1) > 0.05
        shifts = np.zeros((len(frames), 2))
        if usable[0]:
            idx = np.flatnonzero(usable)
            regs = register_stack(frames[idx], masks[idx], reference=0, refine=False)
            shifts[idx] = [r.shift for r in regs]
        self.last_shifts = shifts
        return integer_align(x, m, shifts)

    def _run(self, x: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if not self.tta:
            return self._run_once(x, m)
        # self-ensemble over the 8 flips/rotations (the sensor model is symmetric): each result is
        # mapped back and averaged, which cancels orientation-dependent artefacts of the network
        ys, sigs = [], []
        for k in range(4):
            for flip in (False, True):
                xt, mt = torch.rot90(x, k, (-2, -1)), torch.rot90(m, k, (-2, -1))
                if flip:
                    xt, mt = xt.flip(-1), mt.flip(-1)
                y, sig = self._run_once(xt, mt)
                if flip:
                    y = y.flip(-1)
                    sig = None if sig is None else sig.flip(-1)
                ys.append(torch.rot90(y, -k, (-2, -1)))
                if sig is not None:
                    sigs.append(torch.rot90(sig, -k, (-2, -1)))
        return torch.stack(ys).mean(0), (torch.stack(sigs).mean(0) if sigs else None)

    def _run_once(self, x: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        prep = prepare(x[None], m[None], match=self.net.match)
        h, w = x.shape[-2:]
        s = self.scale
        if max(h, w) <= self.tile:
            res, log_sig = self.net.core(prep)
        else:
            res = torch.zeros(1, x.shape[1], h * s, w * s, device=x.device)
            log_sig = None
            step, ctx = self.tile, self.context
            for y0 in range(0, h, step):
                for x0 in range(0, w, step):
                    y1, x1 = min(y0 + step, h), min(x0 + step, w)
                    a0, b0 = max(y0 - ctx, 0), max(x0 - ctx, 0)
                    a1, b1 = min(y1 + ctx, h), min(x1 + ctx, w)
                    r, ls = self.net.core(prep.crop(a0, a1, b0, b1))
                    win = (slice(None), slice(None), slice((y0 - a0) * s, (y1 - a0) * s),
                           slice((x0 - b0) * s, (x1 - b0) * s))
                    res[..., y0 * s : y1 * s, x0 * s : x1 * s] = r[win]
                    if ls is not None:
                        if log_sig is None:
                            log_sig = torch.zeros_like(res)
                        log_sig[..., y0 * s : y1 * s, x0 * s : x1 * s] = ls[win]
        y = self.net.compose(prep, res)[0]
        sig = None if log_sig is None else (torch.exp(log_sig.float()) * prep.s)[0]
        return y, sig


def wrap_fuser(net: MISRNet, *, name: str, scale: int, card: ModelCard | None = None, device: str = "cpu",
               margin: int = 0, bands: int = 1, per_band: bool = False, **options: object) -> NeuralFuser:
    """The registry's wrapper for every deep multi-image family: the built network as a ``Fuser``
    (``options``: ``NeuralFuser``'s, e.g. ``max_frames``, ``tta``)."""
    return NeuralFuser(net, name=name, scale=scale, card=card, device=device, **options)  # type: ignore[arg-type]


def count_parameters(net: nn.Module) -> int:
    return int(sum(p.numel() for p in net.parameters()))


def as_numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy()
