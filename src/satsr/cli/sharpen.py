"""``satsr sharpen`` (guided super-resolution of files) and ``satsr evaluate sharpen`` (Wald protocol)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from satsr.cli import app
from satsr.cli.evaluate import evaluate_app  # the `evaluate` sub-app; `evaluate sharpen` is added to it
from satsr.cli.options import parse_bands
from satsr.errors import OptionError, SatsrError


@app.command("sharpen")
def sharpen_cmd(
    paths: Annotated[list[Path], typer.Argument(
        help="OUT.tif with --guide/--lowres, or S2_FOLDER OUT.tif (a Sentinel-2 IMG_DATA folder).",
        show_default=False)],
    guide: Annotated[Path | None, typer.Option("--guide", "-g", help="High-res guide raster (e.g. 10 m bands, PAN).")]
    = None,
    lowres: Annotated[Path | None, typer.Option("--lowres", "-l", help="Low-res raster to sharpen (same footprint).")]
    = None,
    model: Annotated[str, typer.Option(
        "--model", "-m", help="bicubic, hpi or dsen2 (Sentinel-2 weights for ratios 2 and 6).")] = "hpi",
    guide_bands: Annotated[str | None, typer.Option(
        help="1-based guide bands in the order the model expects, e.g. 3,2,1,4.")] = None,
    bands: Annotated[str | None, typer.Option(help="1-based low-res bands to sharpen, e.g. 1,2.")] = None,
    tile: Annotated[int, typer.Option(help="Tile size in output pixels (rounded up to whole blocks).")] = 768,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    device: Annotated[str, typer.Option(help="cpu or cuda (neural models).")] = "cpu",
    weights: Annotated[Path | None, typer.Option(help="Weights .safetensors (card .json beside it).")] = None,
    compress: Annotated[str, typer.Option(help="deflate, zstd, lzw or none.")] = "deflate",
) -> None:
    """Sharpen low-res bands to the grid of high-res guide bands (band sharpening, pan-sharpening).

    With --guide and --lowres the output is on the guide's grid (its CRS and transform) with the
    low-res file's band descriptions and dtype. Given a Sentinel-2 folder instead, all 13 bands are
    written at 10 m in ESA order B01..B08, B8A, B09..B12, the 10 m bands unchanged. The default
    model, hpi, was the most accurate on the held-out Sentinel-2 scene (see BENCHMARKS.md).
    """
    from satsr.sharpen import sharpen_files, sharpen_s2_folder

    if tile < 16:
        raise OptionError(f"--tile must be at least 16 output pixels, got {tile}")
    t0 = time.perf_counter()
    if guide is not None or lowres is not None:
        if guide is None or lowres is None:
            raise OptionError("give both --guide and --lowres (or a Sentinel-2 folder instead of either)")
        if len(paths) != 1:
            raise OptionError(f"with --guide and --lowres give only the output file, got {len(paths)} paths")
        out = sharpen_files(guide, lowres, paths[0], model, guide_bands=parse_bands(guide_bands, "--guide-bands"),
                            bands=parse_bands(bands), tile=tile, overwrite=overwrite, compress=compress,
                            device=device, weights=weights, quiet=quiet)
    else:
        if len(paths) != 2:
            raise OptionError("give a Sentinel-2 folder and an output file (S2_FOLDER OUT.tif), "
                              "or --guide G.tif --lowres L.tif OUT.tif")
        if guide_bands or bands or weights:
            raise OptionError("--guide-bands, --bands and --weights apply to --guide/--lowres inputs only")
        out = sharpen_s2_folder(paths[0], paths[1], model, tile=tile, overwrite=overwrite, compress=compress,
                                device=device, quiet=quiet)
    typer.echo(f"wrote {out} ({model}, {time.perf_counter() - t0:.1f} s)")


@evaluate_app.command("sharpen")
def evaluate_sharpen_cmd(
    guide: Annotated[Path, typer.Option("--guide", "-g", help="High-res guide raster.")],
    lowres: Annotated[Path, typer.Option("--lowres", "-l", help="Low-res raster on the same footprint.")],
    model: Annotated[list[str] | None, typer.Option(
        "--model", "-m", help="Guided model(s), repeatable or comma-separated; bicubic always runs.")] = None,
    guide_bands: Annotated[str | None, typer.Option(help="1-based guide bands in model order.")] = None,
    bands: Annotated[str | None, typer.Option(help="1-based low-res bands.")] = None,
    peak: Annotated[float, typer.Option(help="PSNR peak value (10000 = Sentinel-2 reflectance DN).")] = 10000.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    device: Annotated[str, typer.Option(help="cpu or cuda (neural models).")] = "cpu",
    report_path: Annotated[Path | None, typer.Option(
        "--report", help="Also write a self-contained HTML report (table, worst/median/best tiles).")] = None,
) -> None:
    """Wald protocol: degrade guide and low-res by the ratio, sharpen, compare with the low-res input.

    Reports per-band RMSE (DN), PSNR, ERGAS and SAM (degrees) for each model and bicubic.
    """
    from satsr.evaluate.wald import wald_evaluate
    from satsr.io.raster import RasterReader

    names = [n.strip() for m in (model or ["hpi"]) for n in m.split(",") if n.strip()]
    with RasterReader(guide, bands=parse_bands(guide_bands, "--guide-bands")) as g, \
            RasterReader(lowres, bands=parse_bands(bands)) as lo:
        g_data, lo_data = g.read(), lo.read()
        descriptions = [d or f"band {b}" for d, b in zip((lo.info.descriptions[b - 1] for b in lo.bands), lo.bands,
                                                         strict=True)]
    from satsr.viz.report import WaldKeeper, wald_report

    kept = WaldKeeper() if report_path is not None else None
    try:
        report = wald_evaluate(g_data, lo_data, names, peak=peak, device=device, keep=kept)
    except SatsrError as exc:
        raise type(exc)(f"{lowres}: {exc}") from exc
    report = {"guide": str(guide), "lowres": str(lowres), "bands": descriptions, "peak": peak,
              "protocol": "Wald: both inputs degraded by the ratio (Gaussian MTF 0.3 at Nyquist, block-centre "
                          "sampling), sharpened, compared with the original low-res bands", **report}
    if kept is not None and report_path is not None:
        typer.echo(f"wrote {wald_report(report, kept, report_path)}", err=True)
    if as_json:
        typer.echo(json.dumps(report))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Wald protocol, ratio {report['ratio']}: {lowres.name}")
    for col in ("method", "RMSE mean (DN)", "gain vs bicubic", "PSNR mean", "ERGAS", "SAM (deg)", "RMSE per band"):
        table.add_column(col, justify="left" if col in ("method", "RMSE per band") else "right")
    for name, q in report["methods"].items():
        table.add_row(name, f"{q['rmse_mean']:.2f}", f"{q['rmse_gain_vs_bicubic_pct']:.1f} %", f"{q['psnr_mean']:.2f}",
                      f"{q['ergas']:.3f}", "-" if q["sam"] is None else f"{q['sam']:.3f}",
                      " ".join(f"{v:.1f}" for v in q["rmse"]))
    Console().print(table)
