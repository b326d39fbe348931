"""``satsr finetune``: fine-tune shipped single-image weights on a folder of one's own images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from satsr.cli import app


@app.command("finetune")
def finetune_cmd(
    out_name: Annotated[str, typer.Argument(help="Run name: results land in RUNS_DIR/OUT_NAME/export/.")],
    data: Annotated[Path, typer.Option(
        "--data", "-d", help="Folder of HR images (GeoTIFF/PNG, any bands, 8/16-bit), or with LR/ and HR/ pairs.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Shipped single-image model to start from.")] = "edsr",
    scale: Annotated[int, typer.Option("--scale", "-s", help="Upscaling factor (shipped weights must exist).")] = 4,
    steps: Annotated[int, typer.Option(help="Training steps.")] = 500,
    degradation: Annotated[str | None, typer.Option(
        help="How LR is made from HR-only images: bicubic or wald (default: as the shipped weights).")] = None,
    batch: Annotated[int, typer.Option(help="Patches per step.")] = 8,
    patch: Annotated[int, typer.Option(help="LR patch side (capped by the smallest image).")] = 48,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate (Adam, warm-up then cosine).")] = 1e-4,
    val_fraction: Annotated[float, typer.Option(help="Share of the images held out for validation.")] = 0.2,
    precision: Annotated[str, typer.Option(help="32, bf16-mixed or 16-mixed (training only).")] = "bf16-mixed",
    runs_dir: Annotated[Path, typer.Option(help="Folder holding the runs.")] = Path("runs"),
    threads: Annotated[int | None, typer.Option(help="torch CPU threads.")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    no_progress: Annotated[bool, typer.Option("--no-progress", help="Plain log lines only.")] = False,
) -> None:
    """Warm-start from the shipped weights, train on DATA, and print the gain on the held-out images.

    A deterministic share of the files (--val-fraction) never trains; the weights and their model card
    (recording init_from and the held-out scores) are written to RUNS_DIR/OUT_NAME/export/, ready for
    `satsr upscale --weights`.
    """
    from satsr.errors import OptionError
    from satsr.train.finetune import finetune

    if precision not in ("32", "bf16-mixed", "16-mixed"):
        raise OptionError(f"--precision {precision!r}: use 32, bf16-mixed or 16-mixed")
    result = finetune(model, scale, data, out_name, steps, degradation=degradation, runs_dir=runs_dir, batch=batch,
                      patch=patch, lr=lr, val_fraction=val_fraction, precision=precision, threads=threads,
                      progress=not no_progress, device=device)
    for line in result.lines():
        typer.echo(line)
    typer.echo(f"wrote {result.weights} and {result.card.name}")
