"""Video SR: the ``swvsr`` window model, the ``video`` driver and command, clip reading/writing, the
``video`` training windows and ``satsr evaluate video``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine

from helpers import run_cli, smooth_image, write_geotiff
from satsr.data.base import open_dataset
from satsr.errors import InputError
from satsr.evaluate.video import temporal_scores
from satsr.io.image import read_image, write_image
from satsr.models import registry
from satsr.ops.frames import shot_bounds, window_order
from satsr.video import upscale_frames


def one_line_error(code: int, err: str) -> None:
    assert code == 2 and err.startswith("satsr: error: ") and err.count("\n") == 1 and "Traceback" not in err, err


def drifting_clip(frames: int, size: int = 16, seed: int = 0) -> np.ndarray:
    """8-bit-range RGB frames ``(T, 3, size, size)`` of one scene drifting by a quarter pixel per frame."""
    big = smooth_image(3, size + 8, size + 8, seed=seed, lo=20, hi=230, noise=0.0)
    out = []
    for t in range(frames):
        d = 0.25 * t
        i = int(d)
        f = d - i
        out.append((1 - f) * big[:, 2:2 + size, 2 + i:2 + i + size] + f * big[:, 2:2 + size, 3 + i:3 + i + size])
    return np.round(np.stack(out)).astype(np.float32)


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    """A video model: the shipped swvsr_x4 when present, else a freshly built one (same code paths)."""
    torch.manual_seed(0)
    if registry.find_card("swvsr", 4, "misr") is not None:
        return registry.create("swvsr", 4, kind="misr")
    return registry.create("swvsr", 4, kind="misr", pretrained=False)


def test_window_order_and_shots() -> None:
    assert window_order(5, 0, 10, 5) == ([5, 4, 6, 3, 7], [True] * 5)
    assert window_order(0, 0, 10, 5) == ([0, 0, 1, 0, 2], [True, False, True, False, True])
    assert window_order(3, 3, 3, 3) == ([3, 3, 3], [True, False, False])
    clip = drifting_clip(4)
    other = smooth_image(3, 16, 16, seed=9, lo=20, hi=230, noise=0.0)[None].astype(np.float32)
    assert shot_bounds(clip) == [(0, 3)]
    assert shot_bounds(np.concatenate([clip[:2], other, clip[2:]])) == [(0, 1), (2, 2), (3, 4)]


def test_one_frame_gives_the_single_image_result(model) -> None:  # type: ignore[no-untyped-def]
    frame = drifting_clip(1)
    out = upscale_frames(frame, model, 4)
    single = model.apply(frame, np.ones((1, 16, 16), bool))[0]  # the network with no neighbour at all
    assert out.shape == (1, 3, 64, 64) and np.isfinite(out).all()
    np.testing.assert_allclose(out[0], single, atol=1e-4)
    # a window whose neighbours are all masked out is the same computation
    masked = model.apply(np.repeat(frame, 5, 0), np.array([True, False, False, False, False])[:, None, None]
                         .repeat(16, 1).repeat(16, 2))[0]
    np.testing.assert_allclose(masked, single, atol=1e-4)


def test_three_frames_and_a_scene_cut(model) -> None:  # type: ignore[no-untyped-def]
    clip = drifting_clip(3)
    out = upscale_frames(clip, model, 4)
    assert out.shape == (3, 3, 64, 64) and np.isfinite(out).all()
    # two unrelated images: a cut between them, so each is upscaled alone (its single-image result)
    a = drifting_clip(1)
    b = smooth_image(3, 16, 16, seed=7, lo=20, hi=230, noise=0.0)[None].astype(np.float32)
    cut = upscale_frames(np.concatenate([a, b]), model, 4)
    np.testing.assert_allclose(cut[0], upscale_frames(a, model, 4)[0], atol=1e-4)
    np.testing.assert_allclose(cut[1], upscale_frames(b, model, 4)[0], atol=1e-4)


def test_single_image_models_run_per_frame() -> None:
    clip = drifting_clip(2)
    out = upscale_frames(clip, "bicubic", 4)
    bic = registry.create("bicubic", 4)
    np.testing.assert_allclose(out[1], bic.apply(clip[1]), atol=1e-4)


def test_video_command_folder_round_trip_and_errors(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "clip"
    src.mkdir()
    for t, f in enumerate(drifting_clip(3)):
        write_image(src / f"frame_{t + 9}.png", f)  # natural order: 9, 10, 11
    code, out, err = run_cli(["video", src, tmp_path / "up", "--scale", 4, "--model", "bicubic", "-q"], capsys)
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "up").iterdir())
    assert names == ["frame_10.png", "frame_11.png", "frame_9.png"]
    assert read_image(tmp_path / "up" / "frame_9.png").shape == (3, 64, 64)
    # an existing output is refused without --overwrite; nothing is changed
    code, _, err = run_cli(["video", src, tmp_path / "up", "--model", "bicubic", "-q"], capsys)
    one_line_error(code, err)
    # frames of different sizes: one error, no output
    write_image(src / "frame_12.png", np.zeros((3, 20, 16)))
    code, _, err = run_cli(["video", src, tmp_path / "up2", "--model", "bicubic", "-q"], capsys)
    one_line_error(code, err)
    assert "frame_12.png" in err and not (tmp_path / "up2").exists()
    # an empty folder: one error, no output
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(["video", tmp_path / "empty", tmp_path / "up3", "-q"], capsys)
    one_line_error(code, err)
    assert not (tmp_path / "up3").exists()
    assert not list(tmp_path.glob(".satsr-tmp-*"))


def test_video_command_geotiff_of_frames(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    clip = drifting_clip(3)[:, :1]  # single-band frames, one per band
    src = write_geotiff(tmp_path / "clip.tif", clip[:, 0].astype(np.uint8), dtype="uint8",
                        transform=Affine(4.0, 0.0, 500000.0, 0.0, -4.0, 4200000.0))
    code, _, err = run_cli(["video", src, tmp_path / "up.tif", "--scale", 2, "--model", "bicubic", "-q"], capsys)
    assert code == 0, err
    with rasterio.open(tmp_path / "up.tif") as ds:
        assert (ds.count, ds.height, ds.width, ds.dtypes[0]) == (3, 32, 32, "uint8")
        assert ds.transform.a == 2.0 and ds.transform.c == 500000.0


def test_video_training_windows_never_see_the_held_out_frames(tmp_path: Path) -> None:
    for t, f in enumerate(drifting_clip(8)):
        write_image(tmp_path / f"f{t:02d}.png", f)
    train = open_dataset("video", tmp_path, "train", scale=4, window=5, holdout_last=3)
    test = open_dataset("video", tmp_path, "test", scale=4, window=5, holdout_last=3)
    assert train.span == (0, 4) and test.span == (5, 7) and len(train) == 5 and len(test) == 3
    s = train[4]  # the last training frame: its +1 and +2 neighbours are held out, so masked
    assert s["lr"].shape == (5, 3, 4, 4) and s["hr"].shape == (3, 16, 16)
    assert s["qm"][:, 0, 0].tolist() == [True, True, False, True, False]
    np.testing.assert_array_equal(s["lr"][2], s["lr"][0])  # the masked neighbour is the target repeated


def test_temporal_scores_known_values() -> None:
    hr = np.zeros((3, 1, 4, 4))
    hr[1] += 2.0
    s = temporal_scores(hr.copy(), hr, border=0)
    assert s == {"flicker": 2.0, "flicker_hr": 2.0, "temporal_error": 0.0}
    still = np.ones_like(hr)
    s = temporal_scores(still, hr, border=0)
    assert s["flicker"] == 0.0 and s["temporal_error"] == 2.0


def test_evaluate_video_json(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    for t, f in enumerate(drifting_clip(4, size=32)):
        write_image(tmp_path / f"f{t}.png", f)
    code, out, err = run_cli(["evaluate", "video", "--clip", tmp_path, "--model", "bicubic", "--last", 3,
                              "--json"], capsys)
    assert code == 0, err
    rep = json.loads(out)
    assert rep["frames"] == 3 and rep["first_frame"] == "f1.png"
    row = rep["rows"][0]
    assert row["model"] == "bicubic" and len(row["psnr_per_frame"]) == 3 and row["psnr"] > 20
    assert row["flicker_hr"] > 0


def test_bad_clips_are_input_errors(tmp_path: Path) -> None:
    from satsr.io.video import read_clip

    (tmp_path / "e").mkdir()
    with pytest.raises(InputError, match="no frame images"):
        read_clip(tmp_path / "e")
    single = write_image(tmp_path / "one.png", np.zeros((3, 8, 8)))
    with pytest.raises(InputError, match="not a clip"):
        read_clip(single)


def test_shipped_swvsr_beats_per_frame_edsr_on_held_out_frames(shared_data: Path) -> None:
    """The window model must use its neighbours: on the clip's last frames (never seen in training) it beats
    the single-image EDSR run per frame and does not flicker more (BENCHMARKS.md: 20 frames, +2.8 dB)."""
    from satsr.evaluate.video import video_evaluate

    if registry.find_card("swvsr", 4, "misr") is None or registry.find_card("edsr", 4) is None:
        pytest.skip("no shipped swvsr_x4 (or edsr_x4) weights")
    rep = video_evaluate(shared_data / "video" / "clip1", ["swvsr", "edsr"], 4, last=4)
    rows = {r["model"]: r for r in rep["rows"]}
    assert rows["swvsr"]["psnr"] > rows["edsr"]["psnr"] + 0.3, rows
    assert rows["swvsr"]["flicker"] <= rows["edsr"]["flicker"], rows
