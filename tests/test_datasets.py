"""The public-dataset readers (``satsr.data``) on tiny fake copies of their published layouts and on the
real PROBA-V scenes: shapes, dtypes and values, non-overlapping deterministic splits, clear errors for a
wrong layout, a missing or corrupt file and mismatched sizes, and training on a named dataset."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
import yaml
from PIL import Image

from fake_datasets import (
    fake_oli2msi,
    fake_paired_folders,
    fake_probav,
    fake_sen2venus,
    fake_ucmerced,
    fake_worldstrat,
)
from helpers import write_geotiff
from satsr.data.base import SPLITS, DataLoader, dataset_kinds, open_dataset, split_keys
from satsr.data.patches import PairedPatches, StackCrops
from satsr.errors import InputError, OptionError
from satsr.io.probav import read_imgset
from satsr.ops.filters import degrade


def splits_of(kind: str, root: Path, **options: object) -> dict[str, list[str]]:
    return {s: open_dataset(kind, root, s, **options).names for s in SPLITS}


def assert_disjoint(parts: dict[str, list[str]], everything: set[str] | None = None) -> None:
    seen: set[str] = set()
    for names in parts.values():
        assert not seen & set(names)
        seen |= set(names)
    if everything is not None:
        assert seen == everything


def test_split_keys_are_deterministic_and_disjoint() -> None:
    keys = [f"scene{i:03d}" for i in range(50)]
    which = split_keys(keys, 0.2, 0.1)
    assert sorted(which) == keys
    counts = {s: sum(v == s for v in which.values()) for s in SPLITS}
    assert counts == {"train": 35, "val": 10, "test": 5}
    shuffled = keys[:]
    random.Random(1).shuffle(shuffled)
    assert split_keys(shuffled, 0.2, 0.1) == which  # depends on the keys, not their order
    assert set(split_keys(keys[:2], 0.2).values()) == {"train", "val"}  # tiny sets still get a val item
    assert set(split_keys(keys[:1], 0.2).values()) == {"train"}
    with pytest.raises(OptionError, match="val_fraction"):
        split_keys(keys, 1.5)


def test_registry_names_every_kind_and_refuses_unknown_ones(tmp_path: Path) -> None:
    assert set(dataset_kinds()) == {
        "cubes", "folders", "oli2msi", "probav", "sen2venus", "ucmerced", "video", "worldstrat"
    }
    with pytest.raises(OptionError, match="known datasets: cubes, folders, oli2msi"):
        open_dataset("div2k", tmp_path)
    with pytest.raises(OptionError, match="does not take option.*colour.*takes: subset"):
        open_dataset("sen2venus", tmp_path, colour=True)
    with pytest.raises(OptionError, match="split 'valid'"):
        open_dataset("folders", tmp_path, "valid")


# ----------------------------------------------------------------------------- PROBA-V


def test_probav_fake_layout(tmp_path: Path) -> None:
    root = fake_probav(tmp_path / "probav")
    parts = splits_of("probav", root)
    assert_disjoint(parts)
    assert len(parts["train"]) + len(parts["val"]) == 6 and len(parts["val"]) == 1
    assert sorted(parts["test"]) == ["NIR/imgset1306", "RED/imgset1160"]
    ds = open_dataset("probav", root, "train")
    assert ds.produces == "stacks" and ds.scale == 3 and ds.value_scale == 65535.0
    s = ds[0]
    ref = read_imgset(root / "train" / s["name"])
    assert s["lr"].shape == (4, 1, 8, 8) and s["lr"].dtype == np.float32 and s["qm"].dtype == bool
    assert s["hr"].shape == (1, 24, 24) and s["sm"].shape == (24, 24)
    np.testing.assert_array_equal(s["lr"][:, 0], ref.lr)
    assert "hr" not in open_dataset("probav", root, "test")[0]
    assert open_dataset("probav", root, "train", band="NIR").names == [n for n in parts["train"] if "NIR" in n]
    assert splits_of("probav", root, val_fraction=0.0)["val"] == []


def test_real_probav_scenes_load_through_the_dataset(shared_data: Path) -> None:
    root = shared_data / "probav"
    ds = open_dataset("probav", root, "train", val_fraction=0.0)
    assert ds.names == ["NIR/imgset0594", "RED/imgset0000"]  # the LR-only copies elsewhere are not scenes
    for i, name in enumerate(ds.names):
        ref = read_imgset(root / "train" / name)
        s = ds[i]
        np.testing.assert_array_equal(s["lr"][:, 0], ref.lr)
        np.testing.assert_array_equal(s["qm"], ref.qm)
        np.testing.assert_array_equal(s["hr"][0], ref.hr)
        np.testing.assert_array_equal(s["sm"], ref.sm)
    test = open_dataset("probav", root, "test")
    assert test.names == ["NIR/imgset1306", "RED/imgset1160"] and "hr" not in test[1]
    np.testing.assert_array_equal(test[1]["lr"][:, 0], read_imgset(root / "test" / "RED" / "imgset1160").lr)
    assert_disjoint(splits_of("probav", root, val_fraction=0.5), set(ds.names) | set(test.names))


# ----------------------------------------------------------------------------- WorldStrat


def test_worldstrat_fake_layout(tmp_path: Path) -> None:
    root = fake_worldstrat(tmp_path / "ws")
    parts = splits_of("worldstrat", root)
    assert parts == {"train": ["Landcover-769876", "Landcover-771178", "UNHCR-GRCs035302"],
                     "val": ["Amnesty POI-20-2-2"], "test": ["ASMSpotter-17-2-2"]}  # the published split file
    ds = open_dataset("worldstrat", root, "val")
    s = ds[0]
    assert s["lr"].shape == (3, 3, 6, 6) and s["lr"].dtype == np.float32  # 3 revisits, true colour B4 B3 B2
    assert s["hr"].shape == (3, 40, 40) and s["sm"].all()
    assert ds.value_scale == 10000.0 and ds.input_value_scale == 1.0  # 12-bit SPOT DN, float reflectance
    clear = s["qm"].reshape(3, -1).sum(1)
    assert np.all(np.diff(clear) <= 0)  # clearest first
    folder = root / "lr_dataset" / "Amnesty POI-20-2-2" / "L2A"
    clm = [np.asarray(Image.open(folder / f"Amnesty POI-20-2-2-{n}-CLM.tiff")) == 0 for n in (1, 2, 3)]
    order = np.argsort([-c.sum() for c in clm], kind="stable")
    np.testing.assert_array_equal(s["qm"], np.stack(clm)[order])
    data = []
    for n in (1, 2, 3):
        with rasterio.open(folder / f"Amnesty POI-20-2-2-{n}-L2A_data.tiff") as src:
            assert src.count == 12 and src.dtypes[0] == "float32" and src.crs is not None
            data.append(src.read([4, 3, 2]))
    np.testing.assert_array_equal(s["lr"], np.stack(data)[order])
    l1c = open_dataset("worldstrat", root, "val", level="L1C", scale=4, revisits=2)[0]
    assert l1c["lr"].shape == (2, 3, 6, 6) and l1c["hr"].shape == (3, 24, 24)
    (root / "stratified_train_val_test_split.csv").unlink()
    assert_disjoint(splits_of("worldstrat", root), {n for p in parts.values() for n in p})


def test_worldstrat_demo_renders_load(shared_data: Path) -> None:
    ds = open_dataset("worldstrat", shared_data / "worldstrat_sample", "train", scale=2)
    s = ds[0]
    assert ds.names == ["worldstrat_sample"] and s["lr"].shape == (3, 3, 400, 400) and s["hr"].shape == (3, 800, 800)
    assert ds.value_scale == 255.0 and s["lr"].max() <= 255


# ----------------------------------------------------------------------------- SEN2VENuS


def test_sen2venus_fake_layout(tmp_path: Path) -> None:
    root = fake_sen2venus(tmp_path / "s2v")
    parts = splits_of("sen2venus", root)
    assert_disjoint(parts)
    assert sum(map(len, parts.values())) == 12  # every patch of every acquisition, once
    acquisitions = {s: {n.split("#")[0] for n in names} for s, names in parts.items()}
    assert_disjoint({s: sorted(a) for s, a in acquisitions.items()})  # an acquisition stays in one split
    ds = open_dataset("sen2venus", root, "train")
    s = ds[0]
    site, stem = s["name"].split("#")[0].split("/")
    raw = torch.load(root / site / f"{stem}_10m_b2b3b4b8.pt", weights_only=True)
    assert raw.dtype == torch.int16
    np.testing.assert_array_equal(s["lr"], raw[int(s["name"].split("#")[1])].numpy())
    assert s["lr"].shape == (4, 8, 8) and s["hr"].shape == (4, 16, 16) and ds.scale == 2
    red = open_dataset("sen2venus", root, "train", subset="rededge")[0]
    assert red["lr"].shape == (4, 4, 4) and red["hr"].shape == (4, 16, 16)
    g = open_dataset("sen2venus", root, "train", subset="guided", sites=["ALSACE"])
    assert g.produces == "guided" and all(n.startswith("ALSACE/") for n in g.names)
    sample = g[0]
    assert sample["guide"].shape == (4, 8, 8) and sample["lowres"].shape == (4, 4, 4)
    assert sample["target"].shape == (4, 16, 16)


# ----------------------------------------------------------------------------- OLI2MSI, UC Merced, folders


def test_oli2msi_fake_layout(tmp_path: Path) -> None:
    root = fake_oli2msi(tmp_path / "oli2msi")
    parts = splits_of("oli2msi", root)
    assert_disjoint(parts)
    assert len(parts["test"]) == 2 and len(parts["val"]) == 1 and len(parts["train"]) == 5
    ds = open_dataset("oli2msi", root, "train")
    s = ds[0]
    assert ds.scale == 3 and ds.value_scale == 1.0 and s["lr"].dtype == np.float32
    assert s["lr"].shape == (3, 8, 8) and s["hr"].shape == (3, 24, 24)
    # the fake LR is the 3x3 block mean of the HR: the pair is read aligned
    np.testing.assert_allclose(s["hr"].reshape(3, 8, 3, 8, 3).mean((2, 4)), s["lr"], rtol=1e-5)


def test_ucmerced_class_folders(tmp_path: Path) -> None:
    root = fake_ucmerced(tmp_path / "UCMerced_LandUse" / "Images")
    parts = splits_of("ucmerced", root)
    assert_disjoint(parts, {f"{c}/{c}{i:02d}" for c in ("agricultural", "buildings", "forest") for i in range(5)})
    for names in (parts["train"], parts["val"]):  # split per class: every class on both sides
        assert {n.split("/")[0] for n in names} == {"agricultural", "buildings", "forest"}
    ds = open_dataset("ucmerced", root, "train", classes=["buildings"], scale=4, degradation="bicubic")
    s = ds[0]
    assert s["label"] == "buildings" and ds.value_scale == 255.0 and ds.produces == "pairs"
    hr, lr = degrade(s["hr"], 4, "bicubic", eight_bit=True)
    np.testing.assert_array_equal(s["lr"], lr)
    assert s["hr"].shape == (3, 32, 32) and s["lr"].shape == (3, 8, 8)
    assert open_dataset("ucmerced", root, "train").produces == "hr"


def test_ucmerced_shared_split_folders(shared_data: Path) -> None:
    val = open_dataset("ucmerced", shared_data / "ucmerced", "val", classes=["beach", "forest"])
    assert len(val) == 10 and {s.split("/")[0] for s in val.names} == {"beach", "forest"}
    train = open_dataset("ucmerced", shared_data / "ucmerced", "train", classes=["beach"])
    assert len(train) == 40 and not {n.split("/")[1] for n in train.names} & {n.split("/")[1] for n in val.names}


@pytest.mark.parametrize(("fmt", "bands", "dtype"), [("tif", 4, "uint16"), ("tif", 1, "float32"), ("png", 3, "uint8"),
                                                       ("png", 1, "uint16")])
def test_paired_folders_any_bands_and_depth(tmp_path: Path, fmt: str, bands: int, dtype: str) -> None:
    root = fake_paired_folders(tmp_path / "pairs", n=5, scale=3, bands=bands, dtype=dtype, fmt=fmt)
    parts = splits_of("folders", root)
    assert_disjoint(parts, {f"crop_{i:03d}" for i in range(5)})
    ds = open_dataset("folders", root, "train")
    s = ds[0]
    assert ds.scale == 3 and s["lr"].shape == (bands, 8, 8) and s["hr"].shape == (bands, 24, 24)
    assert ds.value_scale == {"uint8": 255.0, "uint16": 10000.0, "float32": 1.0}[dtype]
    np.testing.assert_allclose(s["hr"].reshape(bands, 8, 3, 8, 3).mean((2, 4)), s["lr"], atol=0.51)


def test_hr_only_folders_with_a_degradation_and_split_folders(tmp_path: Path) -> None:
    for split, n in (("train", 4), ("val", 2)):
        fake_paired_folders(tmp_path / "data" / split, n=n, scale=2, bands=2, hr_only=True, seed=10 * n)
    ds = open_dataset("folders", tmp_path / "data", "val", scale=2, degradation="wald")
    assert ds.names == ["crop_000", "crop_001"] and ds.produces == "pairs"
    s = ds[1]
    np.testing.assert_array_equal(s["lr"], degrade(s["hr"], 2, "wald")[1])
    assert open_dataset("folders", tmp_path / "data", "train").produces == "hr"
    with pytest.raises(InputError, match="no test/"):
        open_dataset("folders", tmp_path / "data", "test")
    with pytest.raises(OptionError, match="give the scale"):
        open_dataset("folders", tmp_path / "data", "val", degradation="bicubic")


# ----------------------------------------------------------------------------- errors


def test_wrong_layouts_are_one_clear_error(tmp_path: Path) -> None:
    fake_ucmerced(tmp_path / "uc")
    cases = [("oli2msi", tmp_path / "uc", r"no train_hr/ folder; expected .*OLI2MSI"),
             ("worldstrat", tmp_path / "uc", r"no hr_dataset/ folder; expected hr_dataset/\[12bit/\]<AOI>"),
             ("probav", tmp_path / "uc", r"no train/RED, train/NIR.*imgsetNNNN"),
             ("sen2venus", tmp_path / "uc", r"no \*_10m_b2b3b4b8.pt files"),
             ("ucmerced", tmp_path / "uc" / "buildings", r"images directly in it \(buildings00.tif\)"),
             ("folders", tmp_path / "nothing", r"no such folder")]
    for kind, root, pattern in cases:
        with pytest.raises(InputError, match=pattern):
            open_dataset(kind, root)


def test_missing_partner_files_are_named(tmp_path: Path) -> None:
    root = fake_paired_folders(tmp_path / "pairs", n=3)
    (root / "LR" / "crop_001.tif").unlink()
    with pytest.raises(InputError, match=r"HR/crop_001.tif: has no partner in .*LR \(expected .*LR/crop_001\.\*"):
        open_dataset("folders", root)
    s2v = fake_sen2venus(tmp_path / "s2v", sites={"ARM": [("C_15SVA_2018-05-01", 2)]})
    (s2v / "ARM" / "ARM_C_15SVA_2018-05-01_05m_b2b3b4b8.pt").unlink()
    with pytest.raises(InputError, match=r"ARM_C_15SVA_2018-05-01_05m_b2b3b4b8.pt: missing; .*_10m_b2b3b4b8.pt needs"):
        open_dataset("sen2venus", s2v)
    ws = fake_worldstrat(tmp_path / "ws", aois=["Landcover-1"], splits=None)
    for p in (ws / "lr_dataset" / "Landcover-1" / "L2A").glob("*_data.tiff"):
        p.unlink()
    with pytest.raises(InputError, match=r"no Landcover-1-<n>-L2A_data.tiff revisits for the HR image .*_ps.tiff"):
        open_dataset("worldstrat", ws)


def test_mismatched_sizes_name_the_file_and_the_expected_size(tmp_path: Path) -> None:
    root = fake_paired_folders(tmp_path / "pairs", n=4, scale=2, lr_side=8)
    write_geotiff(root / "HR" / "crop_002.tif", np.ones((4, 15, 16)), dtype="uint16")
    for split in ("train", "val"):  # the pair is checked whichever split it falls in
        try:
            open_dataset("folders", root, split, scale=2)
        except InputError as exc:
            assert "crop_002.tif: is 16x15 px; expected 16x16 px, 2 times its LR partner" in str(exc)
            break
    else:
        pytest.fail("the mismatched pair was not reported")
    om = fake_oli2msi(tmp_path / "om", train=1, test=1)
    name = next((om / "test_lr").iterdir()).name
    write_geotiff(om / "test_lr" / name, np.ones((3, 9, 8)), dtype="float32")
    with pytest.raises(InputError, match=rf"test_hr/{name}: is 24x24 px; expected 24x27 px, 3 times"):
        open_dataset("oli2msi", om, "test")
    s2v = fake_sen2venus(tmp_path / "s2v", sites={"ARM": [("C_15SVA_2018-05-01", 2)]})
    torch.save(torch.zeros(2, 4, 30, 30, dtype=torch.int16), s2v / "ARM" / "ARM_C_15SVA_2018-05-01_05m_b2b3b4b8.pt")
    with pytest.raises(InputError, match=r"_05m_b2b3b4b8.pt: patches are 30x30 px; expected 16x16 px, 2 times"):
        splits_of("sen2venus", s2v, val_fraction=0.0, test_fraction=0.0)


def test_corrupt_files_are_one_line_even_from_loader_workers(tmp_path: Path) -> None:
    root = fake_paired_folders(tmp_path / "pairs", n=4, fmt="png", bands=3, dtype="uint8")
    ds = open_dataset("folders", root, "train", val_fraction=0.0)
    bad = root / "HR" / "crop_002.png"
    bad.write_bytes(bad.read_bytes()[:60])  # truncated: the header survives, the pixels do not
    with pytest.raises(InputError, match="crop_002.png: cannot decode"):
        ds.check()
    with pytest.raises(InputError) as info:
        for _ in DataLoader(ds, batch_size=1, num_workers=1):
            pass
    message = str(info.value)
    assert "crop_002.png" in message and "\n" not in message and "Traceback" not in message
    s2v = fake_sen2venus(tmp_path / "s2v", sites={"ARM": [("C_15SVA_2018-05-01", 2)]})
    (s2v / "ARM" / "ARM_C_15SVA_2018-05-01_20m_b4b5b6b8a.pt").write_bytes(b"PK\x03\x04 not a tensor")
    with pytest.raises(InputError, match=r"_20m_b4b5b6b8a.pt: cannot read the tensor"):
        open_dataset("sen2venus", s2v, subset="rededge", val_fraction=0.0, test_fraction=0.0)


# ----------------------------------------------------------------------------- training draws and configs


def test_paired_patches_stay_aligned_through_flips_and_rotations(tmp_path: Path) -> None:
    ds = open_dataset("oli2msi", fake_oli2msi(tmp_path / "om", lr_side=10), "train")
    pairs = [(s["lr"], s["hr"]) for s in ds]
    draws = PairedPatches(pairs, patch=4, scale=3, length=20, seed=3)
    for i in range(len(draws)):
        item = draws[i]
        assert item["lr"].shape == (3, 4, 4) and item["hr"].shape == (3, 12, 12)
        torch.testing.assert_close(item["hr"].reshape(3, 4, 3, 4, 3).mean((2, 4)), item["lr"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(draws[7]["hr"], PairedPatches(pairs, 4, 3, 20, seed=3)[7]["hr"])  # reproducible


def test_stack_crops_keep_frames_per_batch(tmp_path: Path) -> None:
    ds = open_dataset("probav", fake_probav(tmp_path / "pv", side=12), "train")
    stacks = list(ds)
    crops = StackCrops(stacks, patch=6, scale=3, frames=(2, 4), batch=2, length=16, lr_scale=65535, hr_scale=65535)
    counts = [crops[i]["lr"].shape[0] for i in range(16)]
    assert counts[0::2] == counts[1::2] and len(set(counts)) > 1  # one frame count per batch, drawn per batch
    item = crops[0]
    assert item["lr"].shape[1:] == (1, 6, 6) and item["hr"].shape == (1, 18, 18) and item["sm"].shape == (18, 18)
    assert float(item["hr"].max()) < 1 and item["qm"].dtype == torch.bool
    padded = StackCrops(stacks, patch=6, scale=3, frames=(6, 6), batch=1, length=1)[0]
    assert padded["lr"].shape[0] == 6 and not padded["qm"][4:].any()  # 4 real frames + 2 fully cloudy copies


def _config(tmp_path: Path, data: dict[str, object], **extra: object) -> Path:
    cfg = {"name": "named", "model": "edsr", "scale": 3, "bands": 3, "arch": {"n_blocks": 1, "feats": 8},
           "data": data, "patch": 6, "batch": 2, "steps": 3, "warmup": 1, "val_every": 3, "ckpt_every": 3,
           "log_every": 1, "precision": "32", "channels_last": False, "out_dir": str(tmp_path / "runs"),
           "export": {"id": "named_x3"}, **extra}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_configs_name_datasets_and_bad_ones_are_refused(tmp_path: Path) -> None:
    from satsr.train.config import load_config

    cfg, _ = load_config(_config(tmp_path, {"dataset": "oli2msi", "root": "om", "split": "train"}))
    assert cfg.data.dataset == "oli2msi" and cfg.data.split == "train"
    with pytest.raises(InputError, match=r"at 'data': .*unknown dataset 'div2k'; known datasets: cubes, folders"):
        load_config(_config(tmp_path, {"dataset": "div2k", "root": "x"}))
    with pytest.raises(InputError, match="needs `root`"):
        load_config(_config(tmp_path, {"dataset": "oli2msi"}))
    with pytest.raises(InputError, match="not both"):
        load_config(_config(tmp_path, {"dataset": "oli2msi", "root": "om", "train": ["*.png"]}))


def test_training_on_named_datasets(tmp_path: Path) -> None:
    """``satsr train`` takes real pairs (OLI2MSI, x3) and real revisit stacks (PROBA-V) by name."""
    from satsr.models.registry import create
    from satsr.train.run import train

    fake_oli2msi(tmp_path / "om", lr_side=10)
    run = train(_config(tmp_path, {"dataset": "oli2msi", "root": "om"}), accelerator="cpu", progress=False)
    up = create("edsr", 3, weights=run / "export" / "named_x3.safetensors")
    assert up.card.value_scale == 1.0  # the dataset's own units (float reflectance)
    assert set(up.card.metrics["holdout_validation"]) >= {"psnr_model", "psnr_bicubic"}
    fake_probav(tmp_path / "pv", side=12)
    misr = _config(tmp_path, {"dataset": "probav", "root": "pv", "options": {"val_fraction": 0.3}}, name="pv",
                   task="misr", model="highresnet", bands=1, arch={"feats": 8, "enc_blocks": 1},
                   task_options={"frames": [2, 3], "val_stacks": 2}, export={"id": "highresnet_x3"})
    run = train(misr, accelerator="cpu", progress=False)
    card = create("highresnet", 3, kind="misr", weights=run / "export" / "highresnet_x3.safetensors").card
    assert "cpsnr_model" in card.metrics["holdout_validation"]
    with pytest.raises(InputError, match="gives stacks samples; single-image training needs pairs"):
        train(_config(tmp_path, {"dataset": "probav", "root": "pv"}, name="wrong"), accelerator="cpu", progress=False)
