"""``satsr train-rfsr``: fit a random-forest SR model on HR images (``satsr.train.forest``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from satsr.cli import app


@app.command("train-rfsr")
def train_rfsr_cmd(
    data: Annotated[list[str], typer.Argument(help="HR images: files, folders or globs (quote globs).")],
    scale: Annotated[int, typer.Option("--scale", "-s", help="Upscaling factor: 2, 3 or 4.")] = 2,
    out: Annotated[Path, typer.Option(help="Run folder; the forest and its card land in OUT/export/.")]
    = Path("runs/rfsr"),
    exclude: Annotated[list[str] | None, typer.Option(
        help="Files, folders or globs never used (evaluation splits); repeatable.")] = None,
    samples: Annotated[int, typer.Option(help="LR pixels drawn over all training images.")] = 300_000,
    trees: Annotated[int, typer.Option(help="Trees in the forest.")] = 8,
    leaves: Annotated[int, typer.Option(help="Leaves per tree at most (the file grows with it).")] = 4000,
    min_leaf: Annotated[int, typer.Option(help="Training samples per leaf at least.")] = 20,
    holdout: Annotated[int, typer.Option(help="Every N-th image is held out and scored at the end.")] = 20,
    degradation: Annotated[str, typer.Option(help="How LR is made: bicubic (MATLAB) or wald (Gaussian MTF).")]
    = "bicubic",
    seed: Annotated[int, typer.Option(help="Random seed (sampling and trees).")] = 0,
    jobs: Annotated[int, typer.Option(help="CPU processes fitting trees.")] = 1,
    weights_id: Annotated[str | None, typer.Option("--id", help="Weights id (default rfsr_x<scale>).")] = None,
) -> None:
    """Fit a random-forest SR model (rfsr) in minutes on a CPU; use it with --weights OUT/export/<id>.safetensors.

    The forest is stored as plain arrays (safetensors), never as a pickle.
    """
    import torch

    from satsr.train.forest import train_rfsr

    torch.set_num_threads(1)  # bicubic resampling of small images: one thread is fastest on a busy machine
    weights = train_rfsr(data, scale, out, exclude=exclude or [], samples=samples, trees=trees, leaves=leaves,
                         min_leaf=min_leaf, holdout=holdout, degradation=degradation, seed=seed, jobs=jobs,
                         weights_id=weights_id, log=typer.echo)
    typer.echo(f"wrote {weights} and {weights.with_suffix('.json').name}")
