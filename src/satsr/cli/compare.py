"""``satsr compare``: a PNG figure of LR, bicubic, models and HR on the same zoomed crop."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from satsr.cli import app
from satsr.cli.options import parse_bands, parse_ints, parse_numbers
from satsr.errors import OptionError


@app.command("compare")
def compare_cmd(
    hr: Annotated[Path | None, typer.Argument(help="HR image (PNG or GeoTIFF); it is degraded for the comparison.")]
    = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output figure (.png).")] = Path("compare.png"),
    lr: Annotated[Path | None, typer.Option("--lr", help="An LR image to upscale instead (no HR panel).")] = None,
    scale: Annotated[int | None, typer.Option("--scale", "-s", help="Upscaling factor (default 4; 3 with --stack).")]
    = None,
    model: Annotated[list[str] | None, typer.Option("--model", "-m", help="Model to show (repeatable).")] = None,
    crop: Annotated[str | None, typer.Option(help="Zoom ROW,COL,SIZE in output pixels (default: centre).")] = None,
    zoom: Annotated[int, typer.Option(help="Size of the default centred zoom in output pixels.")] = 192,
    bands: Annotated[str | None, typer.Option(help="1-based display bands: 3 for RGB (e.g. 4,3,2) or 1.")] = None,
    stretch: Annotated[bool | None, typer.Option("--stretch/--no-stretch",
                                                 help="2-98 % stretch (default: on unless 8-bit).")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda (neural models).")] = "cpu",
    trust: Annotated[bool, typer.Option(
        "--trust", help="Show each model's uncertainty and hallucination maps beside its image.")] = False,
    stack: Annotated[list[Path] | None, typer.Option(
        "--stack", help="Multi-image comparison: a PROBA-V imgset folder, or co-located revisit rasters "
                        "(repeat); --model then names fusion methods (default: baseline, shiftadd, highresnet).")]
    = None,
    mask_spec: Annotated[str | None, typer.Option(
        help="With --stack: mask file from the frame name, OLD=NEW (e.g. _b4=_fmask).")] = None,
    clear_values: Annotated[str | None, typer.Option(
        help="With --stack: mask values meaning clear, e.g. 0,1 for Fmask (default: non-zero).")] = None,
) -> None:
    """Side-by-side figure: LR (nearest), bicubic, each --model and HR, with PSNR/SSIM in the titles.

    With --trust each model's image is followed by its uncertainty map (spread of 8 flipped/rotated
    predictions, DN, one colour scale for all models) and hallucination map (0..1); see "Reading the
    trust maps" in the README.
    """
    if stack:
        from satsr.viz.misr import DEFAULT_METHODS, compare_misr

        if hr is not None or lr is not None:
            raise OptionError("--stack compares fusion methods on a stack; drop the HR image / --lr")
        values = parse_numbers(clear_values, "--clear-values")
        path = compare_misr(out, stack, methods=model or list(DEFAULT_METHODS), scale=scale or 3,
                            mask_spec=mask_spec, clear_values=values, bands=parse_bands(bands),
                            crop=parse_ints(crop, "--crop", "128,128,192"), zoom=zoom, device=device)
        typer.echo(f"wrote {path}")
        return
    from satsr.viz.sisr import compare_sisr

    scale = scale or 4
    path = compare_sisr(out, hr=hr, lr=lr, scale=scale, models=model or [],
                        crop=parse_ints(crop, "--crop", "128,128,192"), zoom=zoom, bands=parse_bands(bands),
                        stretch=stretch, device=device, trust=trust)
    typer.echo(f"wrote {path}")
