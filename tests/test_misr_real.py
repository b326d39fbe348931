"""Semi-real multi-image training pairs from LR-only revisit stacks (``satsr.train.misr_real``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import misr_config, write_imgset
from satsr.data.misr_real import RealStack, load_real_stacks, semireal_item, target_frames
from satsr.data.revisits import RevisitParams, psf_margin
from satsr.errors import InputError

PARAMS = RevisitParams(psf_sigma=(0.5, 0.5), psf_jitter=0.0)
SIDE = 24 + 2 * psf_margin(PARAMS, 3)


def _constant_stack(values: list[float], side: int = SIDE) -> RealStack:
    lr = torch.tensor(values, dtype=torch.float32)[:, None, None].expand(len(values), side, side).clone()
    qm = torch.ones(lr.shape, dtype=torch.bool)
    return RealStack("const", lr, qm, np.arange(len(values)))


def test_the_target_frame_is_never_an_input_and_missing_frames_are_padded() -> None:
    values = [1000.0, 2000.0, 3000.0, 4000.0]
    stack = _constant_stack(values)
    rng = np.random.default_rng(0)
    for _ in range(8):
        item = semireal_item(stack, 24, 3, PARAMS, n_frames=5, rng=rng, noise=(0.0, 0.0))
        assert item["lr"].shape == (5, 1, 8, 8) and item["qm"].shape == (5, 8, 8)
        assert item["hr"].shape == (1, 24, 24) and item["sm"].shape == (24, 24)
        target = float(item["hr"].unique())
        inputs = {float(v) for v in item["lr"][:3].unique()}
        assert target in values and inputs == set(values) - {target}  # the PSF keeps constants
        assert not item["qm"][3:].any() and item["qm"][:3].all()  # 3 real frames, 2 fully cloudy pads


def test_the_target_frame_can_be_one_of_the_inputs() -> None:
    values = [1000.0, 2000.0, 3000.0]
    stack = _constant_stack(values)
    rng = np.random.default_rng(6)
    for _ in range(4):
        item = semireal_item(stack, 24, 3, PARAMS, n_frames=4, rng=rng, noise=(0.0, 0.0), include_target=True)
        assert {float(v) for v in item["lr"][:3].unique()} == set(values)  # its own reduction too
        assert float(item["hr"].unique()) in values and not item["qm"][3:].any()


def test_clouds_are_masked_and_never_smeared_into_clear_inputs() -> None:
    side = SIDE
    rng = np.random.default_rng(1)
    ground = (3000 + 200 * rng.standard_normal((side, side))).astype(np.float32)
    clean = np.stack([ground, ground, ground])
    cloudy, qm = clean.copy(), np.ones(clean.shape, bool)
    cloudy[1, :, side // 2 :] = 16000.0  # a bright cloud on the right half of frame 1, flagged
    qm[1, :, side // 2 :] = False

    def item(lr: np.ndarray, q: np.ndarray) -> dict[str, torch.Tensor]:
        stack = RealStack("s", torch.from_numpy(lr), torch.from_numpy(q), np.array([0]))
        return semireal_item(stack, 24, 3, PARAMS, n_frames=2, rng=np.random.default_rng(2), noise=(0.0, 0.0))

    ref, got = item(clean, np.ones(clean.shape, bool)), item(cloudy, qm)
    clear = got["qm"]
    assert (~clear).any() and clear.any()
    # every input pixel still marked clear is exactly what it would be without the cloud
    diff = (got["lr"][:, 0] - ref["lr"][:, 0]).abs()
    assert float(diff[clear].max()) <= 1.0, float(diff[clear].max())


def test_target_frames_drop_unflagged_clouds_and_cloudy_frames() -> None:
    rng = np.random.default_rng(3)
    ground = 3000 + 300 * rng.standard_normal((30, 30))
    lr = np.stack([ground * g + o + 20 * rng.standard_normal((30, 30)) for g, o in
                   [(1, 0), (1.05, 10), (0.97, -30), (1.02, 5), (1, 0), (1, 0)]])
    lr[4, 5:20, 5:20] = 15000  # an unflagged cloud
    qm = np.ones(lr.shape, bool)
    qm[5, :15] = False  # flagged: only half clear
    assert list(target_frames(lr, qm)) == [0, 1, 2, 3]


def test_scenes_with_hr_are_refused_and_lr_only_scenes_load(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    lr = rng.integers(1000, 5000, (4, 40, 40))
    scored = write_imgset(tmp_path / "train" / "RED" / "imgset0000", lr, hr=rng.integers(1000, 5000, (120, 120)))
    with pytest.raises(InputError, match="HR.png"):
        load_real_stacks([scored])
    lr_only = write_imgset(tmp_path / "lr_only" / "RED" / "imgset0001", lr)
    (stack,) = load_real_stacks([lr_only])
    assert stack.lr.shape == (4, 40, 40) and bool(stack.qm.all())


def test_training_batches_mix_in_semireal_stacks(tmp_path: Path) -> None:
    import yaml

    from satsr.train import misr
    from satsr.train.config import load_config

    path = misr_config(tmp_path, 4)
    cfg = yaml.safe_load(path.read_text())
    rng = np.random.default_rng(5)
    write_imgset(tmp_path / "pv" / "lr_only" / "NIR" / "imgset0002", rng.integers(2000, 3000, (6, 50, 50)))
    write_imgset(tmp_path / "pv" / "train" / "NIR" / "imgset0003", rng.integers(2000, 3000, (6, 50, 50)),
                 hr=rng.integers(2000, 3000, (150, 150)))
    cfg["data"]["exclude"] = ["pv/train/**/*"]  # the scored scene is excluded, so it is never read
    cfg["task_options"]["real_stacks"] = {"paths": ["pv"], "weight": 1.0, "noise": [0, 0]}
    path.write_text(yaml.safe_dump(cfg))
    conf, base = load_config(path)
    _, train_dl, _ = misr.build(conf, base)
    ds = train_dl.dataset
    assert [Path(s.name).name for s in ds.real] == ["imgset0002"]
    batch = next(iter(train_dl))
    assert batch["hr"].shape == (4, 1, 24, 24) and batch["lr"].shape[2:] == (1, 8, 8)
    # semi-real values are the real DN (2000-3000) over the value scale, not a simulated 14-bit scene
    assert 2000 / 65535 < float(batch["hr"].mean()) < 3000 / 65535
