"""Classical multi-image super-resolution: the PROBA-V baseline, masked median, shift-and-add.

All three implement the ``Fuser`` contract: frames ``(T, bands, h, w)`` (clearest first) and clear masks
``(T, h, w)`` -> ``(bands, h*scale, w*scale)``. Values are used as given (no normalisation needed: the
methods are linear or order statistics).

* ``baseline`` - the PROBA-V challenge's official baseline: bicubic upscaling (scikit-image ``rescale``,
  order 3, edge mode, no anti-aliasing) of the frames with the largest number of clear pixels,
  averaged. Its challenge score is 1.0 by construction.
* ``median`` - per HR pixel, the median of the bicubic-upscaled frames over the frames clear there
  (all frames where none is).
* ``shiftadd`` - shift-and-add: every frame is registered to a common reference with sub-pixel
  accuracy (``satsr.ops.registration``, clouds masked), its brightness matched to the reference (gain and
  offset per band over the pixels clear in both), then every clear LR sample is splatted with a
  small Gaussian kernel at its true (shifted) position on the HR grid and the weighted samples are
  averaged (Nadaraya-Watson kernel regression), with frames weighted by their agreement with the
  consensus and outlying samples (clouds the quality maps missed) down-weighted by a robust
  re-weighting. HR pixels that no clear sample reaches take the median fusion's value.
"""

from __future__ import annotations

import warnings

import numpy as np

from satsr.arrays import Array, like_input, to_tensor
from satsr.models.base import Fuser
from satsr.models.registry import register
from satsr.ops.registration import (
    Registration,
    apply_shift,
    fill_masked,
    masked_mean,
    register_stack,
    shift_mask,
)

SCALES = (2, 3, 4)


def bicubic_upscale(image: np.ndarray, scale: int) -> np.ndarray:
    """The challenge's bicubic: ``skimage.transform.rescale(order=3, mode='edge', anti_aliasing=False)``.

    ``image`` is ``(h, w)`` or ``(bands, h, w)``; values keep their range (``preserve_range``), and
    like the challenge's code the result is clipped to the input's range (scikit-image's default).
    """
    img = np.asarray(image, np.float64)
    axis = 0 if img.ndim == 3 else None
    from skimage.transform import rescale  # imported when needed: it loads scipy.signal (about 1 s)

    return rescale(img, scale, order=3, mode="edge", anti_aliasing=False, preserve_range=True, channel_axis=axis)


def _as_numpy(frames: Array, masks: Array | None) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``(T, bands, h, w)`` float64 and masks ``(T, h, w)`` bool, checked."""
    f = frames.detach().cpu().numpy() if hasattr(frames, "detach") else np.asarray(frames)
    f = np.asarray(f, np.float64)
    if f.ndim == 3:  # (T, h, w): one band
        f = f[:, None]
    if f.ndim != 4 or f.shape[0] == 0:
        raise ValueError(f"expected frames (T, bands, h, w), got shape {f.shape}")
    if masks is None:
        m = np.ones((f.shape[0], *f.shape[-2:]), bool)
    else:
        m = masks.detach().cpu().numpy() if hasattr(masks, "detach") else np.asarray(masks)
        m = np.asarray(m).astype(bool)
        if m.ndim == 4 and m.shape[1] == 1:
            m = m[:, 0]
    if m.shape != (f.shape[0], *f.shape[-2:]):
        raise ValueError(f"masks {m.shape} do not match frames {f.shape} (expected (T, h, w))")
    return f, m


def _output(y: np.ndarray, frames: Array) -> Array:
    return like_input(to_tensor(y.astype(np.float32)), frames)


class ClassicalFuser(Fuser):
    """Common base: scale checking and numpy conversion; subclasses implement ``fuse_numpy``."""

    scales = SCALES

    def __init__(self, scale: int = 3) -> None:
        if scale not in SCALES:
            raise ValueError(f"{self.name} supports scales {SCALES}, not {scale}")
        self.scale = int(scale)

    def fuse_numpy(self, frames: np.ndarray, masks: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def fuse_with_uncertainty(self, frames: Array, masks: Array) -> tuple[Array, Array | None]:
        f, m = _as_numpy(frames, masks)
        return _output(self.fuse_numpy(f, m), frames), None


class BaselineFuser(ClassicalFuser):
    """The PROBA-V baseline: mean of the bicubic-upscaled frames having the most clear pixels."""

    name = "baseline"

    def fuse_numpy(self, frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
        counts = masks.reshape(len(masks), -1).sum(1)
        chosen = np.flatnonzero(counts == counts.max())
        return np.mean([bicubic_upscale(frames[i], self.scale) for i in chosen], axis=0)


def upscale_mask(mask: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscale of ``(..., h, w)`` masks: each LR pixel becomes scale x scale."""
    return np.repeat(np.repeat(mask, scale, axis=-2), scale, axis=-1)


def masked_median(stack: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per-pixel median over the axis-0 samples that are clear; all samples where none is.

    ``stack`` is ``(T, bands, H, W)``, ``masks`` ``(T, H, W)``.
    """
    m = np.broadcast_to(masks[:, None], stack.shape)
    any_clear = m.any(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices are replaced below
        med = np.nanmedian(np.where(m, stack, np.nan), axis=0)
    return np.where(any_clear, med, np.median(stack, axis=0))


class MedianFuser(ClassicalFuser):
    """Masked per-pixel median of the bicubic-upscaled frames (robust to residual clouds)."""

    name = "median"

    def fuse_numpy(self, frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
        up = np.stack([bicubic_upscale(f, self.scale) for f in frames])
        return masked_median(up, upscale_mask(masks, self.scale))


def match_brightness(aligned: np.ndarray, masks: np.ndarray, reference: np.ndarray,
                     ref_mask: np.ndarray, min_pixels: int = 64) -> np.ndarray:
    """Per frame and band, the gain and offset ``(T, bands, 2)`` that map the frame onto ``reference``
    (least squares over pixels clear in both); identity where too few pixels are shared."""
    t, b = aligned.shape[:2]
    out = np.zeros((t, b, 2))
    out[..., 0] = 1.0
    for i in range(t):
        use = masks[i] & ref_mask
        if use.sum() < min_pixels:
            continue
        for k in range(b):
            x, y = aligned[i, k][use], reference[k][use]
            xv = x - x.mean()
            var = float((xv * xv).sum())
            if var <= 0:
                continue
            g = float((xv * (y - y.mean())).sum() / var)
            out[i, k] = (g, y.mean() - g * x.mean())
    return out


def splat(samples: np.ndarray, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray,
          out_shape: tuple[int, int], sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Accumulate samples at sub-pixel HR positions with a Gaussian kernel.

    ``samples`` ``(bands, n)``, ``rows``/``cols`` ``(n,)`` in HR pixel coordinates (pixel centres at
    integers), ``weights`` ``(n,)``. Returns the weighted sums ``(bands, H, W)`` and the weight sums
    ``(H, W)``. Hand-written (np.bincount over kernel taps) because no library splats scattered
    samples onto a grid with a kernel.
    """
    hh, ww = out_shape
    radius = max(1, int(np.ceil(3 * sigma)))
    r0, c0 = np.rint(rows).astype(int), np.rint(cols).astype(int)
    num = np.zeros((samples.shape[0], hh * ww))
    den = np.zeros(hh * ww)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            rr, cc = r0 + dy, c0 + dx
            ok = (rr >= 0) & (rr < hh) & (cc >= 0) & (cc < ww)
            k = np.exp(-((rr - rows) ** 2 + (cc - cols) ** 2) / (2 * sigma**2)) * weights
            idx = (rr * ww + cc)[ok]
            kw = k[ok]
            den += np.bincount(idx, kw, hh * ww)
            for b in range(samples.shape[0]):
                num[b] += np.bincount(idx, kw * samples[b][ok], hh * ww)
    return num.reshape(-1, hh, ww), den.reshape(hh, ww)


class ShiftAddFuser(ClassicalFuser):
    """Shift-and-add with sub-pixel registration, brightness matching and Gaussian splatting.

    Args:
        scale: upscaling factor.
        sigma: Gaussian splat kernel's standard deviation in HR pixels. Default ``scale / 6``
            (0.5 HR px at x3): a kernel about one HR pixel wide at half maximum, so a sample only
            informs the HR pixel it lands in and its neighbours (kernel regression adds almost no
            blur to the sensor's own) while a dozen randomly shifted frames still cover the grid.
        reference: registration reference, a frame index or ``"mean"`` (see ``register_stack``).
        normalize: match each frame's brightness to the reference before adding (revisits differ
            by 10-35 % in gain; without this, shift-and-add loses to the baseline badly).
        min_clearance: frames whose fraction of clear pixels is below ``min_clearance`` times the
            clearest frame's are not used (0 = all frames). Cloudier frames carry more of what
            quality maps miss (cloud edges, haze, shadows).
        frame_weights: weight frames by their inverse residual variance against the reference.
        robust_iterations: re-weighting passes that down-weight outlying samples (Tukey biweight
            against the current estimate): clouds and shadows the quality maps missed.
        mask_buffer: LR pixels around every flagged cloud pixel also treated as cloudy (default 0:
            it added nothing on top of the robust weights in simulation).
        refine: least-squares refinement of the phase-correlation shifts (``satsr.ops.registration``).

    The defaults were chosen on simulated PROBA-V-like revisits (``benchmarks/misr_simulated.py``,
    see BENCHMARKS.md), never on the scenes used for evaluation.
    """

    name = "shiftadd"

    def __init__(self, scale: int = 3, sigma: float | None = None, reference: int | str = "mean",
                 normalize: bool = True, min_clearance: float = 0.9, refine: bool = True,
                 frame_weights: bool = True, robust_iterations: int = 2, mask_buffer: int = 0) -> None:
        super().__init__(scale)
        self.sigma = float(sigma) if sigma is not None else self.scale / 6
        self.reference = reference
        self.normalize = normalize
        self.min_clearance = float(min_clearance)
        self.refine = refine
        self.frame_weights = frame_weights
        self.robust_iterations = int(robust_iterations)
        self.mask_buffer = int(mask_buffer)
        self.last_registrations: list[Registration] = []

    def select_frames(self, masks: np.ndarray) -> np.ndarray:
        """Indices of the frames used: clearance >= ``min_clearance`` x the best clearance."""
        clear = masks.reshape(len(masks), -1).mean(1)
        keep = np.flatnonzero(clear >= self.min_clearance * clear.max())
        return keep if keep.size else np.array([int(np.argmax(clear))])

    def prepare_masks(self, masks: np.ndarray) -> np.ndarray:
        """The clear masks with ``mask_buffer`` px of every cloud also treated as cloudy."""
        if self.mask_buffer <= 0:
            return masks
        from scipy import ndimage  # imported when used (start-up time of every command)

        return np.stack([ndimage.binary_erosion(m, iterations=self.mask_buffer, border_value=1) for m in masks])

    def fuse_numpy(self, frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
        keep = self.select_frames(masks)
        f, m = frames[keep], self.prepare_masks(masks[keep])
        regs = register_stack(f, m, reference=self.reference, refine=self.refine)
        self.last_registrations = regs
        return self.fuse_registered(f, m, np.array([r.shift for r in regs]))

    def fuse_registered(self, frames: np.ndarray, masks: np.ndarray, shifts: np.ndarray) -> np.ndarray:
        """Brightness matching, weighting and splatting of registered frames (``shifts`` ``(T, 2)``)."""
        s = self.scale
        f, m = frames, masks
        t, b, h, w = f.shape
        frame_w = np.ones(t)
        if self.normalize or self.frame_weights:
            filled = np.stack([[fill_masked(f[i, k], m[i]) for k in range(b)] for i in range(t)])
            aligned = np.stack([apply_shift(filled[i], shifts[i]) for i in range(t)])
            amask = np.stack([shift_mask(m[i], shifts[i]) for i in range(t)])
            ref = np.stack([masked_mean(aligned[:, k], amask)[0] for k in range(b)])
            go = match_brightness(aligned, amask, ref, amask.any(0)) if self.normalize else None
            if go is not None:
                f = f * go[..., 0][..., None, None] + go[..., 1][..., None, None]
                aligned = aligned * go[..., 0][..., None, None] + go[..., 1][..., None, None]
            if self.frame_weights:
                frame_w = residual_weights(aligned, amask, ref)
        # LR pixel (i, j) of frame t lies at reference coordinate (i + dy_t, j + dx_t); LR pixel
        # centres sit at HR coordinate s * i + (s - 1) / 2 (the grid rescale() uses).
        ii, jj = np.mgrid[0:h, 0:w].astype(np.float64)
        rows = np.concatenate([s * (ii[m[i]] + shifts[i, 0]) + (s - 1) / 2 for i in range(t)])
        cols = np.concatenate([s * (jj[m[i]] + shifts[i, 1]) + (s - 1) / 2 for i in range(t)])
        vals = np.concatenate([f[i][:, m[i]] for i in range(t)], axis=1)
        base_w = np.concatenate([np.full(int(m[i].sum()), frame_w[i]) for i in range(t)])
        fallback = MedianFuser(s).fuse_numpy(f, m)
        # The fallback acts as one weak extra sample: it decides only where no clear sample reached.
        w0 = 1e-3 * float(base_w.max(initial=1.0))
        num, den = splat(vals, rows, cols, base_w, (h * s, w * s), self.sigma)
        est = (num + w0 * fallback) / (den + w0)
        for _ in range(self.robust_iterations):
            sw = base_w * tukey_weights(vals, rows, cols, est)
            num, den = splat(vals, rows, cols, sw, (h * s, w * s), self.sigma)
            est = (num + w0 * fallback) / (den + w0)
        return est


def residual_weights(aligned: np.ndarray, amask: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Inverse-variance frame weights ``(T,)``: 1 / mean squared residual of each aligned,
    brightness-matched frame against the reference over its clear pixels, scaled to a maximum of 1.
    A frame that disagrees with the consensus (haze, changes, a poor registration) counts less."""
    t = aligned.shape[0]
    var = np.full(t, np.nan)
    for i in range(t):
        if amask[i].sum() >= 16:
            var[i] = float(np.mean((aligned[i][:, amask[i]] - ref[:, amask[i]]) ** 2))
    if not np.isfinite(var).any():
        return np.ones(t)
    floor = max(float(np.nanmedian(var)) * 1e-2, 1e-12)  # no frame may dominate on luck alone
    var = np.where(np.isfinite(var), np.maximum(var, floor), np.nanmax(var))
    wts = 1.0 / var
    return wts / wts.max()


def tukey_weights(vals: np.ndarray, rows: np.ndarray, cols: np.ndarray, estimate: np.ndarray,
                  c: float = 4.685) -> np.ndarray:
    """Tukey biweight of every sample's residual against the current HR estimate (read at the
    sample's position, bilinear). The scale is the residuals' MAD, so ``c = 4.685`` keeps 95 %
    efficiency on Gaussian noise while samples from undetected clouds or shadows get weight 0."""
    coords = np.stack([rows, cols])
    from scipy import ndimage  # imported when used (start-up time of every command)

    pred = np.stack([ndimage.map_coordinates(band, coords, order=1, mode="nearest") for band in estimate])
    r = np.sqrt(np.mean((vals - pred) ** 2, axis=0))
    scale = 1.4826 * float(np.median(np.abs(r)))
    if scale <= 0:
        return np.ones(r.size)
    u = r / (c * scale)
    return np.where(u < 1, (1 - u**2) ** 2, 0.0)


@register("baseline", kind="misr", neural=False, scales=SCALES,
          description="PROBA-V official baseline: bicubic of the clearest frames, averaged",
          paper="Maertens et al., PROBA-V Super Resolution challenge (ESA Kelvins, 2019)")
def build_baseline(scale: int) -> BaselineFuser:
    return BaselineFuser(scale)


@register("median", kind="misr", neural=False, scales=SCALES,
          description="masked per-pixel median of bicubic-upscaled frames")
def build_median(scale: int) -> MedianFuser:
    return MedianFuser(scale)


@register("shiftadd", kind="misr", neural=False, scales=SCALES,
          description="shift-and-add: sub-pixel registration, brightness matching, Gaussian splatting")
def build_shiftadd(scale: int, **options: object) -> ShiftAddFuser:
    return ShiftAddFuser(scale, **options)  # type: ignore[arg-type]
