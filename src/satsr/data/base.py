"""What every public-dataset reader of ``satsr.data`` shares: the sample dictionaries, deterministic
non-overlapping splits, the registry of dataset kinds by name, and a ``DataLoader`` that reports a bad
file found in a worker as the one-line error itself.

A dataset is an indexable ``torch`` ``Dataset`` over one split (``train``, ``val`` or ``test``) of a
root folder in the dataset's published layout. The layout is checked when the dataset is built
(folders, file pairing, sizes from the headers), so a wrong root, a missing partner file or an LR/HR
size mismatch is one ``InputError`` naming the file before anything trains. Items are dictionaries of
float32 arrays in the files' own units (``value_scale`` says what to divide by for network units):

* ``produces == "pairs"``: ``{"lr": (C, h, w), "hr": (C, h*scale, w*scale), "name"}``;
* ``"hr"``: ``{"hr": (C, H, W), "name"}`` (HR images only; training degrades them on the fly);
* ``"stacks"``: ``{"lr": (T, C, h, w), "qm": (T, h, w) bool, "hr": (C, H, W), "sm": (H, W) bool, "name"}``
  with frames clearest first (the ``Fuser`` contract); test scenes may have no ``hr``/``sm``;
* ``"guided"``: ``{"guide": (g, ...), "lowres": (c, h, w), "target": (c, ...), "name"}``.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch.utils.data import Dataset

from satsr.errors import InputError, OptionError, SatsrError
from satsr.io.image import value_scale_of  # noqa: F401 - re-exported: the datasets import it from here

SPLITS = ("train", "val", "test")
Sample = dict[str, Any]


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise OptionError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    return split


def _rank(key: str) -> str:
    # sha256 rather than hash(): the same key must land in the same split in every process and run
    return hashlib.sha256(key.encode()).hexdigest()


def split_keys(keys: Sequence[str], val_fraction: float, test_fraction: float = 0.0) -> dict[str, str]:
    """Each key's split, deterministically and without overlap.

    Keys are ordered by a hash of their text; the first ``round(n * test_fraction)`` are ``test``, the
    next ``round(n * val_fraction)`` ``val`` (at least one each when the fraction is positive and
    there are keys to spare), the rest ``train``. A key's place depends only on its own text and on
    the set, so a split never moves between runs or machines. Group keys (a scene, an acquisition,
    an area) keep related samples in one split.
    """
    for name, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= f < 1.0:
            raise OptionError(f"{name} must be in [0, 1), got {f}")
    unique = sorted(set(keys), key=_rank)
    n = len(unique)

    def count(f: float, left: int) -> int:
        return min(max(round(n * f), 1 if f > 0 and left > 1 else 0), max(left - 1, 0))

    n_test = count(test_fraction, n)
    n_val = count(val_fraction, n - n_test)
    out = {k: "test" for k in unique[:n_test]}
    out.update({k: "val" for k in unique[n_test:n_test + n_val]})
    out.update({k: "train" for k in unique[n_test + n_val:]})
    return out


def check_root(root: str | os.PathLike[str], layout: str) -> Path:
    """``root`` as a folder; an ``InputError`` saying which layout was expected otherwise."""
    r = Path(root)
    if not r.is_dir():
        raise InputError(f"{r}: no such folder; give the dataset's root folder ({layout})")
    return r


class SampleDataset(Dataset):
    """Base class of the dataset kinds (see the module docstring). Subclasses fill ``items`` (one
    entry per sample) and ``names`` in ``__init__`` and implement ``load``."""

    kind: ClassVar[str] = ""
    produces: str = "pairs"
    layout: ClassVar[str] = ""  # one line describing the published layout, for error messages

    def __init__(self, root: str | os.PathLike[str], split: str = "train") -> None:
        self.root = check_root(root, self.layout)
        self.split = check_split(split)
        self.items: list[Any] = []
        self.names: list[str] = []
        self.scale: int | None = None
        self.value_scale = 1.0
        self.lr_value_scale: float | None = None  # when the low-res side has other units than the HR

    @property
    def input_value_scale(self) -> float:
        return self.value_scale if self.lr_value_scale is None else self.lr_value_scale

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Sample:
        return self.load(index)

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self.load(i)

    def load(self, index: int) -> Sample:  # pragma: no cover - interface
        raise NotImplementedError

    def check(self) -> None:
        """Decode every sample once: a truncated or corrupt file fails here, as one ``InputError``."""
        for i in range(len(self)):
            self.load(i)

    def require(self, what: str = "samples") -> SampleDataset:
        """Self, or an ``InputError`` when the split is empty."""
        if not self.items:
            raise InputError(f"{self.root}: the {self.split} split of this {self.kind} dataset has no {what}")
        return self

    def describe(self) -> str:
        scale = f", x{self.scale}" if self.scale else ""
        return f"{self.kind} {self.split}: {len(self)} samples ({self.produces}{scale}) from {self.root}"


def worker_message(text: str) -> str:
    """The one-line message of an error re-raised from a ``DataLoader`` worker (torch prefixes it with
    the worker's whole traceback); other messages unchanged."""
    if not text.startswith("Caught "):
        return text
    last = [line for line in text.strip().splitlines() if line.strip()][-1]
    _, sep, message = last.partition(": ")
    return message if sep else last


class DataLoader(torch.utils.data.DataLoader):
    """``torch.utils.data.DataLoader`` whose workers' ``SatsrError``s arrive as the original one-line
    error (same class), not wrapped in the worker's traceback."""

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        it = super().__iter__()
        while True:
            try:
                batch = next(it)
            except StopIteration:
                return
            except SatsrError as exc:
                raise type(exc)(worker_message(str(exc))) from None
            yield batch


# ----------------------------------------------------------------------------- registry of kinds

_KINDS: dict[str, type[SampleDataset]] = {}
# modules whose classes register themselves (explicit, like the model registry)
_MODULES = ("satsr.data.pairs", "satsr.data.probav", "satsr.data.worldstrat", "satsr.data.sen2venus",
            "satsr.data.cubes", "satsr.data.video")


def register_dataset(cls: type[SampleDataset]) -> type[SampleDataset]:
    """Class decorator: make ``cls`` available under ``cls.kind``."""
    if cls.kind in _KINDS and _KINDS[cls.kind] is not cls:
        raise RuntimeError(f"dataset kind {cls.kind!r} registered twice")
    _KINDS[cls.kind] = cls
    return cls


def dataset_kinds() -> dict[str, type[SampleDataset]]:
    """Every registered dataset kind by name."""
    for mod in _MODULES:
        importlib.import_module(mod)
    return dict(sorted(_KINDS.items()))


def dataset_options(kind: str) -> list[str]:
    """The options a dataset kind takes (besides ``root`` and ``split``)."""
    params = inspect.signature(get_kind(kind).__init__).parameters
    return [p for p in params if p not in ("self", "root", "split")]


def get_kind(kind: str) -> type[SampleDataset]:
    kinds = dataset_kinds()
    if kind not in kinds:
        raise OptionError(f"unknown dataset {kind!r}; known datasets: {', '.join(kinds)}")
    return kinds[kind]


def open_dataset(kind: str, root: str | os.PathLike[str], split: str = "train", **options: Any) -> SampleDataset:
    """The ``split`` of dataset ``kind`` at ``root``; options the kind does not take are one ``OptionError``."""
    cls = get_kind(kind)
    known = dataset_options(kind)
    bad = sorted(set(options) - set(known))
    if bad:
        raise OptionError(f"dataset {kind!r} does not take option(s) {', '.join(bad)}; it takes: {', '.join(known)}")
    return cls(root, split=split, **options)
