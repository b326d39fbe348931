"""``satsr evaluate probav`` and ``satsr evaluate sisr``: benchmark tables (rich) or one JSON object."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from satsr.cli import app

evaluate_app = typer.Typer(
    name="evaluate",
    help="Benchmarks: PROBA-V challenge score of a fusion method, PSNR/SSIM of single-image models.",
    no_args_is_help=True,
)
app.add_typer(evaluate_app, name="evaluate")


def _progress(enabled: bool):  # noqa: ANN202 - a tiny callback factory
    if not enabled:
        return None
    return lambda msg: print(msg, file=sys.stderr, flush=True)


@evaluate_app.command("probav")
def probav_cmd(
    root: Annotated[Path, typer.Argument(help="PROBA-V folder: the challenge root, a split, a band or one imgset.")],
    method: Annotated[str, typer.Option("--method", "-m", help="Fusion method (see `satsr models`).")] = "baseline",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    limit: Annotated[int | None, typer.Option(help="Score only the first N scenes (sorted by path).")] = None,
    cssim: Annotated[bool, typer.Option("--cssim", help="Also compute cSSIM (slower).")] = False,
    norm: Annotated[Path | None, typer.Option(help="norm.csv (default: the nearest one at or above ROOT).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Progress on stderr.")] = False,
    settings: Annotated[list[str] | None, typer.Option(
        "--set", help="Method option KEY=VALUE (repeatable), e.g. --set robust_iterations=0.")] = None,
) -> None:
    """Fuse every scene with HR under ROOT and print cPSNR per scene and the challenge score.

    A scene's score is norm / cPSNR (norm: the official baseline's cPSNR from norm.csv); the
    challenge score is their mean: lower is better, 1.0 is the official baseline.
    """
    from satsr.cli.options import parse_options
    from satsr.evaluate import evaluate_probav

    report = evaluate_probav(root, method, cssim=cssim, limit=limit, norm_file=norm, progress=_progress(verbose),
                             **parse_options(settings))
    if as_json:
        typer.echo(json.dumps(report.to_json()))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"PROBA-V x3 - {report.method}")
    for col in ("scene", "band", "cPSNR (dB)", *(["cSSIM"] if cssim else []), "norm", "score"):
        table.add_column(col, justify="left" if col in ("scene", "band") else "right")
    for s in report.scenes:
        cells = [s.name, s.band or "-", f"{s.cpsnr:.4f}"]
        if cssim:
            cells.append(f"{s.cssim:.5f}" if s.cssim is not None else "-")
        cells += [f"{s.norm:.4f}" if s.norm else "-", f"{s.score:.5f}" if s.score is not None else "-"]
        table.add_row(*cells)
    console = Console()
    console.print(table)
    score = f"{report.score:.5f}" if report.score is not None else "n/a (no norm.csv entries)"
    console.print(f"challenge score ({len(report.scenes)} scenes, lower is better, baseline = 1.0): {score}")


@evaluate_app.command("sisr")
def sisr_cmd(
    hr_dir: Annotated[Path, typer.Option(
        "--hr-dir", help="Folder of HR images (searched recursively), or one image / GeoTIFF.")],
    scale: Annotated[int, typer.Option("--scale", "-s", help="Upscaling factor.")] = 4,
    model: Annotated[list[str] | None, typer.Option(
        "--model", "-m", help="Model to evaluate (repeatable); bicubic always runs.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    limit: Annotated[int | None, typer.Option(help="Use only the first N images (sorted by path).")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda (neural models).")] = "cpu",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Progress on stderr.")] = False,
    consistency: Annotated[bool, typer.Option(
        "--consistency", help="Also score each model's output projected onto the LR (one more row each).")] = False,
    opensr: Annotated[bool, typer.Option("--opensr", help="Also compute the opensr-test metrics.")] = False,
    degradation: Annotated[str, typer.Option(
        help="How LR is made: bicubic (MATLAB, SR benchmarks) or wald (Gaussian MTF, multispectral).")] = "bicubic",
) -> None:
    """Degrade each HR image (MATLAB bicubic or Wald), super-resolve it, report PSNR/SSIM beside bicubic.

    Border of SCALE px excluded; 8-bit outputs clipped and rounded; PSNR and SSIM averaged over
    channels, then images. "LR cons." is the RMSE of downsample(SR) - LR (DN): 0 means the output
    agrees exactly with its input.
    """
    from satsr.evaluate import evaluate_sisr

    report = evaluate_sisr(hr_dir, scale, model or [], limit=limit, device=device,
                           progress=_progress(verbose), consistency=consistency, opensr=opensr,
                           degradation=degradation)
    if as_json:
        typer.echo(json.dumps(report.to_json()))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"x{scale} on {report.images} images of {hr_dir}")
    osr_cols = list(OPENSR_COLUMNS) if opensr else []
    has_sam = not any(r.sam != r.sam for r in report.rows)  # NaN for single-band images
    sam_col = ["SAM (deg)"] if has_sam else []
    for col in ("model", "PSNR (dB)", "SSIM", *sam_col, "vs bicubic (dB)", "LR cons.", *osr_cols, "time (s)"):
        table.add_column(col, justify="left" if col == "model" else "right")
    base = report.rows[0].psnr
    for r in report.rows:
        extra = [_fmt_osr(r.opensr, k) for k in OPENSR_COLUMNS.values()] if opensr else []
        sam_val = [f"{r.sam:.4f}"] if has_sam else []
        table.add_row(r.model, f"{r.psnr:.3f}", f"{r.ssim:.4f}", *sam_val, f"{r.psnr - base:+.3f}",
                      f"{r.consistency_rmse:.3f}", *extra, f"{r.seconds:.1f}")
    Console().print(table)


# table header -> opensr-test metric
OPENSR_COLUMNS = {"reflect.": "reflectance", "spectral (deg)": "spectral", "spatial (px)": "spatial",
                  "synthesis": "synthesis", "improv.": "improvement", "omission": "omission",
                  "halluc.": "hallucination"}


def _fmt_osr(values: dict[str, float] | None, key: str) -> str:
    if not values or key not in values:
        return "-"
    v = values[key]
    return f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"


@evaluate_app.command("opensr")
def opensr_cmd(
    hr: Annotated[Path, typer.Option("--hr", help="HR raster, e.g. a Sentinel-2 10 m crop (reflectance x 10000).")],
    scale: Annotated[int, typer.Option("--scale", "-s", help="Upscaling factor.")] = 4,
    model: Annotated[list[str] | None, typer.Option(
        "--model", "-m", help="Model to evaluate (repeatable); bicubic always runs.")] = None,
    degradation: Annotated[str, typer.Option(help="How the LR is made: wald (Gaussian MTF) or bicubic.")] = "wald",
    value_scale: Annotated[float, typer.Option(help="Divide values by this to get reflectance.")] = 10000.0,
    bands: Annotated[str | None, typer.Option(help="1-based bands to use, e.g. 1,2,3 (RGB first).")] = None,
    consistency: Annotated[bool, typer.Option(
        "--consistency", help="Also score each model's output projected onto the LR.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    device: Annotated[str, typer.Option(help="cpu or cuda (neural models).")] = "cpu",
) -> None:
    """opensr-test metrics (v1.3.3, "nd" distance) of models on one HR raster degraded to LR.

    consistency (reflectance, spectral, spatial: SR vs its LR), synthesis (detail added) and
    correctness (improvement / omission / hallucination shares, summing to 1). The first three RGB
    bands are used for the spatial shift.
    """
    from satsr.cli.options import parse_bands
    from satsr.evaluate import evaluate_opensr

    report = evaluate_opensr(hr, scale, model or [], degradation=degradation, value_scale=value_scale,
                             bands=parse_bands(bands), consistency=consistency, device=device)
    if as_json:
        typer.echo(json.dumps(report.to_json()))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"opensr-test metrics, x{scale}, LR: {report.degradation}, {Path(hr).name}")
    for col in ("model", "PSNR (dB)", "LR cons.", *OPENSR_COLUMNS):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in report.rows:
        table.add_row(r["model"], f"{r['psnr']:.3f}", f"{r['consistency_rmse']:.3g}",
                      *[_fmt_osr(r, k) for k in OPENSR_COLUMNS.values()])
    Console().print(table)
