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
