"""Overlapping spans along one axis and the blending weights that join them seamlessly.

Used by the tile engine (``satsr.tiling``) and by block-wise alignment (``satsr.ops.align``).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from satsr.errors import OptionError

Scale = int | Fraction


def as_scale(value: float | int | str | Fraction, max_denominator: int = 64) -> Scale:
    """A scale as an ``int`` when it is whole, else the nearest ``Fraction`` p/q with q <= ``max_denominator``
    (2.5 -> 5/2, 3.7 -> 37/10): exact integer arithmetic for output sizes and tile offsets."""
    f = Fraction(str(value)) if isinstance(value, str | float) else Fraction(value)
    f = f.limit_denominator(max_denominator)
    return int(f) if f.denominator == 1 else f


def parse_scale(scale: int | float | str | Fraction) -> Scale:
    """``4``, ``2.5``, ``"7/3"`` -> an int or exact Fraction above 1; anything else is one ``OptionError``."""
    try:
        s = as_scale(scale)
    except (ValueError, ZeroDivisionError) as exc:
        raise OptionError(f"--scale {scale!r}: give a number such as 2, 2.5 or 7/3") from exc
    if s <= 1:
        raise OptionError(f"--scale {scale!r}: must be larger than 1")
    if not isinstance(s, int) and abs(float(s) - float(Fraction(str(scale)))) > 1e-9:
        raise OptionError(f"--scale {scale!r}: use a ratio with a denominator up to 64 (e.g. {s}), so tiles "
                          "fall on whole output pixels")
    return s


def out_index(i: int, scale: Scale) -> int:
    """The output pixel where input pixel ``i``'s edge falls: ``floor(i * scale)`` (exact)."""
    return int(i * scale) if isinstance(scale, int) else (i * scale.numerator) // scale.denominator


def unit_of(scale: Scale) -> int:
    """Input px between tile offsets that fall on whole output pixels: the scale's denominator."""
    return 1 if isinstance(scale, int) else scale.denominator


def round_up(n: int, unit: int) -> int:
    return -(-n // unit) * unit


def axis_spans(n: int, tile: int, overlap: int, unit: int = 1) -> list[tuple[int, int]]:
    """Half-open spans of ``tile`` px covering ``[0, n)``, neighbours overlapping by ``overlap``.

    The step is ``tile - overlap``; the last span ends exactly at ``n`` (it may overlap its
    neighbour by more). One span when ``n <= tile``. With ``unit`` > 1 (a fractional scale p/unit),
    tile, overlap and every span start are multiples of ``unit``, so each span starts on a whole
    output pixel.
    """
    if tile <= 0 or overlap < 0 or overlap >= tile:
        raise ValueError(f"need tile > overlap >= 0, got tile={tile}, overlap={overlap}")
    if unit > 1:
        tile, overlap = round_up(tile, unit), round_up(overlap, unit) if overlap else 0
        if overlap >= tile:
            overlap = tile - unit
    if n <= tile:
        return [(0, n)]
    step = tile - overlap
    spans = []
    start = 0
    while start + tile < n:
        spans.append((start, start + tile))
        start += step
    last = (n - tile) // unit * unit
    spans.append((last, n))
    return spans


def feather_weights(spans: list[tuple[int, int]], scale: Scale) -> list[np.ndarray]:
    """Per-span 1-D blending weights at the output resolution, summing to 1 at every pixel.

    Each span ramps linearly (strictly positive) across its overlap with each neighbour; the raw
    ramps are divided by their sum, so products of row and column weights tile the plane exactly.
    Span ``(a, b)`` covers output pixels ``[out_index(a), out_index(b))``.
    """
    o = [(out_index(a, scale), out_index(b, scale)) for a, b in spans]
    raw: list[np.ndarray] = []
    total = np.zeros(o[-1][1], dtype=np.float64)
    for i, (a, b) in enumerate(o):
        w = np.ones(b - a, dtype=np.float64)
        if i > 0:
            ov = o[i - 1][1] - a
            if ov > 0:
                w[:ov] *= (np.arange(ov) + 0.5) / ov
        if i + 1 < len(o):
            ov = b - o[i + 1][0]
            if ov > 0:
                w[-ov:] *= (ov - np.arange(ov) - 0.5) / ov
        raw.append(w)
        total[a:b] += w
    return [(w / total[a:b]).astype(np.float32) for w, (a, b) in zip(raw, o, strict=True)]
