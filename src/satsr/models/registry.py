"""Name -> model factory registry, the catalogue of shipped weights, and ``create``: the one way to
build a model by name.

A model family registers itself with ``@register(name, kind=...)``. Neural families register a
function that builds the bare ``nn.Module`` (for training) and the ``wrap`` function that turns a
built, loaded network into its contract object (``Upscaler``/``Fuser``/``GuidedUpscaler``; single-image
networks use ``TorchUpscaler`` by default). Classical families register a function that returns the
contract object directly.

``create(name, scale, kind=..., weights=..., device=...)`` does every check once, before anything is
built: the model's kind, the scale, the device, and a weights file's card against the requested
model, scale and bands. ``resolve`` accepts a ready model object too (checked against its contract).

Shipped weights live in ``models/weights/<id>.safetensors`` with a model card ``<id>.json``.
The id is ``<name>_x<scale>`` (or ``<name>_r<ratio>`` for guided models); a variant trained for
other data gets its own registry alias (e.g. ``edsr-ms``: the edsr family run per band on 16-bit
multispectral reflectance).
"""

from __future__ import annotations

import hashlib
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from satsr.errors import ModelError, OptionError
from satsr.models.base import KIND_NAMES, ModelCard, check_contract, wrap_torch_upscaler
from satsr.ops.spans import Scale, as_scale

WEIGHTS_DIR = Path(__file__).parent / "weights"

# Modules that register families when imported. Kept explicit (not a plugin scan) so the import
# graph is obvious and `satsr models` is fast.
_FAMILY_MODULES = (
    "satsr.models.classical",
    "satsr.models.srcnn",
    "satsr.models.espcn",
    "satsr.models.vdsr",
    "satsr.models.edsr",
    "satsr.models.rcan",
    "satsr.models.swinir",
    "satsr.models.esrgan",
    "satsr.models.liif",
    "satsr.models.rfsr",
    "satsr.models.zeroshot",
    "satsr.models.misr_classical",
    "satsr.models.highresnet",
    "satsr.models.rams",
    "satsr.models.trmisr",
    "satsr.models.piunet",
    "satsr.models.guided_classical",
    "satsr.models.dsen2",
    "satsr.models.sgsr",
    "satsr.models.video",
    "satsr.models.hs_fusion",
)


@dataclass
class ModelSpec:
    """One registered family."""

    name: str
    kind: str  # "sisr" | "misr" | "guided"
    factory: Callable[..., Any]
    neural: bool
    scales: tuple[int, ...]
    description: str = ""
    paper: str = ""
    # For neural families: context (input px) a net built with these kwargs needs on each side.
    margin: Callable[..., int] | int = 0
    defaults: dict[str, Any] = field(default_factory=dict)
    aliases_of: str | None = None  # for a weights alias such as "edsr-ms": the family it builds
    # neural families: (net, *, name, scale, card, device, margin, bands, per_band, **options) -> contract object
    wrap: Callable[..., Any] | None = None
    # arbitrary-scale families: the range of scales (integer or not) one set of weights serves
    continuous: tuple[float, float] | None = None
    # a classical family fitted to data (rfsr's forests): it loads a card and weights (arrays, not a network)
    # when some exist, and its factory receives them as ``card`` and ``weights_path`` (None when there are none)
    learned: bool = False

    def margin_for(self, **arch: Any) -> int:
        return self.margin(**arch) if callable(self.margin) else int(self.margin)


_REGISTRY: dict[str, ModelSpec] = {}
_LOADED = False


def register(
    name: str,
    *,
    kind: str,
    neural: bool,
    scales: tuple[int, ...],
    description: str = "",
    paper: str = "",
    margin: Callable[..., int] | int = 0,
    defaults: dict[str, Any] | None = None,
    wrap: Callable[..., Any] | None = None,
    continuous: tuple[float, float] | None = None,
    learned: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register ``factory`` under ``name`` (``wrap``: see ``ModelSpec``; single-image
    networks default to ``TorchUpscaler``)."""
    if neural and wrap is None:
        if kind != "sisr":
            raise ValueError(f"neural {kind} family {name!r} must pass its wrapper: @register(..., wrap=...)")
        wrap = wrap_torch_upscaler

    def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY and _REGISTRY[name].factory is not factory:
            raise RuntimeError(f"model name {name!r} registered twice")
        _REGISTRY[name] = ModelSpec(
            name=name,
            kind=kind,
            factory=factory,
            neural=neural,
            scales=scales,
            description=description,
            paper=paper,
            margin=margin,
            defaults=dict(defaults or {}),
            wrap=wrap,
            continuous=continuous,
            learned=learned,
        )
        return factory

    return deco


def register_alias(name: str, family: str, description: str, defaults: dict[str, Any] | None = None) -> None:
    """Register ``name`` as a weights alias of ``family`` (same architecture, other training data)."""
    base = _REGISTRY[family]
    _REGISTRY[name] = ModelSpec(
        name=name,
        kind=base.kind,
        factory=base.factory,
        neural=base.neural,
        scales=base.scales,
        description=description,
        paper=base.paper,
        margin=base.margin,
        defaults={**base.defaults, **(defaults or {})},
        aliases_of=family,
        wrap=base.wrap,
    )


def _load_families() -> None:
    global _LOADED
    if _LOADED:
        return
    for mod in _FAMILY_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:  # a family not written yet must not break the others
            if exc.name != mod:
                raise
    _LOADED = True


def get_spec(name: str) -> ModelSpec:
    _load_families()
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise OptionError(f"unknown model {name!r}; known models: {known} (see `satsr models`)")
    return _REGISTRY[name]


def list_specs(kind: str | None = None) -> list[ModelSpec]:
    _load_families()
    return [s for _, s in sorted(_REGISTRY.items()) if kind is None or s.kind == kind]


# --------------------------------------------------------------------------- weights catalogue


def weights_id(name: str, scale: int, kind: str = "sisr") -> str:
    return f"{name}_r{scale}" if kind == "guided" else f"{name}_x{scale}"


def list_cards(weights_dir: Path = WEIGHTS_DIR) -> list[ModelCard]:
    """All model cards shipped in ``weights_dir`` (cards without weights are skipped)."""
    cards = []
    for js in sorted(weights_dir.glob("*.json")):
        if js.with_suffix(".safetensors").exists():
            cards.append(ModelCard.from_json(js))
    return cards


def find_card(name: str, scale: int, kind: str = "sisr", weights_dir: Path = WEIGHTS_DIR) -> ModelCard | None:
    path = weights_dir / f"{weights_id(name, scale, kind)}.json"
    if path.exists() and path.with_suffix(".safetensors").exists():
        return ModelCard.from_json(path)
    return None


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_net(name: str, scale: int, bands: int, **arch: Any) -> Any:
    """Build a neural family's bare ``nn.Module`` (randomly initialised), for training."""
    spec = get_spec(name)
    if not spec.neural:
        raise OptionError(f"model {name!r} is classical; it has no network to build or train")
    if scale not in spec.scales:
        raise OptionError(f"model {name!r} supports scales {list(spec.scales)}, not {scale}")
    kwargs = {**spec.defaults, **arch}
    kwargs.pop("per_band", None)  # a property of how the net is applied, not of the net
    return spec.factory(scale=scale, bands=bands, **kwargs)


def load_weights(net: Any, card: ModelCard, weights_path: Path) -> None:
    """Load safetensors into ``net`` and check they match the card (hash, keys, shapes)."""
    from safetensors.torch import load_file

    check_sha256(card, weights_path)
    try:
        state = load_file(str(weights_path))
    except Exception as exc:  # safetensors raises its own types for corrupt files
        raise ModelError(f"{weights_path}: cannot read weights ({exc})") from exc
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = "; ".join(line.strip() for line in first[:3])
        raise ModelError(
            f"{weights_path}: weights do not fit the architecture in card {card.id} ({detail})"
        ) from exc


def check_sha256(card: ModelCard, weights_path: Path) -> None:
    """``ModelError`` when the weights file is not the one its card was written for."""
    if card.sha256 and sha256_of(weights_path) != card.sha256:
        raise ModelError(
            f"{weights_path}: weights do not match model card {card.id} (sha256 differs); "
            "the card and the weights come from different trainings, re-export them together"
        )


DEVICE_RE = re.compile(r"^(cpu|cuda(:\d+)?)$")


def check_device(device: str) -> str:
    """``device`` when satsr can run on it here: ``cpu``, or ``cuda``/``cuda:N`` with a GPU present."""
    text = str(device)
    if not DEVICE_RE.match(text):
        raise OptionError(f"--device {text!r} is not supported; use cpu, cuda or cuda:N")
    if text.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise OptionError(f"--device {text}: no CUDA GPU is available here; use --device cpu")
        index = int(text.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise OptionError(f"--device {text}: this machine has {torch.cuda.device_count()} GPU(s)")
    return text


def resolve_name(name: str, kind: str | None = None) -> str:
    """The registry name for ``name``: itself, or for ``kind="guided"`` a guided model's name, where
    ``bicubic`` means ``guided-bicubic`` (``bicubic`` being the single-image upscaler), so that
    ``satsr sharpen --model bicubic`` works."""
    _load_families()
    if kind != "guided":
        return name
    known = [s.name for s in list_specs("guided")]
    if name in known:
        return name
    if f"guided-{name}" in known:
        return f"guided-{name}"
    short = sorted({k.removeprefix("guided-") for k in known})
    raise OptionError(f"unknown guided model {name!r}; choose one of {', '.join(short)} (see `satsr models`)")


def _kind_error(spec: ModelSpec, kind: str) -> OptionError:
    same = ", ".join(s.name for s in list_specs(kind))
    return OptionError(f"model {spec.name!r} is a {KIND_NAMES[spec.kind]} ({spec.kind}) model; this needs a "
                       f"{KIND_NAMES[kind]} one: {same} (see `satsr models`)")


def read_card(weights: str | Path) -> tuple[ModelCard, Path]:
    """The model card beside a user's ``.safetensors`` file, and the file's path."""
    weights_path = Path(weights)
    if not weights_path.is_file():
        raise ModelError(f"{weights_path}: weights file not found")
    if weights_path.suffix != ".safetensors":
        raise ModelError(f"{weights_path}: weights must be a .safetensors file with its .json model card beside it "
                         "(pickled checkpoints are not loaded)")
    card_path = weights_path.with_suffix(".json")
    if not card_path.exists():
        raise ModelError(f"{weights_path}: no model card {card_path.name} beside the weights")
    return ModelCard.from_json(card_path), weights_path


def check_card(card: ModelCard, spec: ModelSpec, scale: Scale, bands: int | None, where: Path) -> None:
    """A card must describe the requested model, kind and scale (and band count, for band-specific
    single-image networks) before any architecture is built from it."""
    if card.model != spec.name:
        hint = f"; use --model {card.model}" if card.model in _REGISTRY else ""
        raise ModelError(f"{where}: these weights are for model {card.model!r} (card {card.id}), not "
                         f"{spec.name!r}{hint}")
    if card.kind != spec.kind:
        raise ModelError(f"{where}: card {card.id} is a {card.kind} model, {spec.name!r} is {spec.kind}")
    if spec.continuous is None and int(card.scale) != scale:
        unit = "ratio" if spec.kind == "guided" else "scale"
        raise ModelError(f"{where}: model card {card.id} is for {unit} {card.scale}, not {scale}")
    if bands is not None and spec.kind == "sisr" and not card.per_band and int(card.bands) not in (0, int(bands)):
        raise OptionError(f"{spec.name} takes {card.bands} band(s), the input has {bands}; choose bands with --bands")


def check_scale(spec: ModelSpec, scale: float | Fraction | str) -> Scale:
    """The scale as an ``int`` or exact ``Fraction`` when ``spec`` serves it, else one ``OptionError``."""
    s = as_scale(scale)
    if s in spec.scales:
        return s
    what = "ratios" if spec.kind == "guided" else "scales"
    if spec.continuous is not None:
        lo, hi = spec.continuous
        if lo < s <= hi:
            return s
        raise OptionError(f"model {spec.name!r} supports {what} above {lo:g} up to {hi:g}, not {float(s):g}")
    if not isinstance(s, int):
        fractional = ", ".join(sorted(x.name for x in list_specs(spec.kind) if x.continuous))
        raise OptionError(f"model {spec.name!r} takes integer {what} only ({', '.join(map(str, spec.scales))}), "
                          f"not {float(s):g}; for a fractional scale use {fractional or 'another model'}")
    raise OptionError(f"model {spec.name!r} supports {what} {list(spec.scales)}, not {s}")


def create(
    name: str,
    scale: int | float | Fraction,
    *,
    kind: str | None = None,
    bands: int | None = None,
    pretrained: bool = True,
    weights: str | Path | None = None,
    device: str = "cpu",
    **options: Any,
) -> Any:
    """Build the contract object for ``name`` at ``scale`` (the ratio for guided models).

    ``kind`` ("sisr", "misr", "guided") refuses a model of another kind (and resolves ``bicubic`` to
    ``guided-bicubic`` for guided use). Neural families load their shipped weights, or ``weights`` (a
    ``.safetensors`` path with its ``.json`` card beside it, checked against the request first);
    ``pretrained=False`` gives a randomly initialised network (tests and training). ``bands``: the
    input's band count, checked against band-specific weights. ``options`` go to the classical
    constructor or the neural wrapper (e.g. a fuser's ``max_frames``). Learned classical families
    (``learned=True``, e.g. ``rfsr``) get the card and weights file the same checks find, or None.
    """
    spec = get_spec(resolve_name(name, kind))
    if kind is not None and spec.kind != kind:
        raise _kind_error(spec, kind)
    scale = check_scale(spec, scale)
    check_device(device)
    if not spec.neural:
        if spec.learned:
            card, path = _learned_weights(spec, scale, bands, weights, pretrained)
            return _call(spec, spec.factory, scale=scale, card=card, weights_path=path, **options)
        if weights is not None:
            raise OptionError(f"--weights applies to neural models; {spec.name!r} is classical and has none")
        return _call(spec, spec.factory, scale=scale, **options)

    card: ModelCard | None = None
    weights_path: Path | None = None
    if weights is not None:
        card, weights_path = read_card(weights)
    elif pretrained:
        card = find_card(spec.name, scale, spec.kind) if isinstance(scale, int) else None
        if card is None and spec.continuous is not None:  # one set of weights for every scale
            card = next((c for c in list_cards() if c.model == spec.name), None)
        if card is None:
            have = [c.id for c in list_cards() if c.model == spec.name]
            hint = f"shipped weights: {', '.join(have)}" if have else "no weights are shipped for it"
            raise ModelError(
                f"model {spec.name!r} has no trained weights for scale {scale} ({hint}); "
                "train some with `satsr train` and pass --weights"
            )
        weights_path = WEIGHTS_DIR / f"{card.id}.safetensors"

    if card is not None:
        check_card(card, spec, scale, bands, weights_path or WEIGHTS_DIR)
        arch = dict(card.arch)
        net_bands = card.bands
        per_band = card.per_band
    else:
        arch = dict(spec.defaults)
        per_band = bool(spec.defaults.get("per_band"))
        net_bands = 1 if per_band else (bands or 3)
    arch.pop("per_band", None)
    try:
        net = spec.factory(scale=scale, bands=net_bands, **arch)
    except TypeError as exc:
        raise ModelError(f"{weights_path}: the card's architecture does not fit {spec.name!r} ({exc})") from exc
    if card is not None and weights_path is not None:
        load_weights(net, card, weights_path)
    assert spec.wrap is not None
    return _call(spec, spec.wrap, net, name=spec.name, scale=scale, card=card, device=device,
                 margin=spec.margin_for(**arch), bands=net_bands, per_band=per_band, **options)


def _learned_weights(spec: ModelSpec, scale: Scale, bands: int | None, weights: str | Path | None,
                     pretrained: bool) -> tuple[ModelCard | None, Path | None]:
    """The card and weights file of a learned classical family: ``weights`` (checked), else the shipped
    ones for ``scale`` when ``pretrained``, else none (the family decides whether it can run without)."""
    if weights is not None:
        card, path = read_card(weights)
    else:
        found = find_card(spec.name, scale, spec.kind) if pretrained and isinstance(scale, int) else None
        if found is None:
            return None, None
        card, path = found, WEIGHTS_DIR / f"{found.id}.safetensors"
    check_card(card, spec, scale, bands, path)
    check_sha256(card, path)
    return card, path


def _call(spec: ModelSpec, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, an option the model does not take becoming one clear ``OptionError``."""
    try:
        return fn(*args, **kwargs)
    except TypeError as exc:
        if "argument" not in str(exc):
            raise
        raise OptionError(f"model {spec.name!r} does not take these options: {exc}") from exc


def resolve(model: str | Any, scale: int, *, kind: str, **kwargs: Any) -> Any:
    """``create(model, scale, kind=kind, **kwargs)`` for a name; a ready object is checked against the
    ``kind`` contract and the scale instead (``kwargs`` are for building and do not apply to it)."""
    if isinstance(model, str):
        return create(model, scale, kind=kind, **kwargs)
    obj = check_contract(model, kind)
    have = as_scale(obj.ratio if kind == "guided" else obj.scale)
    if have != as_scale(scale):
        raise OptionError(f"{obj.describe()} works at {'ratio' if kind == 'guided' else 'scale'} {have}, not {scale}")
    return obj
