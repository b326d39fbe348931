"""Models that need no training data: random-forest SR (``rfsr``: shipped forests or fitted on the input)
and the zero-shot ``zssr`` and ``dip``, which learn from the input at run time (tiny step budgets here)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio

import satsr
from helpers import texture, write_geotiff
from satsr.cli import main
from satsr.errors import ModelError
from satsr.models import registry
from satsr.models.rfsr import Forest
from satsr.ops.filters import degrade
from satsr.trust.maps import TrustOptions, TrustUpscaler

TINY = {"steps": 3, "budget_s": 0}  # a step budget: reproducible, and fast
ZERO_SHOT = [("zssr", TINY), ("dip", TINY), ("rfsr", {"self": True, "trees": 4})]


def _run(args: list[Any], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def _scene(bands: int, side: int = 24, seed: int = 0) -> np.ndarray:
    return np.concatenate([texture(side, seed + b) for b in range(bands)]).astype(np.uint16)


@pytest.mark.parametrize("bands", [1, 3, 13])
@pytest.mark.parametrize("name, options", [("rfsr", {}), *ZERO_SHOT], ids=["rfsr", "zssr", "dip", "rfsr-self"])
def test_output_shape_and_type_for_any_band_count(name: str, options: dict[str, Any], bands: int) -> None:
    x = _scene(bands)
    model = registry.create(name, 2, **options)
    y = satsr.upscale(x, scale=2, model=model, tile=16, overlap=4)
    assert y.shape == (bands, 48, 48) and y.dtype == np.uint16
    # the detail added stays in proportion: each band's mean moves by under 2 % of its spread
    assert np.all(np.abs(y.mean((1, 2)) - x.mean((1, 2))) < 0.02 * x.std((1, 2)) + 1)


@pytest.mark.parametrize("name", ["zssr", "dip"])
def test_zero_shot_models_are_deterministic_for_a_seed(name: str) -> None:
    x = _scene(2, 32).astype(np.float32)
    runs = [registry.create(name, 2, seed=seed, **TINY) for seed in (7, 7, 8)]
    out = [m.apply(x) for m in runs]
    assert np.array_equal(out[0], out[1])
    assert not np.allclose(out[0], out[2])  # the seed does matter (crops and initial weights)
    assert all(m.fitted is None for m in runs)  # without a fit, each call learns from its own input


@pytest.mark.parametrize("name, options", ZERO_SHOT, ids=["zssr", "dip", "rfsr-self"])
def test_masked_pixels_do_not_change_the_result(name: str, options: dict[str, Any]) -> None:
    x = _scene(3, 40, seed=3).astype(np.float32)
    hole = np.zeros((40, 40), bool)
    hole[5:17, 20:34] = True
    hole[30, 3] = True
    rng = np.random.default_rng(0)
    outs = []
    for fill in (np.nan, -9999.0, np.inf):  # nodata, NaN and inf are all invalid, whatever mix of them
        a = x.copy()
        a[:, hole] = fill
        a[1, 36:, :] = -9999.0  # and a strip invalid in one band only
        a[:, hole & (rng.random(hole.shape) < 0.3)] = -np.inf
        outs.append(satsr.upscale(a, 2, registry.create(name, 2, **options), nodata=-9999.0, tile=24, overlap=4))
    valid = [np.isfinite(o) & (o != -9999.0) for o in outs]
    assert valid[0].sum() > 0.7 * valid[0].size and not valid[0][:, 10:34, 40:68].any() and not valid[0][1, 72:].any()
    for v, other in zip(valid[1:], outs[1:], strict=True):
        assert np.array_equal(v, valid[0]) and np.array_equal(other[v], outs[0][v])


def test_forest_arrays_predict_like_scikit_learn_and_round_trip(tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file
    from sklearn.ensemble import ExtraTreesRegressor

    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, 6)).astype(np.float32)
    Y = np.stack([X[:, 0] * X[:, 1], np.sin(3 * X[:, 2])], 1)
    est = ExtraTreesRegressor(n_estimators=3, max_leaf_nodes=200, random_state=0).fit(X, Y)
    forest = Forest.from_sklearn(est.estimators_)
    save_file(forest.to_arrays(), str(tmp_path / "f.safetensors"))
    back = Forest.from_arrays(load_file(str(tmp_path / "f.safetensors")), "f")
    Xt = rng.normal(size=(5000, 6)).astype(np.float32)
    np.testing.assert_allclose(back.predict(Xt), est.predict(Xt), rtol=0, atol=1e-5)
    bad = forest.to_arrays()
    bad["right"][bad["left"] >= 0] = 0  # a link back to the root: traversal would never end
    with pytest.raises(ModelError, match="node links"):
        Forest.from_arrays(bad, "f")


def test_rfsr_weights_cannot_execute_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    class Payload:
        def __reduce__(self) -> tuple[Any, ...]:
            return open, (str(marker), "w")

    marker = tmp_path / "check" / "pwned"
    marker.parent.mkdir()
    payload = pickle.dumps(Payload())
    pickle.loads(payload).close()  # the payload is live: unpickling it creates the file
    assert marker.exists()
    marker.unlink()
    src = write_geotiff(tmp_path / "in.tif", _scene(3))
    card = {"id": "evil", "model": "rfsr", "scale": 2, "bands": 1, "per_band": True, "kind": "sisr"}
    for suffix in (".safetensors", ".pkl"):
        weights = tmp_path / f"evil{suffix}"
        weights.write_bytes(payload)
        weights.with_suffix(".json").write_text(json.dumps(card))
        code, err = _run(["upscale", src, tmp_path / "out.tif", "-s", "2", "-m", "rfsr", "--weights", weights, "-q"],
                         capsys)
        assert code == 2 and not marker.exists() and not (tmp_path / "out.tif").exists()
        assert len(err.strip().splitlines()) == 1 and err.startswith("satsr: error:") and "evil" in err


def test_rfsr_self_learns_detail_from_the_image_itself() -> None:
    hr = texture(96, 5)
    _, lr = degrade(hr, 2)
    model = registry.create("rfsr", 2, self=True)
    model.fit(lr)
    sr, bic = model.apply(lr), registry.create("bicubic", 2).apply(lr)
    err = [float(np.sqrt(np.mean((a - hr)[:, 4:-4, 4:-4] ** 2))) for a in (sr, bic)]
    assert err[0] < 0.97 * err[1]


def test_fit_reaches_the_model_through_the_trust_wrapper() -> None:
    x = _scene(1, 24).astype(np.float32)
    model = registry.create("zssr", 2, **TINY)
    TrustUpscaler(model, TrustOptions(uncertainty=True)).fit(x)
    assert model.fitted is not None and model.fitted.steps == 3
    model.fit(None)
    assert model.fitted is None


def test_cli_passes_options_and_writes_trust_maps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _scene(2, 32)
    data[:, :4, :] = 0
    src = write_geotiff(tmp_path / "in.tif", data, nodata=0)
    out, unc, hal = tmp_path / "out.tif", tmp_path / "unc.tif", tmp_path / "hal.tif"
    code, err = _run(["upscale", src, out, "-s", "2", "-m", "dip", "--set", "steps=3", "--set", "budget_s=0",
                      "--tile", "16", "--overlap", "4", "--uncertainty", unc, "--hallucination", hal, "-q"], capsys)
    assert code == 0, err
    with rasterio.open(out) as o, rasterio.open(unc) as u:
        assert o.shape == u.shape == (64, 64) and o.nodata == 0 and (o.read()[:, :8] == 0).all()
        assert np.nanmax(u.read()) > 0  # a trained network is not exactly equivariant
    code, err = _run(["upscale", src, tmp_path / "o2.tif", "-s", "2", "-m", "zssr", "--set", "bogus=1"], capsys)
    assert code == 2 and err.count("\n") == 1 and "bogus" in err


def test_evaluate_sisr_passes_options_to_the_models(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(2):
        write_geotiff(tmp_path / f"hr{i}.tif", _scene(1, 48, seed=10 * i))
    main(["evaluate", "sisr", "--hr-dir", str(tmp_path), "-s", "2", "-m", "zssr", "--set", "steps=2",
          "--set", "budget_s=0", "--json"])
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["model"] for r in rows] == ["bicubic", "zssr"] and all(np.isfinite(r["psnr"]) for r in rows)
    with pytest.raises(SystemExit):  # the options reach zssr: an unknown one is its error, not bicubic's
        main(["evaluate", "sisr", "--hr-dir", str(tmp_path), "-s", "2", "-m", "zssr", "--set", "bogus=1"])
    assert "zssr" in capsys.readouterr().err
