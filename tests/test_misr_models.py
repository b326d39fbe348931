"""Deep multi-image families: shapes for any frame/band count, masks, order (in)variance, the Fuser."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from satsr.models.misr_layers import prepare
from satsr.models.registry import build_net, create, get_spec

FAMILIES = ["highresnet", "rams", "trmisr", "piunet"]
SMALL = {
    "highresnet": {"feats": 8, "enc_blocks": 1},
    "rams": {"feats": 8, "blocks": 1},
    "trmisr": {"feats": 8, "enc_blocks": 1, "layers": 1, "heads": 2, "ff": 16},
    "piunet": {"feats": 8, "blocks": 1, "heads": 2},
}


def _stack(t: int, c: int, h: int = 10, w: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    frames = 0.05 + 0.1 * torch.rand(1, t, c, h, w, generator=g)
    masks = torch.rand(1, t, h, w, generator=g) > 0.2
    return frames, masks


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("bands", [1, 3])
def test_output_shape_for_any_frame_count(name: str, bands: int) -> None:
    torch.manual_seed(0)
    net = build_net(name, 3, bands, **SMALL[name]).eval()
    assert get_spec(name).kind == "misr"
    for t in (1, 4, 9, 13):
        frames, masks = _stack(t, bands)
        with torch.no_grad():
            sr, log_sigma = net(frames, masks)
        assert sr.shape == (1, bands, 30, 36), (name, t)
        assert torch.isfinite(sr).all()
        if name == "piunet":
            assert log_sigma is not None and log_sigma.shape == sr.shape
        else:
            assert log_sigma is None


@pytest.mark.parametrize("name", FAMILIES)
def test_fresh_network_starts_at_the_classical_base(name: str) -> None:
    """Residual design: an untrained network stays close to the bicubic mean of the clear frames."""
    torch.manual_seed(0)
    net = build_net(name, 3, 1, **SMALL[name]).eval()
    frames, masks = _stack(6, 1, 16, 16)
    with torch.no_grad():
        sr, _ = net(frames, masks)
    prep = prepare(frames, masks)
    base = torch.nn.functional.interpolate(prep.base * prep.s + prep.mu, scale_factor=3, mode="bicubic")
    assert (sr - base).abs().mean() < 0.5 * prep.s.mean()


def test_piunet_is_invariant_to_frame_order() -> None:
    torch.manual_seed(0)
    net = build_net("piunet", 3, 2, **SMALL["piunet"]).eval()
    frames, masks = _stack(7, 2, 12, 12, seed=3)
    perm = torch.tensor([4, 0, 6, 2, 1, 5, 3])
    with torch.no_grad():
        a, sa = net(frames, masks)
        b, sb = net(frames[:, perm], masks[:, perm])
    assert torch.allclose(a, b, atol=1e-5)
    assert torch.allclose(sa, sb, atol=1e-5)


def test_order_matters_for_highresnet() -> None:
    """The recursive pairing depends on the order (frames are given clearest first)."""
    torch.manual_seed(0)
    net = build_net("highresnet", 3, 1, **SMALL["highresnet"]).eval()
    for p in net.parameters():  # make the fusion matter
        p.data.normal_(0, 0.3)
    frames, masks = _stack(4, 1, 12, 12, seed=4)
    with torch.no_grad():
        a, _ = net(frames, masks)
        b, _ = net(frames[:, [3, 2, 1, 0]], masks[:, [3, 2, 1, 0]])
    assert not torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("name", FAMILIES)
def test_masked_clouds_do_not_reach_the_output(name: str) -> None:
    """A masked cloud of any brightness (or NaN) changes nothing: masked pixels never reach the net."""
    torch.manual_seed(0)
    net = build_net(name, 3, 1, **SMALL[name]).eval()
    frames, masks = _stack(5, 1, 12, 12, seed=5)
    masks[:, 1:, 3:7, 3:7] = False
    masks[:, 0, 3:7, 3:7] = True
    cloudy = frames.clone()
    cloudy[:, 2, :, 3:7, 3:7] = 1.0
    cloudy[:, 3, :, 3:7, 3:7] = float("nan")
    with torch.no_grad():
        a, _ = net(frames, masks)
        b, _ = net(cloudy, masks)
    assert torch.isfinite(b).all()
    assert torch.allclose(a, b, atol=1e-5)


def test_fuser_wrapper_numpy_bands_selection_and_tiles() -> None:
    fuser = create("highresnet", 3, pretrained=False, max_frames=4, tile=8)
    rng = np.random.default_rng(0)
    frames = (1000 + 500 * rng.random((6, 3, 20, 20))).astype(np.float32)
    masks = rng.random((6, 20, 20)) > 0.1
    masks[5] = False  # an all-cloudy frame is dropped (max_frames=4 keeps the clearest)
    out = fuser(frames, masks)
    assert isinstance(out, np.ndarray) and out.shape == (3, 60, 60) and np.isfinite(out).all()
    whole = create("highresnet", 3, pretrained=False, max_frames=4, tile=64)
    whole.net.load_state_dict(fuser.net.state_dict())
    assert np.allclose(whole(frames, masks), out, atol=1e-3), "tiling must not change the result"
    # order of the input does not matter to the wrapper: it sorts by clearance itself
    perm = [5, 2, 0, 4, 1, 3]
    assert np.allclose(fuser(frames[perm], masks[perm]), out, atol=1e-3)


def test_piunet_fuser_returns_uncertainty_in_input_units() -> None:
    fuser = create("piunet", 3, pretrained=False)
    rng = np.random.default_rng(1)
    frames = (2000 + 300 * rng.random((5, 1, 16, 16))).astype(np.float32)
    y, sigma = fuser.fuse_with_uncertainty(frames, np.ones((5, 16, 16), bool))
    assert y.shape == sigma.shape == (1, 48, 48)
    assert np.all(sigma > 0) and np.all(sigma < 300)


def test_fuser_aligns_whole_pixel_offsets_before_fusing() -> None:
    from scipy.ndimage import gaussian_filter

    from satsr.models.misr_layers import integer_align

    rng = np.random.default_rng(2)
    img = gaussian_filter(rng.standard_normal((40, 40)), 2.0)
    offsets = [(0, 0), (2, -1), (-1, 3), (0, 2)]
    frames = np.stack([np.roll(img, o, (0, 1))[None, 4:36, 4:36] for o in offsets]).astype(np.float32)
    fuser = create("highresnet", 3, pretrained=False)
    fuser(frames, np.ones((4, 32, 32), bool))
    assert np.array_equal(np.rint(fuser.last_shifts), -np.array(offsets))
    x, m = integer_align(torch.from_numpy(frames), torch.ones(4, 32, 32, dtype=torch.bool), -np.array(offsets))
    assert torch.allclose(x[1, 0, 3:-3, 3:-3], x[0, 0, 3:-3, 3:-3])
    assert not m[1, -2:].any() and not m[1, :, :1].any() and m[1, :-2, 1:].all()


def test_compare_figure_for_a_stack(tmp_path) -> None:  # noqa: ANN001
    """`satsr compare --stack`: a PNG with the clearest frame, each method, uncertainty and HR."""
    from PIL import Image
    from typer.testing import CliRunner

    from helpers import write_imgset
    from satsr.cli import app
    from satsr.data.revisits import RevisitParams, psf_margin, scene_to_dn, simulate_revisits
    from satsr.viz.misr import compare_misr

    p = RevisitParams(n_frames=(5, 5))
    m = psf_margin(p)
    rng = np.random.default_rng(0)
    st = simulate_revisits(scene_to_dn(rng.standard_normal((48 + 2 * m, 48 + 2 * m)), 4000, 0.2), 3, p, rng=0)
    d = write_imgset(tmp_path / "imgset0001", st.lr[:, 0].numpy(), st.qm.numpy(), st.hr[0].numpy(), st.sm.numpy())
    fig = compare_misr(tmp_path / "cmp.png", [d], methods=["baseline", create("piunet", 3, pretrained=False)],
                       zoom=48)
    with Image.open(fig) as im:
        assert im.size[0] > 4 * im.size[1] // 2  # five panels side by side
    res = CliRunner().invoke(app, ["compare", "--stack", str(d), "--model", "baseline", "--model", "median",
                                   "-o", str(tmp_path / "cli.png"), "--zoom", "48"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "cli.png").exists() and not list(tmp_path.glob(".*tmp*"))
