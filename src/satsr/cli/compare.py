"""``satsr compare``: a PNG figure of LR, bicubic, models and HR on the same zoomed crop."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from satsr.cli import app
from satsr.errors import OptionError


def _ints(text: str | None, what: str) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise OptionError(f"{what} {text!r}: give integers separated by commas") from exc


@app.command("compare")
def compare_cmd(
    hr: Annotated[Path | None, typer.Argument(help="HR image (PNG or GeoTIFF); it is degraded for the comparison.")]
    = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output figure (.png).")] = Path("compare.png"),
    lr: Annotated[Path | None, typer.Option("--lr", help="An LR image to upscale instead (no HR panel).")] = None,
    scale: Annotated[int, typer.Option("--scale", "-s", help="Upscaling factor.")] = 4,
    model: Annotated[list[str] | None, typer.Option("--model", "-m", help="Model to show (repeatable).")] = None,
    crop: Annotated[str | None, typer.Option(help="Zoom ROW,COL,SIZE in output pixels (default: centre).")] = None,
    zoom: Annotated[int, typer.Option(help="Size of the default centred zoom in output pixels.")] = 192,
    bands: Annotated[str | None, typer.Option(help="1-based display bands: 3 for RGB (e.g. 4,3,2) or 1.")] = None,
    stretch: Annotated[bool | None, typer.Option("--stretch/--no-stretch",
                                                 help="2-98 % stretch (default: on unless 8-bit).")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda (neural models).")] = "cpu",
) -> None:
    """Side-by-side figure: LR (nearest), bicubic, each --model and HR, with PSNR/SSIM in the titles."""
    from satsr.viz import compare_sisr

    path = compare_sisr(out, hr=hr, lr=lr, scale=scale, models=model or [], crop=_ints(crop, "--crop"),
                        zoom=zoom, bands=_ints(bands, "--bands"), stretch=stretch, device=device)
    typer.echo(f"wrote {path}")
