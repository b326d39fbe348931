"""Sub-pixel registration of co-located images (revisits of one scene), with cloud masks.

Convention (scikit-image's): ``register(reference, moving)`` returns the shift ``(dy, dx)`` in pixels
that, applied to ``moving`` with ``apply_shift``, aligns it with ``reference``. So if ``moving`` is
``reference`` displaced by ``+d``, the result is ``-d``.

How: phase correlation (``skimage.registration.phase_cross_correlation``, ``normalization=None`` and
``upsample_factor=100``: plain cross-correlation is more robust than phase normalisation on smooth,
noisy scenes and the upsampled DFT gives 1/100 px resolution), Hann-windowed, on images whose masked
pixels were filled with their nearest clear neighbour (scikit-image's masked variant only finds whole-pixel
shifts). Then an optional refinement that only looks at pixels clear in both images: least squares
over ``(dy, dx)`` of ``reference - (gain * shifted(moving) + offset)``, the gain and offset solved in
closed form at each step, so clouds, haze-free brightness differences between dates and the fill
values cannot pull the estimate. The fitted gain/offset are returned too (radiometric normalisation
for fusion).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from satsr.masking import fill_invalid


@dataclass(frozen=True)
class Registration:
    """Result of registering ``moving`` to ``reference``.

    ``shift``: ``(dy, dx)`` to apply to moving; ``gain``/``offset``: ``reference ~ gain * moving +
    offset`` over the jointly clear pixels after shifting; ``rms``: the residual RMS of that fit
    (NaN when no pixel was usable); ``overlap``: number of jointly clear pixels used.
    """

    shift: tuple[float, float]
    gain: float = 1.0
    offset: float = 0.0
    rms: float = float("nan")
    overlap: int = 0


def fill_masked(image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Float64 copy of a 2-D image whose masked pixels (mask False) take their nearest clear value.

    An image without any clear pixel is returned as is (nothing better is known).
    """
    img = np.asarray(image, dtype=np.float64)
    if mask is None or mask.all() or not mask.any():
        return img.copy()
    return fill_invalid(img[None], np.asarray(mask, bool)[None]).astype(np.float64)[0]


def apply_shift(image: np.ndarray, shift: Sequence[float], order: int = 3, mode: str = "nearest") -> np.ndarray:
    """Shift the last two axes of ``image`` by ``(dy, dx)`` px (cubic spline, edges extended)."""
    img = np.asarray(image, dtype=np.float64)
    full = (0.0,) * (img.ndim - 2) + (float(shift[0]), float(shift[1]))
    from scipy import ndimage  # imported when used (start-up time of every command)

    return ndimage.shift(img, full, order=order, mode=mode)


def shift_mask(mask: np.ndarray, shift: Sequence[float]) -> np.ndarray:
    """Where a shifted image is still backed by clear pixels: True only if every source pixel the
    bilinear footprint touches was clear (conservative, so cloud edges do not leak in)."""
    m = apply_shift(np.asarray(mask, np.float64), shift, order=1, mode="constant")
    return m > 1 - 1e-6


def phase_shift(reference: np.ndarray, moving: np.ndarray, reference_mask: np.ndarray | None = None,
                moving_mask: np.ndarray | None = None, upsample_factor: int = 100) -> tuple[float, float]:
    """Sub-pixel shift ``(dy, dx)`` aligning ``moving`` to ``reference`` by cross-correlation.

    Masked pixels are filled with their nearest clear neighbour first; each image's clear mean is
    removed so the fill and the zero padding of the FFT do not dominate the correlation.
    """
    ref = fill_masked(reference, reference_mask)
    mov = fill_masked(moving, moving_mask)
    ref -= ref[reference_mask].mean() if reference_mask is not None and reference_mask.any() else ref.mean()
    mov -= mov[moving_mask].mean() if moving_mask is not None and moving_mask.any() else mov.mean()
    # imported here: skimage.filters pulls in scipy.signal and scipy.stats (about 1 s), which every
    # `satsr upscale` would otherwise pay when the model registry loads the MISR family
    from skimage.filters import window
    from skimage.registration import phase_cross_correlation

    # A Hann window removes the jump at the borders of the FFT's periodic extension, which
    # otherwise biases the peak of smooth scenes by tenths of a pixel.
    win = window("hann", ref.shape)
    shift, _, _ = phase_cross_correlation(ref * win, mov * win, upsample_factor=upsample_factor,
                                          normalization=None)
    return float(shift[0]), float(shift[1])


def _fit_gain_offset(ref: np.ndarray, mov: np.ndarray) -> tuple[float, float]:
    """Least-squares ``ref ~ gain * mov + offset`` (gain 1 when ``mov`` is flat)."""
    mv = mov - mov.mean()
    var = float((mv * mv).sum())
    gain = float((mv * (ref - ref.mean())).sum() / var) if var > 0 else 1.0
    return gain, float(ref.mean() - gain * mov.mean())


def refine_shift(reference: np.ndarray, moving: np.ndarray, initial: Sequence[float],
                 reference_mask: np.ndarray | None = None, moving_mask: np.ndarray | None = None,
                 max_step: float = 1.0) -> Registration:
    """Refine ``initial`` by least squares over the pixels clear in both images (see module doc).

    The set of pixels compared is fixed at the initial shift (clear in both, shifted-in edges
    excluded) so the cost is smooth; the search stays within ``max_step`` px of ``initial``.
    """
    ref = np.asarray(reference, np.float64)
    mov = fill_masked(moving, moving_mask)
    h, w = ref.shape
    init = np.asarray(initial, np.float64)
    rmask = np.ones((h, w), bool) if reference_mask is None else np.asarray(reference_mask, bool)
    mmask = np.ones((h, w), bool) if moving_mask is None else np.asarray(moving_mask, bool)
    # pixels whose source lies inside the moving image for any shift within max_step of initial
    edge = int(np.ceil(np.abs(init).max() + max_step)) + 2
    inner = np.zeros((h, w), bool)
    if h > 2 * edge and w > 2 * edge:
        inner[edge:h - edge, edge:w - edge] = True
    from scipy import ndimage  # imported when used (start-up time of every command)

    use = rmask & inner & shift_mask(ndimage.binary_erosion(mmask, iterations=1, border_value=1), init)
    n = int(use.sum())
    if n < 16:
        return Registration(shift=(float(init[0]), float(init[1])), overlap=n)
    target = ref[use]

    def residual(s: np.ndarray) -> np.ndarray:
        shifted = apply_shift(mov, s)[use]
        g, o = _fit_gain_offset(target, shifted)
        return target - (g * shifted + o)

    from scipy import optimize  # imported when needed, as above

    res = optimize.least_squares(residual, init, bounds=(init - max_step, init + max_step),
                                 diff_step=1e-3, x_scale=0.1, xtol=1e-5)
    shifted = apply_shift(mov, res.x)[use]
    gain, offset = _fit_gain_offset(target, shifted)
    rms = float(np.sqrt(np.mean((target - gain * shifted - offset) ** 2)))
    return Registration(shift=(float(res.x[0]), float(res.x[1])), gain=gain, offset=offset, rms=rms, overlap=n)


def register(reference: np.ndarray, moving: np.ndarray, reference_mask: np.ndarray | None = None,
             moving_mask: np.ndarray | None = None, upsample_factor: int = 100,
             refine: bool = True) -> Registration:
    """Register a 2-D ``moving`` image to ``reference`` (masks: True = clear); see the module doc."""
    ref = np.asarray(reference, np.float64)
    mov = np.asarray(moving, np.float64)
    if ref.ndim != 2 or ref.shape != mov.shape:
        raise ValueError(f"expected two 2-D images of one size, got {ref.shape} and {mov.shape}")
    init = phase_shift(ref, mov, reference_mask, moving_mask, upsample_factor)
    if refine:
        return refine_shift(ref, mov, init, reference_mask, moving_mask)
    rmask = np.ones(ref.shape, bool) if reference_mask is None else np.asarray(reference_mask, bool)
    mmask = np.ones(ref.shape, bool) if moving_mask is None else np.asarray(moving_mask, bool)
    use = rmask & shift_mask(mmask, init)
    if use.sum() < 2:
        return Registration(shift=init, overlap=int(use.sum()))
    shifted = apply_shift(fill_masked(mov, mmask), init)[use]
    gain, offset = _fit_gain_offset(ref[use], shifted)
    rms = float(np.sqrt(np.mean((ref[use] - gain * shifted - offset) ** 2)))
    return Registration(shift=init, gain=gain, offset=offset, rms=rms, overlap=int(use.sum()))


def to_single_band(frames: np.ndarray) -> np.ndarray:
    """``(T, h, w)`` or ``(T, bands, h, w)`` -> ``(T, h, w)`` (band mean) for registration."""
    f = np.asarray(frames, np.float64)
    if f.ndim == 4:
        return f.mean(1)
    if f.ndim != 3:
        raise ValueError(f"expected (T, h, w) or (T, bands, h, w) frames, got shape {f.shape}")
    return f


def masked_mean(frames: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel mean of ``(T, h, w)`` frames over their clear samples, and where any was clear."""
    m = np.asarray(masks, np.float64)
    cnt = m.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (np.asarray(frames, np.float64) * m).sum(0) / cnt
    return np.where(cnt > 0, mean, np.asarray(frames, np.float64).mean(0)), cnt > 0


def register_stack(frames: np.ndarray, masks: np.ndarray | None = None, reference: int | str = 0,
                   upsample_factor: int = 100, refine: bool = True) -> list[Registration]:
    """Register every frame of a stack to a common reference; one ``Registration`` per frame.

    ``reference``: a frame index (that frame gets shift 0), or ``"mean"``: first register to the
    clearest frame (index 0 in a clearance-ordered stack), then to the masked mean of the frames
    aligned that way, which is less noisy than any one frame and not biased to one date.
    Multi-band frames are registered on their band mean.
    """
    f = to_single_band(frames)
    t = f.shape[0]
    m = np.ones(f.shape, bool) if masks is None else np.asarray(masks, bool)
    if m.shape != f.shape:
        raise ValueError(f"masks {m.shape} do not match frames {f.shape}")
    if isinstance(reference, str):
        if reference != "mean":
            raise ValueError(f"reference must be a frame index or 'mean', got {reference!r}")
        first = register_stack(f, m, 0, upsample_factor, refine=refine)
        aligned = np.stack([apply_shift(fill_masked(f[i], m[i]), r.shift) for i, r in enumerate(first)])
        amask = np.stack([shift_mask(m[i], r.shift) for i, r in enumerate(first)])
        ref_img, ref_mask = masked_mean(aligned, amask)
        return [register(ref_img, f[i], ref_mask, m[i], upsample_factor, refine) for i in range(t)]
    ri = int(reference)
    if not -t <= ri < t:
        raise ValueError(f"reference index {ri} out of range for {t} frames")
    out = []
    for i in range(t):
        if i == ri % t:
            out.append(Registration(shift=(0.0, 0.0), overlap=int(m[i].sum())))
        else:
            out.append(register(f[ri], f[i], m[ri], m[i], upsample_factor, refine))
    return out
