"""``satsr pairs``: cut aligned, harmonised LR/HR training tiles from a real LR image and a finer reference."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from satsr.cli import app
from satsr.cli.options import parse_bands, parse_numbers


@app.command("pairs")
def pairs_cmd(
    out_dir: Annotated[Path, typer.Argument(help="Folder for LR/ and HR/ tiles (created).")],
    lr: Annotated[Path, typer.Option("--lr", help="The low-res image (e.g. Sentinel-2 10 m).")],
    reference: Annotated[Path, typer.Option("--reference", help="A finer image of the same place, any grid/CRS.")],
    scale: Annotated[int, typer.Option("--scale", "-s", help="Upscaling factor between LR and HR tiles.")] = 2,
    tile: Annotated[int, typer.Option(help="Tile side in LR pixels.")] = 64,
    bounds: Annotated[str | None, typer.Option(
        help="Cut only inside LEFT,BOTTOM,RIGHT,TOP (the LR's CRS); keep validation areas out.")] = None,
    bands: Annotated[str | None, typer.Option(help="1-based LR bands (default: all).")] = None,
    reference_bands: Annotated[str | None, typer.Option(help="1-based reference bands, matching --bands.")] = None,
    harmonise: Annotated[str, typer.Option(help="linear (gain/offset per band) or histogram.")] = "linear",
) -> None:
    """Cut real training pairs: each LR tile with the reference aligned to it sub-pixel and harmonised to its
    radiometry (the alignment of `satsr evaluate real`, done per tile). Train on them with a `folders` dataset.
    """
    from satsr.data.real_pairs import cut_real_pairs

    names = cut_real_pairs(lr, reference, out_dir, scale, tile=tile, harmonise=harmonise,
                           bounds=parse_numbers(bounds, "--bounds", "-60000,-3731000,-55600,-3723000"),
                           bands=parse_bands(bands), reference_bands=parse_bands(reference_bands, "--reference-bands"))
    typer.echo(f"wrote {len(names)} pairs of {tile} x {tile} LR px to {out_dir}/LR and {out_dir}/HR")
