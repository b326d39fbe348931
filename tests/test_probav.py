"""PROBA-V imgset/dataset reader: real scenes and tiny synthetic folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers import write_imgset
from satsr.data.probav import ProbaVDataset
from satsr.errors import InputError
from satsr.io.probav import find_imgsets, find_norm, is_imgset, read_imgset, read_norm


def test_synthetic_imgset_is_ordered_by_clearance(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    lr = rng.integers(1000, 5000, (4, 8, 8))
    qm = np.ones((4, 8, 8), bool)
    qm[0, :4] = False  # frame 0: half clear
    qm[2, :1] = False  # frame 2: 7/8 clear
    hr = rng.integers(1000, 5000, (24, 24))
    sm = np.ones((24, 24), bool)
    sm[0, 0] = False
    d = write_imgset(tmp_path / "train" / "NIR" / "imgset0042", lr, qm, hr, sm)
    s = read_imgset(d)
    assert s.name == "imgset0042" and s.band == "NIR" and s.split == "train" and s.has_hr and s.has_qm
    # clearest first; ties keep file order
    assert s.frame_names == ["LR001", "LR003", "LR002", "LR000"]
    assert np.array_equal(s.lr[0], lr[1]) and np.array_equal(s.lr[3], lr[0])
    assert np.array_equal(s.qm[3], qm[0])
    assert s.clearance.tolist() == [1.0, 1.0, 0.875, 0.5]
    assert s.frames.shape == (4, 1, 8, 8) and s.lr.dtype == np.float32
    assert np.array_equal(s.hr, hr) and np.array_equal(s.sm, sm)
    unordered = read_imgset(d, order_by_clearance=False)
    assert unordered.frame_names == ["LR000", "LR001", "LR002", "LR003"]


def test_lr_only_folder_is_all_clear(tmp_path: Path) -> None:
    lr = np.full((3, 6, 6), 2000)
    s = read_imgset(write_imgset(tmp_path / "imgset0001", lr))
    assert not s.has_qm and not s.has_hr and s.qm.all() and s.qm.shape == (3, 6, 6)
    assert s.band is None and s.split is None


def test_bad_folders_raise_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no LR"):
        read_imgset(tmp_path)
    with pytest.raises(InputError, match="not a folder"):
        read_imgset(tmp_path / "missing")
    d = write_imgset(tmp_path / "imgset0002", np.full((2, 4, 4), 9), np.ones((2, 4, 4), bool))
    (d / "QM001.png").unlink()
    with pytest.raises(InputError, match="QM001.png"):
        read_imgset(d)
    e = write_imgset(tmp_path / "imgset0003", np.full((1, 4, 4), 9))
    (e / "LR000.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="cannot decode"):
        read_imgset(e)
    assert not is_imgset(tmp_path / "nothing")


def test_norm_file_and_dataset(tmp_path: Path) -> None:
    root = tmp_path / "probav"
    write_imgset(root / "train" / "RED" / "imgset0000", np.full((2, 4, 4), 5), hr=np.full((12, 12), 5))
    write_imgset(root / "train" / "NIR" / "imgset0594", np.full((2, 4, 4), 5), hr=np.full((12, 12), 5))
    write_imgset(root / "test" / "RED" / "imgset1160", np.full((2, 4, 4), 5))
    (root / "norm.csv").write_text("imgset0000 52.5\nimgset0594 50.0\n\n")
    assert read_norm(root / "norm.csv") == {"imgset0000": 52.5, "imgset0594": 50.0}
    assert find_norm(root / "train" / "RED") == (root / "norm.csv").resolve()
    assert len(find_imgsets(root)) == 3
    assert [p.name for p in find_imgsets(root, with_hr=True)] == ["imgset0594", "imgset0000"]
    assert [p.name for p in find_imgsets(root, with_hr=False)] == ["imgset1160"]
    ds = ProbaVDataset(root, split="train", band="red")
    assert len(ds) == 1 and ds[0].name == "imgset0000" and ds.norm["imgset0594"] == 50.0
    assert [s.name for s in ProbaVDataset(root / "train")] == ["imgset0594", "imgset0000"]
    (root / "bad.csv").write_text("imgset0000\n")
    with pytest.raises(InputError, match="bad.csv:1"):
        read_norm(root / "bad.csv")


def test_real_scenes(shared_data: Path) -> None:
    root = shared_data / "probav"
    scored = find_imgsets(root, with_hr=True)
    assert [p.name for p in scored] == ["imgset0594", "imgset0000"]  # NIR sorts before RED
    s = read_imgset(root / "train" / "RED" / "imgset0000")
    assert s.lr.shape == (17, 128, 128) and s.hr.shape == (384, 384) and s.sm.shape == (384, 384)
    assert s.band == "RED" and s.split == "train"
    assert np.all(np.diff(s.clearance) <= 0)
    assert s.hr.min() > 0 and s.hr.max() < 2**14  # 14-bit data in 16-bit PNGs
    nir = read_imgset(root / "train" / "NIR" / "imgset0594")
    assert nir.lr.shape[0] == 21 and np.all(np.diff(nir.clearance) <= 0) and nir.clearance[-1] < 0.8
    lr_only = [read_imgset(p) for p in find_imgsets(root / "lr_only")]
    assert lr_only and all(not x.has_qm and x.qm.all() and not x.has_hr for x in lr_only)
    test = read_imgset(root / "test" / "RED" / "imgset1160")
    assert test.has_qm and not test.has_hr and test.split == "test"
    assert read_norm(find_norm(root))["imgset0000"] == pytest.approx(52.352172662454414)
