"""``satsr export``: a model's network as a file other runtimes load (ONNX)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from satsr.cli import app
from satsr.cli.upscale import Weights
from satsr.errors import OptionError


@app.command("export")
def export_cmd(
    model: Annotated[str, typer.Argument(help="Neural single-image model name (see `satsr models`).")],
    scale: Annotated[int, typer.Option("--scale", "-s", help="Upscaling factor of the weights to export.")] = 4,
    onnx: Annotated[Path | None, typer.Option(help="Write an ONNX graph here (float32, dynamic size).")] = None,
    weights: Weights = None,
    bands: Annotated[int | None, typer.Option(help="Input band count, for untrained-band-specific checks.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing file.")] = False,
) -> None:
    """Export a network: ``--onnx OUT.onnx`` writes an ONNX graph of MODEL at SCALE (shipped or --weights)
    taking (N, bands, h, w) float32 in model units (divide data by the card's value_scale first; a per-band
    model takes one band) and returning (N, bands, h*s, w*s). Needs satsr's onnx extra."""
    from satsr.api import export_onnx

    if onnx is None:
        raise OptionError("satsr export needs a target format; give --onnx OUT.onnx")
    out = export_onnx(model, scale, onnx, bands=bands, weights=weights, overwrite=overwrite)
    typer.echo(f"wrote {out} ({model} x{scale}, ONNX)")
