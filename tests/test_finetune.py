"""``satsr finetune``: shipped weights fine-tuned on a folder of one's own 16-bit multispectral GeoTIFF
crops, end to end; the held-out scores it prints agree with ``satsr evaluate sisr``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from fake_datasets import fake_paired_folders
from satsr.cli import main
from satsr.data.base import open_dataset
from satsr.evaluate import evaluate_sisr
from satsr.models.registry import WEIGHTS_DIR, create, sha256_of


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_finetune_multispectral_geotiff_crops_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crops = fake_paired_folders(tmp_path / "crops", n=6, scale=2, bands=4, lr_side=24, hr_only=True, dtype="uint16")
    runs = tmp_path / "runs"
    code, out, err = _run(["finetune", "--model", "edsr-ms", "--scale", "2", "--data", str(crops), "--steps", "3",
                           "--degradation", "wald", "--batch", "4", "--precision", "32", "--runs-dir", str(runs),
                           "--no-progress", "my_crops"], capsys)
    assert code == 0, err
    weights = runs / "my_crops" / "export" / "my_crops.safetensors"
    card = json.loads(weights.with_suffix(".json").read_text())
    start = WEIGHTS_DIR / "edsr-ms_x2.safetensors"
    assert card["model"] == "edsr-ms" and card["scale"] == 2 and card["per_band"] and card["value_scale"] == 10000
    assert card["training"]["init_from"]["sha256"] == sha256_of(start)  # warm-started from the shipped weights
    assert card["training"]["steps"] == 3
    hold = card["metrics"]["finetune_holdout"]
    held = open_dataset("folders", crops, "val", scale=2, degradation="wald", val_fraction=0.2)
    assert hold["files"] == held.names and hold["images"] == len(held) >= 1
    rows = hold["rows"]
    assert hold["gain_vs_start"] == pytest.approx(rows["finetuned"]["psnr"] - rows["start"]["psnr"])
    assert hold["gain_vs_bicubic"] == pytest.approx(rows["finetuned"]["psnr"] - rows["bicubic"]["psnr"])
    printed = re.search(r"gain over the starting model: ([-+]\d+\.\d+) dB; over bicubic: ([-+]\d+\.\d+) dB", out)
    assert printed is not None, out
    assert float(printed[1]) == round(hold["gain_vs_start"], 3)
    assert float(printed[2]) == round(hold["gain_vs_bicubic"], 3)
    # the same numbers as `satsr evaluate sisr` on the held-out files, with both weights in one run
    files = [p for p in sorted((crops / "HR").iterdir()) if p.stem in held.names]
    per_file = [evaluate_sisr(f, 2, ["edsr-ms", f"edsr-ms@{weights}"], degradation="wald") for f in files]
    for key, row in (("bicubic", 0), ("start", 1), ("finetuned", 2)):
        assert rows[key]["psnr"] == pytest.approx(np.mean([r.rows[row].psnr for r in per_file]), abs=1e-9)
    assert per_file[0].rows[2].model == "edsr-ms@my_crops"
    # the weights work like any others
    up = create("edsr-ms", 2, weights=weights)
    assert up.apply(np.full((4, 8, 8), 2000.0, np.float32)).shape == (4, 16, 16)


def test_finetune_refuses_what_it_cannot_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pairs = fake_paired_folders(tmp_path / "pairs", n=4, scale=2, bands=3, dtype="uint8", fmt="png")
    cases = [
        (["--model", "edsr", "--scale", "2", "--data", str(pairs), "--degradation", "wald", "x"],
         "holds LR/HR pairs; --degradation applies to a folder of HR images only"),
        (["--model", "edsr-ms", "--scale", "4", "--data", str(pairs), "x"],
         "no shipped single-image weights at x4 to start from"),
        (["--model", "edsr", "--scale", "2", "--data", str(pairs), "bad/name"], "run name 'bad/name'"),
        (["--model", "edsr", "--scale", "2", "--data", str(tmp_path / "none"), "x"], "no such folder"),
    ]
    for args, message in cases:
        code, _, err = _run(["finetune", "--runs-dir", str(tmp_path / "runs"), *args], capsys)
        assert code == 2 and message in err and err.count("\n") == 1, err
