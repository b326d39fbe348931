"""``satsr fuse``: multi-image super-resolution of revisits (GeoTIFF stack or PROBA-V imgset)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from satsr.cli import app
from satsr.cli.options import parse_bands, parse_numbers, parse_options
from satsr.errors import OptionError


@app.command("fuse")
def fuse_cmd(
    paths: Annotated[list[Path], typer.Argument(
        help="FRAMES... OUT: co-located rasters then the output GeoTIFF, or IMGSET_DIR OUT.png.")],
    method: Annotated[str, typer.Option(
        "--method", "--model", "-m",
        help="Fusion method: baseline, shiftadd, median, or a deep model: highresnet, rams, trmisr, piunet "
             "(see `satsr models`).")]
    = "baseline",
    scale: Annotated[int, typer.Option("--scale", "-s", help="Upscaling factor (PROBA-V: 3).")] = 3,
    masks: Annotated[list[Path] | None, typer.Option(
        "--masks", help="Cloud mask raster of a frame, in frame order (repeat: --masks m1.tif --masks m2.tif).")]
    = None,
    mask_spec: Annotated[str | None, typer.Option(
        help="Mask file from the frame name, OLD=NEW (e.g. _b3=_fmask: x_b3.tif -> x_fmask.tif).")] = None,
    clear_values: Annotated[str | None, typer.Option(
        help="Mask values meaning clear, e.g. 0,1 for Fmask (default: non-zero = clear).")] = None,
    bands: Annotated[str | None, typer.Option(help="1-based bands to fuse, e.g. 1,2,3.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
    device: Annotated[str, typer.Option(help="cpu or cuda (neural methods).")] = "cpu",
    weights: Annotated[Path | None, typer.Option(
        help="Weights .safetensors of a deep method (card .json beside it), e.g. from `satsr train`.")] = None,
    settings: Annotated[list[str] | None, typer.Option(
        "--set", help="Method option KEY=VALUE (repeatable), e.g. --set sigma=0.75.")] = None,
    uncertainty: Annotated[Path | None, typer.Option(
        help="Also write the fuser's own per-pixel sigma (float32 GeoTIFF; fusers that predict one: piunet).")]
    = None,
) -> None:
    """Fuse revisits of one area into one image SCALE times finer.

    GeoTIFF frames must share size, CRS and grid (sub-pixel offsets are registered); the output is
    georeferenced like the clearest frame at 1/SCALE its pixel size, in the input dtype. A PROBA-V
    imgset folder (LR*.png, QM*.png) gives a 16-bit PNG. Default method: baseline (the PROBA-V
    reference: bicubic of the clearest frames, averaged), because shift-and-add (sub-pixel
    registration, brightness matching, robust Gaussian splatting) did not beat it on average on
    PROBA-V (see BENCHMARKS.md); try --method shiftadd for revisits with larger sub-pixel offsets.
    """
    from satsr.fusion import fuse

    if len(paths) < 2:
        raise OptionError("give the inputs and then the output: FRAMES... OUT or IMGSET_DIR OUT.png")
    *inputs, out = paths
    values = parse_numbers(clear_values, "--clear-values")
    band_list = parse_bands(bands)
    options = parse_options(settings)
    if weights is not None:
        options["weights"] = weights
    t0 = time.perf_counter()
    written = fuse(inputs, out, method=method, scale=scale, masks=masks, mask_spec=mask_spec,
                   clear_values=values, bands=band_list, overwrite=overwrite, device=device,
                   uncertainty=uncertainty, **options)
    typer.echo(f"wrote {written} ({method} x{scale}, {len(inputs) if len(inputs) > 1 else 'imgset'} "
               f"input{'s' if len(inputs) > 1 else ''}, {time.perf_counter() - t0:.1f} s)")
    if uncertainty is not None:
        typer.echo(f"wrote {uncertainty} (uncertainty map)")
