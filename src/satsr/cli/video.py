"""``satsr video IN OUT``: video super-resolution of a folder of frames or a GeoTIFF of frames."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from satsr.cli import app


@app.command("video")
def video_cmd(
    src: Annotated[Path, typer.Argument(help="Folder of frames (PNG/TIFF, natural sort order) or a multi-band "
                                             "GeoTIFF whose bands are the frames.")],
    out: Annotated[Path, typer.Argument(help="Output of the same kind: a folder (frames keep their names) or a "
                                             "GeoTIFF.")],
    scale: Annotated[int, typer.Option("--scale", "-s", help="Upscaling factor.")] = 4,
    model: Annotated[str, typer.Option(
        "--model", "-m", help="Video model (swvsr: sliding window of frames) or a single-image model run on "
                              "each frame (edsr, bicubic, ...).")] = "swvsr",
    window: Annotated[int | None, typer.Option(
        help="Frames per window (default: what the model was trained on, 5).")] = None,
    cut_threshold: Annotated[float, typer.Option(
        help="A frame whose correlation with the previous one is below this starts a new shot (scene cut); "
             "windows never cross one.")] = 0.5,
    frame_bands: Annotated[int, typer.Option(help="GeoTIFF input: bands per frame (3 for RGB frames).")] = 1,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
    device: Annotated[str, typer.Option(help="cpu or cuda (neural models).")] = "cpu",
    weights: Annotated[Path | None, typer.Option(
        help="Weights .safetensors (card .json beside it), e.g. from `satsr train`.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
) -> None:
    """Super-resolve every frame of a clip. A video model builds each frame from a window of its
    neighbours (aligned by the network); frames alone in their shot get its single-image result."""
    from satsr.video import upscale_video

    def progress(done: int, total: int) -> None:
        print(f"\rframe {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    written = upscale_video(src, out, model, scale, window=window, cut_threshold=cut_threshold,
                            frame_bands=frame_bands, overwrite=overwrite, device=device, weights=weights,
                            progress=None if quiet else progress)
    typer.echo(f"wrote {written} ({model} x{scale}, {time.perf_counter() - t0:.1f} s)")
