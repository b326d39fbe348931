"""The three model contracts (``typing.Protocol``), their base classes, and the model card.

* single image (``SingleImageModel``, base ``Upscaler``): ``(bands, h, w)`` -> ``(bands, h*scale, w*scale)``;
* multi image (``MultiImageModel``, base ``Fuser``): frames ``(T, bands, h, w)`` + clear masks ``(T, h, w)``
  -> ``(bands, H, W)``, optionally with a per-pixel uncertainty;
* guided (``GuidedModel``, base ``GuidedUpscaler``): high-res guide ``(g, H, W)`` + low-res bands
  ``(c, h, w)`` -> ``(c, H, W)`` with ``H = h * ratio``.

Values reaching ``__call__`` are normalised (divided by ``value_scale``, from the model card); models
never see files, nodata or dtypes. The ``apply`` methods are the one place where data units meet model
units: callers hand data-unit arrays to ``apply`` and get data units back. Classical methods and neural
networks implement the same contracts, so tiling, evaluation and figures never care which one runs.
Callers read the attributes the Protocols declare; the base classes give every optional hook a default
(``margin`` 0, ``output_groups`` 1, ``call_masked`` = ``__call__``, ``fit`` does nothing).

``fit`` is the scene-level hook of the single-image and guided contracts: drivers call it once before
tiling, with a representative sample of the scene, so that a model that learns from its input (HPI's
global regression; the zero-shot ``zssr``, ``dip`` and ``rfsr self=true``) learns once and every tile then
runs the same fitted model.
"""

from __future__ import annotations

import contextlib
import json
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from satsr.arrays import Array, like_input, to_numpy, to_tensor
from satsr.errors import ModelError, OptionError
from satsr.ops.spans import out_index

# ``progress`` callback of ``fit``: called with the share of the fit done (0..1)
FitProgress = Callable[[float], None]


@dataclass
class ModelCard:
    """What a set of weights is, how it was made and where it is valid.

    Stored as JSON beside the ``.safetensors`` file with the same stem.
    """

    id: str  # weights id, e.g. "edsr_x4"
    model: str  # registry name of the architecture, e.g. "edsr"
    scale: int
    bands: int  # band count the network takes (1 = applied to each band separately)
    per_band: bool = False  # True: a 1-band network run on every band of the input
    value_scale: float = 1.0  # inputs are divided by this before the network, outputs multiplied
    arch: dict[str, Any] = field(default_factory=dict)  # constructor kwargs
    kind: str = "sisr"  # sisr | misr | guided
    description: str = ""
    band_names: list[str] = field(default_factory=list)
    training: dict[str, Any] = field(default_factory=dict)  # data, command, iterations, seed, ...
    metrics: dict[str, Any] = field(default_factory=dict)  # measured validation numbers
    # where the weights can be trusted: {"sensor", "input_gsd_m": [lo, hi], "bands", "value_range": [lo, hi]
    # or None (any units), "trained_on", "note"} (older cards: free text); see ``validity_warnings``
    validity: dict[str, Any] | str = ""
    n_parameters: int = 0
    sha256: str = ""  # of the safetensors file

    @property
    def trained_on_real_pairs(self) -> bool:
        """Weights learned from real pairs of two sensors (``validity.trained_on`` starts with "REAL"): valid for
        that sensor pair, not for synthetic benchmarks (they learn the finer sensor's look)."""
        v = self.validity
        return isinstance(v, dict) and str(v.get("trained_on", "")).startswith("REAL")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, path: Path) -> ModelCard:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelError(f"{path}: cannot read model card ({exc}); reinstall satsr or pass a valid card") from exc
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ModelError(f"{path}: unknown model card fields {sorted(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ModelError(f"{path}: incomplete model card ({exc})") from exc



# How far outside a card's validity an input may be before `satsr upscale` warns: pixel sizes beyond
# this factor of the valid range, values beyond this factor of the valid maximum.
GSD_TOLERANCE = 2.5
VALUE_TOLERANCE = 4.0


def validity_warnings(card: ModelCard | None, gsd_m: float | None, sample: np.ndarray | None) -> list[str]:
    """Why an input looks far outside where ``card``'s weights are valid (empty when it does not, or
    when the card or the input says too little to tell): its pixel size in metres against
    ``validity.input_gsd_m``, the values of a ``sample`` of it against ``validity.value_range``."""
    if card is None or not isinstance(card.validity, dict):
        return []
    v = card.validity
    out = []
    lo_hi = v.get("input_gsd_m")
    if gsd_m is not None and lo_hi:
        lo, hi = float(lo_hi[0]), float(lo_hi[1])
        if gsd_m < lo / GSD_TOLERANCE or gsd_m > hi * GSD_TOLERANCE:
            out.append(f"the input's pixels are {gsd_m:g} m; {card.id} is valid for {lo:g}-{hi:g} m inputs "
                       f"({v.get('sensor', 'see its card')})")
    vr = v.get("value_range")
    if sample is not None and vr and sample.size:
        finite = sample[np.isfinite(sample)]
        if finite.size:
            p99 = float(np.percentile(finite, 99))
            if p99 > float(vr[1]) * VALUE_TOLERANCE or p99 < float(vr[1]) / (VALUE_TOLERANCE * 8):
                out.append(f"the input's values reach {p99:g} (99th percentile); {card.id} expects values in "
                           f"{vr[0]:g}-{vr[1]:g}")
    return out


# ----------------------------------------------------------------------------- the contracts


@runtime_checkable
class SingleImageModel(Protocol):
    """What callers (tiling, trust, evaluation, figures) use of a single-image model."""

    name: str
    scale: int | Fraction  # a Fraction only for models with continuous scales (``call_sized``)
    margin: int  # input px of context each side so that a tile's centre equals the whole-image result
    bands: tuple[int, ...] | None  # band counts it accepts (None = any)
    output_groups: int  # k > 1: returns k images of C bands stacked on the band axis (image + maps)
    card: ModelCard | None

    @property
    def value_scale(self) -> float: ...

    def __call__(self, x: Array) -> Array: ...

    def call_masked(self, x: np.ndarray, valid: np.ndarray | None) -> Array: ...

    def fit(self, x: np.ndarray | None, valid: np.ndarray | None = None,
            progress: FitProgress | None = None) -> None: ...

    def apply(self, x: np.ndarray, valid: np.ndarray | None = None, out_dtype: Any = np.float32,
              out_hw: tuple[int, int] | None = None) -> np.ndarray: ...

    def memory_bytes(self, bands: int, height: int, width: int) -> int: ...

    def describe(self) -> str: ...


@runtime_checkable
class MultiImageModel(Protocol):
    """What callers use of a multi-image model (a fuser)."""

    name: str
    scale: int
    bands: tuple[int, ...] | None
    card: ModelCard | None

    @property
    def value_scale(self) -> float: ...

    def __call__(self, frames: Array, masks: Array) -> Array: ...

    def fuse_with_uncertainty(self, frames: Array, masks: Array) -> tuple[Array, Array | None]: ...

    def apply(self, frames: np.ndarray, masks: np.ndarray,
              out_dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray | None]: ...

    def describe(self) -> str: ...


@runtime_checkable
class GuidedModel(Protocol):
    """What callers use of a guided model (band sharpening, pan-sharpening)."""

    name: str
    ratio: int
    margin: int  # low-res px of context each side
    bands: int | None  # low-res bands it takes (None = any)
    guide_bands: int | None  # guide bands it takes (None = any)
    card: ModelCard | None

    @property
    def value_scale(self) -> float: ...

    def __call__(self, guide: Array, lowres: Array) -> Array: ...

    def fit(self, pairs: list[tuple[Array, Array]] | None) -> None: ...

    def apply(self, guide: np.ndarray, lowres: np.ndarray) -> np.ndarray: ...

    def describe(self) -> str: ...


PROTOCOLS: dict[str, type] = {"sisr": SingleImageModel, "misr": MultiImageModel, "guided": GuidedModel}
KIND_NAMES = {"sisr": "single-image", "misr": "multi-image", "guided": "guided"}


def check_contract(model: Any, kind: str) -> Any:
    """``model`` itself when it implements the ``kind`` contract, else ``OptionError`` naming what is missing.

    A user may hand any object to the API; subclassing the base class below is the easy way to pass.
    """
    proto = PROTOCOLS[kind]
    if isinstance(model, proto):
        return model
    wanted = [n for n in (*proto.__annotations__, "value_scale", "apply", "describe") if not hasattr(model, n)]
    raise OptionError(f"{type(model).__name__} is not a {KIND_NAMES[kind]} model (missing {', '.join(wanted)}); "
                      f"subclass satsr.models.base.{BASES[kind].__name__} or pass a model name")


def _card_value_scale(card: ModelCard | None) -> float:
    return float(card.value_scale) if card is not None and card.value_scale else 1.0


def _model_input(x: np.ndarray, value_scale: float) -> np.ndarray:
    """A private copy of ``x`` in model units (the model may work in place): float32, or float64 for
    float64 input (32-bit integers and float64 are carried exactly, ``satsr.masking.working_dtype``)."""
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    if value_scale != 1.0:
        return np.ascontiguousarray(x / value_scale, dtype=dtype)
    return np.array(x, dtype=dtype, copy=True)


class Upscaler:
    """Base class of single-image models (implements ``SingleImageModel``).

    Attributes:
        name: registry name.
        scale: integer factor this instance produces.
        scales: factors the family supports.
        bands: band counts supported (``None`` = any).
        margin: context in input pixels needed on each side so that a tile's centre is exact
            (the receptive-field radius); the tiler reads at least this much extra.
    """

    name: str = "upscaler"
    scale: int = 2
    scales: tuple[int, ...] = (2, 3, 4)
    bands: tuple[int, ...] | None = None
    margin: int = 0
    output_groups: int = 1
    card: ModelCard | None = None
    # working memory of one call, in bytes per output pixel and band (``memory_bytes``): a few float32
    # copies for models that say nothing more precise
    bytes_per_pixel: float = 64.0

    def __call__(self, x: Array) -> Array:  # pragma: no cover - interface
        raise NotImplementedError

    def call_masked(self, x: np.ndarray, valid: np.ndarray | None) -> Array:
        """The model on ``x`` knowing which input pixels were valid (most models ignore it)."""
        return self(x)

    def fit(self, x: np.ndarray | None, valid: np.ndarray | None = None,
            progress: FitProgress | None = None) -> None:
        """Learn from a representative sample ``x`` ``(bands, h, w)`` of the scene before it is tiled (data
        units; invalid pixels already filled with their nearest valid neighbour, ``valid`` says which they
        were); None forgets. ``progress(fraction done)`` may be called while it learns. Most models learn
        nothing here (no-op); zero-shot models train on ``x``."""

    @property
    def value_scale(self) -> float:
        return _card_value_scale(self.card)

    def call_sized(self, x: np.ndarray, valid: np.ndarray | None, out_hw: tuple[int, int]) -> Array:
        """The output of ``out_hw`` px for ``x`` at a fractional scale (output pixel ``i`` centred at input
        coordinate ``(i + 0.5) / scale - 0.5``); only models with ``continuous`` scales implement it."""
        raise ValueError(f"{self.describe()} works at integer scales only")

    def apply(self, x: np.ndarray, valid: np.ndarray | None = None, out_dtype: Any = np.float32,
              out_hw: tuple[int, int] | None = None) -> np.ndarray:
        """The model on data-unit ``x`` (divided by ``value_scale``, run, multiplied back) as numpy
        ``out_dtype``; ``valid`` goes to ``call_masked``; ``out_hw`` asks a fractional-scale model for that
        output size (``call_sized``)."""
        vs = self.value_scale
        xin = _model_input(x, vs)
        y = self.call_masked(xin, valid) if out_hw is None else self.call_sized(xin, valid, out_hw)
        y = np.asarray(to_numpy(y), dtype=out_dtype)
        return y * vs if vs != 1.0 else y

    def tile_output(self, x: np.ndarray, valid: np.ndarray, guide: np.ndarray | None,
                    out_hw: tuple[int, int] | None = None) -> np.ndarray:
        """The tile engine's entry point (``satsr.tiling``): ``apply`` on a filled input window, in its dtype."""
        return self.apply(x, valid, x.dtype, out_hw)

    def tile_outputs(self, xs: list[np.ndarray], valids: list[np.ndarray], guides: list[np.ndarray | None],
                     out_hw: tuple[int, int] | None = None) -> list[np.ndarray]:
        """``tile_output`` of several same-shaped windows (the engine's ``batch``); one call each by
        default, one batched forward for networks (``TorchUpscaler``)."""
        return [self.tile_output(x, v, g, out_hw) for x, v, g in zip(xs, valids, guides, strict=True)]

    def memory_bytes(self, bands: int, height: int, width: int) -> int:
        """Peak working memory (bytes) of one call on a ``(bands, height, width)`` input, the input itself
        not counted: what ``--max-memory`` divides into tiles (``satsr.tiling.choose_tile``). By default
        ``bytes_per_pixel`` per output pixel and band."""
        return int(self.bytes_per_pixel * bands * out_index(height, self.scale) * out_index(width, self.scale))

    def describe(self) -> str:
        return f"{self.name} x{self.scale}"


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_precision(precision: str, device: torch.device) -> str:
    """The arithmetic a network runs in: ``fp32``; ``bf16``/``fp16`` autocast (convolutions and matrix
    products in 16 bit, sums and the bicubic base in fp32). ``auto`` is fp32 on a CPU (satsr's default:
    bf16 pays on CPUs with native bf16, within the bound BENCHMARKS.md gives, so it is opt-in) and bf16 on
    a GPU that has it (else fp16)."""
    if precision not in PRECISIONS:
        raise OptionError(f"--precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise OptionError("--precision fp16 needs --device cuda (CPUs compute fp16 slowly); use bf16 on a CPU")
    return precision


class _LiveBytes(TorchDispatchMode):
    """Counts the bytes of tensor storages alive while it is active (storages created inside it, freed as
    their last tensor goes), and their peak: a network's activation memory, measured on any device."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self.refs: dict[int, list[int]] = {}

    def _release(self, key: int) -> None:
        entry = self.refs.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            self.live -= entry[0]
            del self.refs[key]

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                storage = t.untyped_storage()
                key = storage._cdata
                entry = self.refs.get(key)
                if entry is None:
                    entry = self.refs[key] = [storage.nbytes(), 0]
                    self.live += entry[0]
                    self.peak = max(self.peak, self.live)
                entry[1] += 1
                weakref.finalize(t, self._release, key)
        return out


def peak_activation_bytes(fn: Callable[[], Any]) -> int:
    """Peak bytes of the tensors ``fn`` creates and holds at once (its result included)."""
    with _LiveBytes() as live:
        result = fn()
    del result
    return live.peak


class TorchUpscaler(Upscaler):
    """Runs an ``nn.Module`` that maps ``(N, C, h, w)`` -> ``(N, C, h*s, w*s)`` as an Upscaler.

    Handles numpy/torch conversion, device placement, fp32 inference and per-band application
    (a 1-band network run on every band of a multispectral input).
    """

    def __init__(
        self,
        net: nn.Module,
        name: str,
        scale: int,
        margin: int,
        bands: tuple[int, ...] | None = None,
        card: ModelCard | None = None,
        device: str | torch.device = "cpu",
        per_band: bool = False,
        batch_bands: int = 16,
        precision: str = "auto",
    ) -> None:
        # channels_last: 1.2-2.2x faster convolutions on CPU, same numbers (BENCHMARKS.md, issues 7 and 18)
        self.net = net.eval().to(device, memory_format=torch.channels_last)
        self.name = name
        self.scale = scale
        self.scales = (scale,)
        self.margin = margin
        self.card = card
        self.device = torch.device(device)
        self.per_band = per_band
        self.bands = None if per_band else bands
        self.batch_bands = batch_bands
        self.precision = resolve_precision(precision, self.device)
        self._probed: dict[int, float] = {}

    def _autocast(self) -> Any:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16 if self.precision == "bf16" else torch.float16)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """The network on a batch ``(N, bands, h, w)`` (per-band networks: every band, ``batch_bands`` at a
        time) in this model's precision; returns float32 ``(N, bands, h*s, w*s)``, NCHW."""
        if t.ndim != 4:
            raise ValueError(f"expected (N, bands, h, w), got shape {tuple(t.shape)}")
        n, c, h, w = t.shape
        if not self.per_band and self.bands is not None and c not in self.bands:
            raise OptionError(f"{self.describe()} takes {self.bands} bands, got {c}; choose bands with --bands")
        with self._autocast():
            if self.per_band:
                flat = t.reshape(n * c, 1, h, w)
                y = torch.cat([self.run_net(chunk) for chunk in flat.split(self.batch_bands)], 0)
                y = y.reshape(n, c, *y.shape[-2:])
            else:
                y = self.run_net(t)
        return y.float().contiguous()

    def run_net(self, t: torch.Tensor) -> torch.Tensor:
        """The network itself on ``(N, net bands, h, w)`` (channels_last); another runtime replaces it
        (``satsr.models.onnx.OnnxUpscaler``)."""
        return self.net(_nhwc(t))

    @torch.inference_mode()
    def __call__(self, x: Array) -> Array:
        t = to_tensor(x, self.device)
        if t.ndim != 3:
            raise ValueError(f"expected (bands, h, w), got shape {tuple(t.shape)}")
        return like_input(self.forward(t.unsqueeze(0)).squeeze(0), x)

    def tile_outputs(self, xs: list[np.ndarray], valids: list[np.ndarray], guides: list[np.ndarray | None],
                     out_hw: tuple[int, int] | None = None) -> list[np.ndarray]:
        """Same-shaped windows in one forward (a GPU runs a batch in about the time of one window)."""
        if len(xs) == 1 or out_hw is not None:
            return super().tile_outputs(xs, valids, guides, out_hw)
        vs = self.value_scale
        batch = np.stack([_model_input(x, vs) for x in xs])
        with torch.inference_mode():
            y = self.forward(to_tensor(batch, self.device)).cpu().numpy()
        if vs != 1.0:
            y *= vs
        return [y[i].astype(xs[i].dtype, copy=False) for i in range(len(xs))]

    def memory_bytes(self, bands: int, height: int, width: int) -> int:
        """Peak activation bytes of one call (its output included), on this model's device: the network's
        own estimate when it has one (``memory_bytes(n, h, w, element)``, e.g. EDSR's row stream), else a
        measurement (``peak_activation_bytes`` of a forward on a 48 x 48 input, per output pixel, once per
        band count)."""
        out_px = out_index(height, self.scale) * out_index(width, self.scale)
        own = getattr(self.net, "memory_bytes", None)
        if callable(own):
            n = bands if self.per_band else 1
            rows = int(own(min(n, self.batch_bands), height, width))
        else:
            if bands not in self._probed:
                probe = torch.zeros((1, bands, 48, 48), device=self.device)
                with torch.inference_mode():
                    peak = peak_activation_bytes(lambda: self.forward(probe))
                self._probed[bands] = peak / (out_index(48, self.scale) ** 2)
            rows = int(self._probed[bands] * out_px)
        return rows

    def apply(self, x: np.ndarray, valid: np.ndarray | None = None, out_dtype: Any = np.float32,
              out_hw: tuple[int, int] | None = None) -> np.ndarray:
        """``Upscaler.apply`` without extra copies of the output (it is this call's own array)."""
        vs = self.value_scale
        y = self.call_masked(_model_input(x, vs), valid) if out_hw is None else \
            self.call_sized(_model_input(x, vs), valid, out_hw)
        y = np.asarray(to_numpy(y), dtype=out_dtype)
        if vs != 1.0:
            y *= vs
        return y


def _nhwc(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last)


def wrap_torch_upscaler(net: nn.Module, *, name: str, scale: int, card: ModelCard | None, device: str,
                        margin: int, bands: int, per_band: bool, precision: str = "auto",
                        **_: Any) -> TorchUpscaler:
    """The registry's wrapper for single-image networks: a built (and loaded) net -> ``TorchUpscaler``."""
    return TorchUpscaler(net, name=name, scale=scale, margin=margin, bands=(bands,), card=card, device=device,
                         per_band=per_band, precision=precision)


class Fuser:
    """Base class of multi-image models (implements ``MultiImageModel``).

    ``__call__(frames (T, bands, h, w), masks (T, h, w) bool, True = clear)`` returns
    ``(bands, h*scale, w*scale)``; ``fuse_with_uncertainty`` also returns a per-pixel sigma or None.
    Frames arrive ordered by clearance (clearest first).
    """

    name: str = "fuser"
    scale: int = 3
    scales: tuple[int, ...] = (3,)
    bands: tuple[int, ...] | None = None
    card: ModelCard | None = None

    def __call__(self, frames: Array, masks: Array) -> Array:
        return self.fuse_with_uncertainty(frames, masks)[0]

    def fuse_with_uncertainty(self, frames: Array, masks: Array) -> tuple[Array, Array | None]:  # pragma: no cover
        raise NotImplementedError

    @property
    def value_scale(self) -> float:
        return _card_value_scale(self.card)

    def apply(self, frames: np.ndarray, masks: np.ndarray,
              out_dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray | None]:
        """Fused image and sigma (None if the fuser has none) of data-unit ``frames``, in data units."""
        vs = self.value_scale
        out, sig = self.fuse_with_uncertainty(frames / vs if vs != 1.0 else frames, masks)

        def back(t: Array) -> np.ndarray:
            y = np.asarray(to_numpy(t), dtype=out_dtype)
            return y * vs if vs != 1.0 else y

        return back(out), (None if sig is None else back(sig))

    def describe(self) -> str:
        return f"{self.name} x{self.scale}"


class GuidedUpscaler:
    """Base class of guided models (implements ``GuidedModel``).

    ``__call__(guide (g, H, W), lowres (c, h, w))`` with ``H == h * ratio`` returns ``(c, H, W)``.
    A model with a scene-level fit (HPI's global regression) overrides ``fit``.
    """

    name: str = "guided"
    ratio: int = 2
    ratios: tuple[int, ...] = (2, 4, 6)
    margin: int = 8
    bands: int | None = None
    guide_bands: int | None = None
    output_groups: int = 1
    card: ModelCard | None = None

    def __call__(self, guide: Array, lowres: Array) -> Array:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def scale(self) -> int:
        """The ratio, under the name the tile engine uses for every contract."""
        return self.ratio

    @property
    def value_scale(self) -> float:
        return _card_value_scale(self.card)

    def fit(self, pairs: list[tuple[Array, Array]] | None) -> None:
        """Fit scene-level parameters on ``(guide, lowres)`` windows of the whole scene; None clears them."""

    def apply(self, guide: np.ndarray, lowres: np.ndarray) -> np.ndarray:
        """Sharpened ``lowres`` in data units (float32), from data-unit inputs."""
        vs = np.float32(self.value_scale)
        y = self(guide / vs, lowres / vs)
        return np.asarray(to_numpy(y), np.float32) * vs

    def tile_output(self, x: np.ndarray, valid: np.ndarray, guide: np.ndarray | None,
                    out_hw: tuple[int, int] | None = None) -> np.ndarray:
        """The tile engine's entry point (``satsr.tiling``): the low-res window and its guide window."""
        if guide is None:
            raise ValueError(f"{self.describe()} needs a guide; give the tile engine a GuidedSource")
        return self.apply(guide, x)

    def describe(self) -> str:
        return f"{self.name} r{self.ratio}"


BASES: dict[str, type] = {"sisr": Upscaler, "misr": Fuser, "guided": GuidedUpscaler}

__all__ = ["BASES", "PRECISIONS", "Fuser", "GuidedModel", "GuidedUpscaler", "ModelCard", "MultiImageModel",
           "SingleImageModel", "TorchUpscaler", "Upscaler", "check_contract", "peak_activation_bytes",
           "resolve_precision", "wrap_torch_upscaler"]
