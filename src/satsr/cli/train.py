"""``satsr train CONFIG.yaml``: train any registered network from a YAML config (Lightning)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from satsr.cli import app


@app.command("train")
def train_cmd(
    config: Annotated[Path, typer.Argument(help="YAML training config (see configs/)")],
    devices: Annotated[str, typer.Option(help="Lightning devices: auto, a count, or a list like 0,1")] = "auto",
    num_nodes: Annotated[int, typer.Option(help="number of nodes for multi-node training")] = 1,
    accelerator: Annotated[str, typer.Option(help="auto, cpu, gpu")] = "auto",
    steps: Annotated[int | None, typer.Option(help="override the number of training steps")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="ignore an existing checkpoint (no resume)")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="plain log lines only")] = False,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads")] = None,
) -> None:
    """Train (or resume) a model; weights and model card land in runs/<name>/export/."""
    from satsr.train.run import train

    dev: str | int = int(devices) if devices.isdigit() else devices
    overrides = {"steps": steps} if steps else None
    run_dir = train(config, devices=dev, num_nodes=num_nodes, accelerator=accelerator, resume=not fresh,
                    progress=not no_progress, overrides=overrides, threads=threads)
    typer.echo(f"run finished: {run_dir}")
