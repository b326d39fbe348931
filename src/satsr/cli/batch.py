"""``satsr batch``: ``satsr upscale`` over many files on Dask, restartable from its manifest."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from satsr.cli import app
from satsr.cli.options import parse_bands, parse_size
from satsr.cli.upscale import (
    Bands,
    Cog,
    Compress,
    Consistency,
    Degradation,
    Device,
    MaxMemory,
    Model,
    Overlap,
    Precision,
    Quiet,
    Resolution,
    Runtime,
    Scale,
    Tile,
    TileBatch,
    Weights,
)
from satsr.errors import OptionError


@app.command("batch")
def batch_cmd(
    paths: Annotated[list[str], typer.Argument(
        help="INPUTS... OUT_DIR: files, globs (quote them), folders or .txt lists of paths, then the output "
             "folder (created when missing).")],
    scale: Scale = "4",
    resolution: Resolution = None,
    model: Model = "bicubic",
    tile: Tile = None,
    overlap: Overlap = 32,
    bands: Bands = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace existing outputs that no earlier batch into OUT_DIR wrote.")] = False,
    cog: Cog = False,
    quiet: Quiet = False,
    device: Device = "cpu",
    weights: Weights = None,
    compress: Compress = "deflate",
    consistency: Consistency = False,
    degradation: Degradation = "auto",
    uncertainty: Annotated[bool, typer.Option(
        "--uncertainty", help="Also write <name>_uncertainty.tif per input (see `satsr upscale --help`).")]
    = False,
    hallucination: Annotated[bool, typer.Option(
        "--hallucination", help="Also write <name>_hallucination.tif per input.")] = False,
    workers: Annotated[int | None, typer.Option(
        help="Worker processes of the local Dask cluster (default: Dask's choice for this machine).")] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="Run on an existing Dask cluster: its scheduler address tcp://HOST:PORT or scheduler file.")]
    = None,
    threads: Annotated[int | None, typer.Option(
        help="Torch threads per task (default: each host's cores over its Dask worker threads).")] = None,
    max_memory: MaxMemory = "1.5GB",
    precision: Precision = "auto",
    runtime: Runtime = "torch",
    tile_batch: TileBatch = None,
) -> None:
    """Super-resolve many rasters, one Dask task each: every input becomes OUT_DIR/<name>.tif.

    OUT_DIR/satsr-batch.json records each input's status (done, failed with its error, skipped), model,
    scale, seconds and options; a rerun skips complete outputs made with the same options, retries
    failures and redoes outputs whose options changed. Exit code 0 only when every input succeeded.
    """
    from satsr.batch import batch, summary

    if len(paths) < 2:
        raise OptionError("give the inputs and then the output folder: INPUTS... OUT_DIR")
    if workers is not None and scheduler is not None:
        raise OptionError("--workers starts a local cluster, --scheduler uses an existing one; give one of them")
    *inputs, out_dir = paths
    t0 = time.perf_counter()
    records = batch(inputs, out_dir, model=model, scale=scale, scheduler=scheduler, workers=workers,
                    threads=threads, overwrite=overwrite, uncertainty=uncertainty, hallucination=hallucination,
                    quiet=quiet, resolution=resolution, tile="auto" if tile is None else tile, overlap=overlap,
                    bands=parse_bands(bands), cog=cog, device=device, weights=weights, compress=compress,
                    consistency=consistency, degradation=degradation,
                    max_memory=parse_size(max_memory, "--max-memory"), precision=precision, runtime=runtime,
                    tile_batch=tile_batch)
    for rec in records:
        if rec["status"] == "failed":
            typer.echo(f"failed: {rec['error']}", err=True)
    typer.echo(summary(records, time.perf_counter() - t0, Path(out_dir)))
    if any(r["status"] == "failed" for r in records):
        raise typer.Exit(1)
