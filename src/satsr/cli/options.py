"""Parsers for the option values every command shares: band lists, integer and number lists, and
``KEY=VALUE`` model options. Each turns a bad value into one ``OptionError`` line naming the option."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from satsr.errors import OptionError


def _parts(text: str, option: str, example: str) -> list[str]:
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise OptionError(f"{option} {text!r}: give values separated by single commas, e.g. {example}")
    return parts


def _parse_list(text: str | None, option: str, kind: type, what: str, example: str) -> list[Any] | None:
    if text is None:
        return None
    try:
        return [kind(p) for p in _parts(text, option, example)]
    except ValueError as exc:
        raise OptionError(f"{option} {text!r}: give {what} separated by commas, e.g. {example}") from exc


def parse_ints(text: str | None, option: str, example: str = "1,2,3") -> list[int] | None:
    """``"3,2,1"`` -> ``[3, 2, 1]``; None stays None."""
    return _parse_list(text, option, int, "integers", example)


def parse_bands(text: str | None, option: str = "--bands") -> list[int] | None:
    """``"4,3,2"`` -> ``[4, 3, 2]``: 1-based band numbers in the order given, each at most once."""
    if text is None:
        return None
    try:
        bands = parse_ints(text, option)
    except OptionError:
        bands = None
    if not bands or min(bands) < 1:
        raise OptionError(f"{option} {text!r}: give 1-based band numbers separated by commas, e.g. 1,2,3")
    repeated = sorted({b for b in bands if bands.count(b) > 1})
    if repeated:
        raise OptionError(f"{option} {text!r}: band {repeated[0]} is given twice; name each band once")
    return bands


def parse_numbers(text: str | None, option: str, example: str = "0,1") -> list[float] | None:
    """``"0,1"`` -> ``[0.0, 1.0]``; None stays None."""
    return _parse_list(text, option, float, "numbers", example)


def parse_value(text: str) -> Any:
    """``"true"`` -> True, ``"3"`` -> 3, ``"0.75"`` -> 0.75, anything else stays a string."""
    low = text.strip().lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_options(items: Sequence[str] | None, option: str = "--set") -> dict[str, Any]:
    """``["sigma=0.75", "robust_iterations=0", "normalize=false"]`` -> keyword options for a model."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise OptionError(f"{option} {item!r}: expected KEY=VALUE, e.g. {option} sigma=0.75")
        out[key.strip()] = parse_value(text)
    return out


def parse_region(text: str | None, option: str = "--region") -> list[int | None] | None:
    """``"64,-1,0,-1"`` -> ``[64, None, 0, None]``: a rectangle ROW0,ROW1,COL0,COL1 in pixels, -1 = the edge."""
    values = parse_ints(text, option, "64,-1,0,-1")
    if values is None:
        return None
    if len(values) != 4 or any(v < -1 for v in values):
        raise OptionError(f"{option} {text!r}: give ROW0,ROW1,COL0,COL1 (pixels, -1 = to the edge), e.g. 64,-1,0,-1")
    return [None if v == -1 else v for v in values]


_SIZE_UNITS = {"": 1e9, "b": 1.0, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
               "kib": 1024.0, "mib": 1024.0**2, "gib": 1024.0**3}


def parse_size(text: str, option: str) -> float:
    """``"1.5GB"``, ``"800MB"``, ``"2g"``, ``"1.5"`` (gigabytes) -> bytes."""
    raw = text.strip().lower().replace(" ", "")
    number = raw.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = raw[len(number):]
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if unit not in _SIZE_UNITS or value <= 0:
        raise OptionError(f"{option} {text!r}: give a size such as 1.5GB or 800MB")
    return value * _SIZE_UNITS[unit]

