"""``satsr upscale``, ``satsr models`` and ``satsr info``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from satsr.cli import app
from satsr.cli.options import parse_bands, parse_options, parse_size

# upscale's options as types, shared with `satsr batch` (which passes every one of them through)
Scale = Annotated[str, typer.Option(
    "--scale", "-s", help="Upscaling factor: 4, or fractional (2.5, 7/3) for liif and the classical models.")]
Resolution = Annotated[float | None, typer.Option(
    help="Output pixel size in metres instead of --scale (e.g. 12 for a 30 m input: x2.5).")]
Model = Annotated[str, typer.Option("--model", "-m", help="Model name (see `satsr models`).")]
Tile = Annotated[int | None, typer.Option(
    help="Tile size in input pixels (default: the largest that --max-memory allows; wins over it).")]
MaxMemory = Annotated[str, typer.Option(
    help="Memory for the whole run (resident), e.g. 1.5GB, 800MB: sets the tile size for the model.")]
Precision = Annotated[str, typer.Option(
    help="Network arithmetic: auto (fp32 on CPU, bf16/fp16 on GPU), fp32, bf16 (opt-in on CPU), fp16 (GPU).")]
Runtime = Annotated[str, typer.Option(
    help="Run networks in torch or onnx (onnxruntime, CPU; needs satsr's onnx extra).")]
TileBatch = Annotated[int | None, typer.Option(
    help="Tiles per network call (default 1 on CPU, 4 on GPU).")]
Overlap = Annotated[int, typer.Option(help="Overlap between tiles in input pixels.")]
Bands = Annotated[str | None, typer.Option(help="1-based bands to process, e.g. 1,2,3.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")]
Cog = Annotated[bool, typer.Option("--cog", help="Write a Cloud Optimized GeoTIFF.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
Device = Annotated[str, typer.Option(help="cpu or cuda (neural models).")]
Weights = Annotated[Path | None, typer.Option(help="Weights .safetensors (card .json beside it).")]
Compress = Annotated[str, typer.Option(help="deflate, zstd, lzw or none.")]
Consistency = Annotated[bool, typer.Option(
    "--consistency", help="Make the output agree with the input: degrading it gives the input back.")]
Degradation = Annotated[str, typer.Option(
    help="How LR relates to HR for --consistency/--hallucination: auto (model card), bicubic, wald.")]
Settings = Annotated[list[str] | None, typer.Option(
    "--set", help="Model option KEY=VALUE (repeatable), e.g. --set budget_s=60 (zssr, dip), --set self=true (rfsr).")]


@app.command("upscale")
def upscale_cmd(
    input: Annotated[Path, typer.Argument(help="Input raster (GeoTIFF, COG, JP2, PNG, ...).")],
    output: Annotated[Path, typer.Argument(help="Output GeoTIFF (its directory must exist).")],
    scale: Scale = "4",
    model: Model = "bicubic",
    tile: Tile = None,
    overlap: Overlap = 32,
    bands: Bands = None,
    overwrite: Overwrite = False,
    cog: Cog = False,
    quiet: Quiet = False,
    device: Device = "cpu",
    weights: Weights = None,
    compress: Compress = "deflate",
    consistency: Consistency = False,
    degradation: Degradation = "auto",
    resolution: Resolution = None,
    uncertainty: Annotated[Path | None, typer.Option(
        help="Also write a float32 GeoTIFF of per-pixel uncertainty (spread of 8 flipped/rotated runs).")]
    = None,
    hallucination: Annotated[Path | None, typer.Option(
        help="Also write a float32 GeoTIFF (0..1) of the share of detail the input cannot support.")] = None,
    settings: Settings = None,
    max_memory: MaxMemory = "1.5GB",
    precision: Precision = "auto",
    runtime: Runtime = "torch",
    tile_batch: TileBatch = None,
) -> None:
    """Super-resolve a raster; the output keeps CRS, dtype, nodata and metadata (transform scaled).

    Trust maps are written on the output's grid; see "Reading the trust maps" in the README.
    """
    from satsr.api import upscale

    t0 = time.perf_counter()
    out = upscale(input, scale=scale, resolution=resolution, model=model, out=output,
                  tile="auto" if tile is None else tile, overlap=overlap, bands=parse_bands(bands),
                  overwrite=overwrite, cog=cog, quiet=quiet, device=device, weights=weights, compress=compress,
                  consistency=consistency, degradation=degradation, uncertainty=uncertainty,
                  hallucination=hallucination, model_options=parse_options(settings),
                  max_memory=parse_size(max_memory, "--max-memory"), precision=precision, runtime=runtime,
                  tile_batch=tile_batch)
    extra = " LR-consistent" if consistency else ""
    shown = f"{resolution:g} m" if resolution is not None else f"x{scale}"
    typer.echo(f"wrote {out} ({model} {shown}{extra}, {time.perf_counter() - t0:.1f} s)")
    for kind, path in (("uncertainty", uncertainty), ("hallucination", hallucination)):
        if path is not None:
            typer.echo(f"wrote {path} ({kind} map)")


def _shipped_scales() -> dict[str, list[str]]:
    """Registry name -> ["x2", "x4", ...] for which weights are shipped."""
    from satsr.models import registry

    shipped: dict[str, list[str]] = {}
    for card in registry.list_cards():
        name, _, tag = card.id.rpartition("_")
        shipped.setdefault(name or card.model, []).append(tag)
    return {k: sorted(v, key=lambda t: (len(t), t)) for k, v in shipped.items()}


@app.command("models")
def models_cmd() -> None:
    """List the runnable models, their scales and shipped weights; then the architectures with none."""
    from rich.console import Console
    from rich.table import Table

    from satsr.models import registry

    shipped = _shipped_scales()
    table = Table(title="satsr models", show_lines=False)
    for col in ("name", "kind", "scales", "type", "shipped weights", "description"):
        table.add_column(col, overflow="fold")
    untrained = Table(title="architectures without shipped weights: train one with `satsr train`, "
                            "then pass --weights", show_lines=False)
    for col in ("name", "kind", "scales", "description"):
        untrained.add_column(col, overflow="fold")
    for spec in registry.list_specs():
        scales = spec.scales
        if len(scales) > 3 and list(scales) == list(range(scales[0], scales[-1] + 1)):
            scale_text = f"{scales[0]}-{scales[-1]}"
        else:
            scale_text = ",".join(str(s) for s in scales)
        if spec.neural and spec.name not in shipped:  # cannot run as installed: not in the runnable list
            untrained.add_row(spec.name, spec.kind, scale_text, spec.description)
            continue
        kind = "neural" if spec.neural else "learned" if spec.learned else "classical"
        table.add_row(spec.name, spec.kind, scale_text, kind, ",".join(shipped.get(spec.name, [])) or "-",
                      spec.description)
    console = Console()
    console.print(table)
    if untrained.row_count:
        console.print(untrained)


def _fmt(value: float) -> str:
    return f"{value:.6g}"


@app.command("info")
def info_cmd(
    file: Annotated[Path, typer.Argument(help="Raster to describe.")],
    stats: Annotated[bool, typer.Option("--stats", help="Per-band min, max, mean, valid %.")] = False,
) -> None:
    """Describe a raster: size, bands, dtype, CRS, transform, resolution, nodata, band names."""
    from rich.console import Console
    from rich.table import Table

    from satsr.io.raster import RasterReader

    console = Console()
    with RasterReader(file) as reader:
        info = reader.info
        t = info.transform
        crs = info.crs.to_string() if info.crs else "none (not georeferenced)"
        rx, ry = info.resolution
        lines = [
            ("file", str(info.path)),
            ("driver", info.driver),
            ("size", f"{info.width} x {info.height} px, {info.count} band{'s' if info.count > 1 else ''}"),
            ("dtype", info.dtype),
            ("crs", crs),
            ("transform", f"({_fmt(t.a)}, {_fmt(t.b)}, {_fmt(t.c)}, {_fmt(t.d)}, {_fmt(t.e)}, {_fmt(t.f)})"),
            ("resolution", f"{_fmt(rx)} x {_fmt(ry)}" + (" (CRS units)" if info.crs else " (pixels)")),
            ("nodata", "none" if info.nodata is None else _fmt(info.nodata)),
            ("blocks", f"{info.block_shape[1]} x {info.block_shape[0]}"),
            ("compression", info.compression or "none"),
        ]
        if info.gcps[0]:
            lines.append(("gcps", f"{len(info.gcps[0])} ground control points"))
        for key, value in lines:
            console.print(f"[bold]{key:>12}[/bold]  {value}", highlight=False)
        table = Table(show_header=True)
        for col in ("band", "description", "colour"):
            table.add_column(col)
        if stats:
            for col in ("min", "max", "mean", "valid %"):
                table.add_column(col, justify="right")
            band_stats = _band_stats(reader)
        for b in range(info.count):
            row = [str(b + 1), info.descriptions[b] or "-", info.colorinterp[b].name]
            if stats:
                row += band_stats[b]
            table.add_row(*row)
        console.print(table)


def _band_stats(reader: object) -> list[list[str]]:
    """Per-band min, max, mean and valid share over valid pixels, read in strips."""
    import numpy as np

    from satsr.io.raster import RasterReader, iter_strips
    from satsr.masking import valid_mask

    assert isinstance(reader, RasterReader)
    n = reader.count
    lo = np.full(n, np.inf)
    hi = np.full(n, -np.inf)
    total = np.zeros(n)
    count = np.zeros(n)
    for strip in iter_strips(reader):
        valid = valid_mask(strip, reader.nodatavals)
        for b in range(n):
            v = strip[b][valid[b]].astype(np.float64)
            if v.size:
                lo[b] = min(lo[b], v.min())
                hi[b] = max(hi[b], v.max())
                total[b] += v.sum()
                count[b] += v.size
    pixels = reader.width * reader.height
    rows = []
    for b in range(n):
        if count[b]:
            share = f"{100 * count[b] / pixels:.1f}"
            rows.append([_fmt(lo[b]), _fmt(hi[b]), _fmt(total[b] / count[b]), share])
        else:
            rows.append(["-", "-", "-", "0.0"])
    return rows
