"""Multi-device training: ``satsr train --accelerator cpu --devices 2 --strategy ddp`` (gloo, two processes)
learns like one device with the same global batch, records the devices in its card, and its checkpoint
resumes on one device. Plus the ``trainer:`` config section and its flags."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from helpers import misr_config, sisr_config
from satsr.data.sampling import RankBatches
from satsr.errors import InputError, OptionError
from satsr.train.config import load_config, with_trainer_flags
from satsr.train.run import train

BIN = Path(sys.executable).parent


def _variant(path: Path, name: str, batch: int) -> Path:
    """A copy of the config at ``path`` under another run name and per-device batch."""
    cfg = yaml.safe_load(path.read_text())
    cfg.update(name=name, batch=batch)
    out = path.with_name(f"{name}.yaml")
    out.write_text(yaml.safe_dump(cfg))
    return out


def _last_loss(run_dir: Path) -> tuple[int, float]:
    """(step, train_loss) of the last logged training step."""
    with open(run_dir / "log" / "version_0" / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("train_loss")]
    return int(rows[-1]["step"]), float(rows[-1]["train_loss"])


def test_ddp_on_two_cpu_processes_matches_one_device_and_resumes_on_one(tmp_path: Path) -> None:
    runs = {}
    for task, make in (("sisr", sisr_config), ("misr", misr_config)):
        (tmp_path / task).mkdir()
        base = make(tmp_path / task, 20)
        cfg = yaml.safe_load(base.read_text())
        cfg["log_every"] = 1
        base.write_text(yaml.safe_dump(cfg))
        runs[task] = (_variant(base, "ddp", 2), _variant(base, "one", 4))  # the same global batch of 4
    # both two-process runs at once (Lightning starts the second process of each by running the command again)
    procs = {task: subprocess.Popen([str(BIN / "satsr"), "train", str(ddp), "--accelerator", "cpu", "--devices", "2",
                                     "--strategy", "ddp", "--no-progress"], stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
             for task, (ddp, _) in runs.items()}
    single = {task: train(one, accelerator="cpu", devices=1, progress=False) for task, (_, one) in runs.items()}
    for task, proc in procs.items():
        log, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, log[-3000:]
        assert "distributed_backend=gloo" in log and "Starting with 2 processes" in log
        ddp_dir = tmp_path / task / "runs" / "ddp"
        step, ddp_loss = _last_loss(ddp_dir)
        one_step, one_loss = _last_loss(single[task])
        assert step == one_step == 19  # 0-based: the 20th optimiser step
        assert abs(ddp_loss - one_loss) <= 0.1 * one_loss, (task, ddp_loss, one_loss)

        card = json.loads(next((ddp_dir / "export").glob("*.json")).read_text())
        assert card["training"]["batch"] == 2 and card["training"]["global_batch"] == 4
        assert card["training"]["devices"]["world_size"] == 2
        assert card["training"]["devices"]["strategy"] == "ddp"
        assert json.loads((ddp_dir / "config.json").read_text())["trainer"]["devices"] == 2
        assert "--devices 2" in (ddp_dir / "command.txt").read_text()

    # the two-process checkpoint resumes on one device (the per-device batch now makes a global batch of 2)
    ddp_cfg = runs["sisr"][0]
    run_dir = train(ddp_cfg, accelerator="cpu", devices=1, progress=False, overrides={"steps": 25})
    assert torch.load(run_dir / "ckpt" / "last.ckpt", weights_only=False)["global_step"] == 25
    card = json.loads((run_dir / "export" / "edsr_x2.json").read_text())
    assert card["training"]["global_batch"] == 2 and card["training"]["devices"]["world_size"] == 1


def test_rank_batches_split_every_global_batch_between_ranks(monkeypatch: pytest.MonkeyPatch) -> None:
    import satsr.data.sampling as sampling

    one = list(RankBatches(3, 4))
    shares = []
    for rank in (0, 1):
        monkeypatch.setattr(sampling, "rank_and_world", lambda rank=rank: (rank, 2))
        shares.append(list(RankBatches(3, 2)))
    assert not set(shares[0]) & set(shares[1])
    for b in range(3):  # global batch b of the two ranks == batch b of one process with twice the batch
        assert sorted(shares[0][2 * b:2 * b + 2] + shares[1][2 * b:2 * b + 2]) == one[4 * b:4 * b + 4]


def test_trainer_section_and_flags(tmp_path: Path) -> None:
    path = sisr_config(tmp_path, 10)
    cfg = yaml.safe_load(path.read_text())
    cfg["trainer"] = {"accelerator": "cpu", "devices": 2, "strategy": "ddp", "num_nodes": 1}
    path.write_text(yaml.safe_dump(cfg))
    loaded, _ = load_config(path)
    assert loaded.trainer.devices == 2 and loaded.trainer.precision == "32"  # top-level precision carried over
    flagged = with_trainer_flags(loaded, devices=[0, 1, 2], strategy=None)
    assert flagged.trainer.devices == [0, 1, 2] and flagged.trainer.strategy == "ddp"
    assert flagged.trainer.world_size == 3
    with pytest.raises(OptionError, match="--strategy: .*unknown strategy 'ddpp'"):
        with_trainer_flags(loaded, strategy="ddpp")
    with pytest.raises(OptionError, match="--devices"):
        with_trainer_flags(loaded, devices=0)
    cfg["trainer"] = {"precision": "bf16-mixed"}
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(InputError, match="precision 32 and trainer.precision bf16-mixed differ"):
        load_config(path)
    cfg["trainer"] = {"gpus": 2}
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(InputError, match="trainer.gpus"):
        load_config(path)
