"""Single-image SR architectures: shapes, registry behaviour, weights round trip, card checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from satsr.errors import ModelError, OptionError
from satsr.models.base import ModelCard
from satsr.models.registry import build_net, create, get_spec, sha256_of
from satsr.train.common import export_state, load_matching

ARCHS = ["srcnn", "espcn", "vdsr", "edsr", "rcan", "swinir"]
SMALL = {  # shrunk sizes so the shape sweep stays fast; the structure is the same
    "srcnn": {},
    "espcn": {},
    "vdsr": {"depth": 4, "feats": 16},
    "edsr": {"n_blocks": 2, "feats": 16},
    "rcan": {"n_groups": 2, "n_blocks": 2, "feats": 16, "reduction": 4},
    "swinir": {"dim": 16, "depths": [2], "heads": 2, "window": 4},
}


@pytest.mark.parametrize("name", ARCHS)
@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("bands", [1, 3, 4, 13])
def test_output_shape(name: str, scale: int, bands: int) -> None:
    net = build_net(name, scale, bands, **SMALL[name]).eval()
    x = torch.rand(2, bands, 11, 14)
    with torch.no_grad():
        y = net(x)
    assert y.shape == (2, bands, 11 * scale, 14 * scale)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", ARCHS)
def test_full_size_builds_and_declares_margin(name: str) -> None:
    spec = get_spec(name)
    assert spec.neural and spec.kind == "sisr"
    assert spec.margin_for() > 0
    net = build_net(name, 4, 3)
    assert sum(p.numel() for p in net.parameters()) > 10_000


def test_edsr_baseline_size() -> None:
    net = build_net("edsr", 2, 3)
    blocks = [m for m in net.body if m.__class__.__name__ == "ResBlock"]
    assert len(blocks) == 16
    assert net.head.out_channels == 64


def test_bicubic_residual_starts_near_bicubic() -> None:
    """With the damped last conv, an untrained EDSR is close to bicubic (it learns only detail)."""
    torch.manual_seed(0)
    net = build_net("edsr", 2, 3, n_blocks=2, feats=16).eval()
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        y = net(x)
    up = torch.nn.functional.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)
    assert (y - up).abs().mean() < 0.05


def test_unknown_model_and_scale_are_user_errors() -> None:
    with pytest.raises(OptionError, match="unknown model"):
        get_spec("no-such-model")
    with pytest.raises(OptionError, match="scales"):
        build_net("edsr", 5, 3)


def _export(tmp_path: Path, net: torch.nn.Module, arch: dict, model: str = "edsr", scale: int = 2) -> Path:
    path = tmp_path / f"{model}_x{scale}.safetensors"
    save_file(export_state(net), str(path))
    card = ModelCard(id=f"{model}_x{scale}", model=model, scale=scale, bands=3, value_scale=255.0, arch=arch,
                     sha256=sha256_of(path))
    path.with_suffix(".json").write_text(card.to_json())
    return path


def test_weights_round_trip_exact(tmp_path: Path) -> None:
    arch = {"n_blocks": 2, "feats": 16}
    torch.manual_seed(1)
    net = build_net("edsr", 2, 3, **arch).eval()
    path = _export(tmp_path, net, arch)
    up = create("edsr", 2, weights=path)
    for k, v in net.state_dict().items():
        assert torch.equal(v, up.net.state_dict()[k]), k
    x = np.random.default_rng(0).random((3, 12, 10)).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)[None])[0].numpy()
    out = up(x)
    assert isinstance(out, np.ndarray) and out.shape == (3, 24, 20)
    # weights are bit-identical (above); outputs only to float rounding (inference runs channels_last)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-5)
    assert up.value_scale == 255.0


def test_card_that_does_not_match_weights_is_rejected(tmp_path: Path) -> None:
    arch = {"n_blocks": 2, "feats": 16}
    net = build_net("edsr", 2, 3, **arch)
    path = _export(tmp_path, net, arch)
    card = json.loads(path.with_suffix(".json").read_text())
    # a card describing another architecture
    card["arch"] = {"n_blocks": 3, "feats": 16}
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="do not fit the architecture"):
        create("edsr", 2, weights=path)
    # a card whose checksum belongs to other weights
    card["arch"] = arch
    card["sha256"] = "0" * 64
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="sha256"):
        create("edsr", 2, weights=path)


def test_card_for_other_scale_is_rejected(tmp_path: Path) -> None:
    arch = {"n_blocks": 2, "feats": 16}
    path = _export(tmp_path, build_net("edsr", 2, 3, **arch), arch)
    with pytest.raises(ModelError, match="scale 2, not 4"):
        create("edsr", 4, weights=path)


def test_init_x4_from_x2_keeps_shared_weights(tmp_path: Path) -> None:
    arch = {"n_blocks": 2, "feats": 16}
    x2 = build_net("edsr", 2, 3, **arch)
    path = _export(tmp_path, x2, arch)
    x4 = build_net("edsr", 4, 3, **arch)
    loaded, skipped = load_matching(x4, path)
    assert "head.weight" in loaded and any(k.startswith("body.") for k in loaded)
    assert torch.equal(x4.head.weight, x2.head.weight)
    assert not skipped  # x2's single upsampler stage has the shape of x4's first stage


def test_per_band_upscaler_handles_any_band_count(tmp_path: Path) -> None:
    net = build_net("edsr", 2, 1, n_blocks=1, feats=8).eval()
    from satsr.models.base import TorchUpscaler

    up = TorchUpscaler(net, name="edsr-ms", scale=2, margin=8, per_band=True)
    x = np.random.default_rng(0).random((5, 9, 9)).astype(np.float32)
    y = up(x)
    assert y.shape == (5, 18, 18)
    with torch.no_grad():
        band3 = net(torch.from_numpy(x[3:4])[None])[0, 0].numpy()
    np.testing.assert_allclose(y[3], band3, atol=1e-6)


@pytest.mark.parametrize("name", ARCHS)
def test_upscaler_channels_last_gives_the_plain_forward(name: str) -> None:
    """Inference runs channels_last for speed; it must not change the numbers."""
    from satsr.models.base import TorchUpscaler

    torch.manual_seed(0)
    net = build_net(name, 2, 3, **SMALL[name]).eval()
    x = torch.rand(3, 12, 16)
    with torch.no_grad():
        ref = net(x.unsqueeze(0)).squeeze(0).numpy()
    up = TorchUpscaler(build_net(name, 2, 3, **SMALL[name]), name, 2, margin=4)
    up.net.load_state_dict(net.state_dict())
    out = up(x.numpy())
    assert isinstance(out, np.ndarray) and out.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-5)
