"""Name -> model factory registries and the catalogue of shipped weights.

A model family registers itself with ``@register(name, kind=...)``. Neural families register a
function that builds the bare ``nn.Module`` (for training); ``create`` wraps it into the contract
object (``Upscaler``/``Fuser``/``GuidedUpscaler``) and loads shipped weights. Classical families
register a function that returns the contract object directly.

Shipped weights live in ``models/weights/<id>.safetensors`` with a model card ``<id>.json``.
The id is ``<name>_x<scale>`` (or ``<name>_r<ratio>`` for guided models); a variant trained for
other data gets its own registry alias (e.g. ``edsr-ms``: the edsr family run per band on 16-bit
multispectral reflectance).
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from satsr.errors import ModelError, OptionError
from satsr.models.base import ModelCard

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
    "satsr.models.misr_classical",
    "satsr.models.highresnet",
    "satsr.models.rams",
    "satsr.models.trmisr",
    "satsr.models.piunet",
    "satsr.models.guided",
    "satsr.models.dsen2",
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
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register ``factory`` under ``name``."""

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

    if card.sha256 and sha256_of(weights_path) != card.sha256:
        raise ModelError(
            f"{weights_path}: weights do not match model card {card.id} (sha256 differs); "
            "the card and the weights come from different trainings, re-export them together"
        )
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


def create(
    name: str,
    scale: int,
    *,
    bands: int | None = None,
    pretrained: bool = True,
    weights: str | Path | None = None,
    device: str = "cpu",
    **options: Any,
) -> Any:
    """Build the contract object for ``name`` at ``scale`` (ratio for guided models).

    Neural families load their shipped weights (or ``weights``, a ``.safetensors`` path with its
    ``.json`` card beside it). ``pretrained=False`` gives a randomly initialised network, which is
    only useful for tests and training.
    """
    spec = get_spec(name)
    if scale not in spec.scales:
        raise OptionError(f"model {name!r} supports scales {list(spec.scales)}, not {scale}")
    if not spec.neural:
        return spec.factory(scale=scale, **options)

    from satsr.models.base import TorchUpscaler

    card: ModelCard | None = None
    weights_path: Path | None = None
    if weights is not None:
        weights_path = Path(weights)
        card_path = weights_path.with_suffix(".json")
        if not weights_path.exists():
            raise ModelError(f"{weights_path}: weights file not found")
        if not card_path.exists():
            raise ModelError(f"{weights_path}: no model card {card_path.name} beside the weights")
        card = ModelCard.from_json(card_path)
    elif pretrained:
        card = find_card(name, scale, spec.kind)
        if card is None:
            have = [c.id for c in list_cards() if c.model == (spec.aliases_of or name) or c.id.startswith(name)]
            hint = f"shipped weights: {', '.join(have)}" if have else "no weights are shipped for it"
            raise ModelError(
                f"model {name!r} has no trained weights for scale {scale} ({hint}); "
                "train some with `satsr train` and pass --weights"
            )
        weights_path = WEIGHTS_DIR / f"{card.id}.safetensors"

    if card is not None:
        if card.scale != scale:
            raise ModelError(f"model card {card.id} is for scale {card.scale}, not {scale}")
        arch = dict(card.arch)
        net_bands = card.bands
    else:
        arch = dict(spec.defaults)
        net_bands = 1 if spec.defaults.get("per_band") else (bands or 3)
    arch.pop("per_band", None)
    net = spec.factory(scale=scale, bands=net_bands, **arch)
    if card is not None and weights_path is not None:
        load_weights(net, card, weights_path)
    margin = spec.margin_for(**arch)
    if spec.kind == "sisr":
        per_band = card.per_band if card else bool(spec.defaults.get("per_band"))
        return TorchUpscaler(
            net, name=name, scale=scale, margin=margin, bands=(net_bands,), card=card, device=device,
            per_band=per_band,
        )
    # Multi-image and guided neural families provide their own wrappers.
    wrap = importlib.import_module(spec.factory.__module__).wrap
    return wrap(net, name=name, scale=scale, card=card, device=device, **options)
