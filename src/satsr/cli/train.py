"""``satsr train CONFIG.yaml``: train any registered network from a YAML config (Lightning)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from satsr.cli import app
from satsr.cli.options import parse_ints


@app.command("train")
def train_cmd(
    config: Annotated[Path, typer.Argument(help="YAML training config (see configs/)")],
    devices: Annotated[str | None, typer.Option(
        help="Devices per node: auto, a count (-1: all), or indices like 0,1 (default: the config's trainer.devices)")]
    = None,
    num_nodes: Annotated[int | None, typer.Option(
        help="Nodes for multi-node training (default: the config's trainer.num_nodes)")] = None,
    accelerator: Annotated[str | None, typer.Option(
        help="auto, cpu, gpu (default: the config's trainer.accelerator)")] = None,
    strategy: Annotated[str | None, typer.Option(
        help="Lightning strategy: auto, ddp, ddp_spawn, fsdp, ... (default: the config's trainer.strategy)")] = None,
    steps: Annotated[int | None, typer.Option(help="override the number of training steps")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="ignore an existing checkpoint (no resume)")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="plain log lines only")] = False,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads")] = None,
) -> None:
    """Train (or resume) a model; weights and model card land in runs/<name>/export/.

    The same config trains on more devices or nodes with --devices/--num-nodes/--strategy (or its
    `trainer:` section); `batch` is per device. With DDP, Lightning runs this command once per device.
    """
    from satsr.train.run import train

    dev: str | int | list[int] | None = devices
    if devices is not None and devices != "auto":
        ints = parse_ints(devices, "--devices", "2 or 0,1")
        assert ints is not None
        dev = ints if "," in devices else ints[0]
    overrides = {"steps": steps} if steps else None
    run_dir = train(config, devices=dev, num_nodes=num_nodes, accelerator=accelerator, strategy=strategy,
                    resume=not fresh, progress=not no_progress, overrides=overrides, threads=threads)
    from lightning.pytorch.utilities import rank_zero_only

    if rank_zero_only.rank == 0:  # under DDP every process runs this command; one says it is done
        typer.echo(f"run finished: {run_dir}")
