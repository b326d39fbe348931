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


def _wrote(path: Path) -> None:
    """Say where a report went (on stderr, so ``--json`` output stays one JSON object)."""
    print(f"wrote {path}", file=sys.stderr, flush=True)


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
    report_path: Annotated[Path | None, typer.Option(
        "--report", help="Also write a self-contained HTML report (table, worst/median/best scenes).")] = None,
    trust: Annotated[bool, typer.Option(
        "--trust", help="With --report: show the fuser's own uncertainty map where it has one.")] = False,
) -> None:
    """Fuse every scene with HR under ROOT and print cPSNR per scene and the challenge score.

    A scene's score is norm / cPSNR (norm: the official baseline's cPSNR from norm.csv); the
    challenge score is their mean: lower is better, 1.0 is the official baseline.
    """
    from satsr.cli.options import parse_options
    from satsr.evaluate import evaluate_probav
    from satsr.viz.report import ProbavKeeper, probav_report

    kept = ProbavKeeper() if report_path is not None else None
    report = evaluate_probav(root, method, cssim=cssim, limit=limit, norm_file=norm, progress=_progress(verbose),
                             keep=kept, **parse_options(settings))
    if kept is not None and report_path is not None:
        _wrote(probav_report(report, kept, report_path, trust=trust))
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
    scale: Annotated[str, typer.Option(
        "--scale", "-s", help="Upscaling factor, e.g. 4, or 2.5 for liif and the classical models.")] = "4",
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
    report_path: Annotated[Path | None, typer.Option(
        "--report", help="Also write a self-contained HTML report (table, worst/median/best images).")] = None,
    trust: Annotated[bool, typer.Option(
        "--trust", help="With --report: add each model's uncertainty and hallucination maps.")] = False,
    settings: Annotated[list[str] | None, typer.Option(
        "--set", help="Option KEY=VALUE for the models (repeatable, not bicubic), e.g. --set budget_s=60.")] = None,
    perception: Annotated[bool, typer.Option(
        "--perception", help="Also report each row's HF ratio (sharpness vs the HR, 1.0 = as sharp).")] = False,
) -> None:
    """Degrade each HR image (MATLAB bicubic or Wald), super-resolve it, report PSNR/SSIM beside bicubic.

    Border of SCALE px excluded; 8-bit outputs clipped and rounded; PSNR and SSIM averaged over
    channels, then images. "LR cons." is the RMSE of downsample(SR) - LR (DN): 0 means the output
    agrees exactly with its input. --perception adds "HF ratio": the output's power in the top octave of
    the spectrum over the HR's (1.0 = as sharp as the truth; bicubic and PSNR-trained models are below 1).
    """
    from satsr.cli.options import parse_options
    from satsr.evaluate import evaluate_sisr
    from satsr.ops.spans import parse_scale
    from satsr.viz.report import SisrKeeper, sisr_report

    factor = parse_scale(scale)
    kept = SisrKeeper(factor) if report_path is not None else None
    report = evaluate_sisr(hr_dir, factor, model or [], limit=limit, device=device,
                           progress=_progress(verbose), consistency=consistency, opensr=opensr,
                           degradation=degradation, keep=kept, options=parse_options(settings),
                           perception=perception)
    if kept is not None and report_path is not None:
        _wrote(sisr_report(report, kept, report_path, models=model or [], trust=trust, device=device,
                           degradation=degradation))
    if as_json:
        typer.echo(json.dumps(report.to_json()))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"x{scale} on {report.images} images of {hr_dir}")
    osr_cols = list(OPENSR_COLUMNS) if opensr else []
    has_sam = not any(r.sam != r.sam for r in report.rows)  # NaN for single-band images
    sam_col = ["SAM (deg)"] if has_sam else []
    hf_col = ["HF ratio"] if perception else []
    for col in ("model", "PSNR (dB)", "SSIM", *sam_col, "vs bicubic (dB)", "LR cons.", *hf_col, *osr_cols,
                "time (s)"):
        table.add_column(col, justify="left" if col == "model" else "right")
    base = report.rows[0].psnr
    for r in report.rows:
        extra = [_fmt_osr(r.opensr, k) for k in OPENSR_COLUMNS.values()] if opensr else []
        sam_val = [f"{r.sam:.4f}"] if has_sam else []
        table.add_row(r.model, f"{r.psnr:.3f}", f"{r.ssim:.4f}", *sam_val, f"{r.psnr - base:+.3f}",
                      f"{r.consistency_rmse:.3f}", *([f"{r.hf_ratio:.3f}"] if perception else []), *extra,
                      f"{r.seconds:.1f}")
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


@evaluate_app.command("real")
def real_cmd(
    lr: Annotated[Path, typer.Option("--lr", help="The low-res image to super-resolve (e.g. Sentinel-2 10 m).")],
    reference: Annotated[Path, typer.Option(
        "--reference", help="A real image of the same place from a finer sensor, on any grid and CRS.")],
    scale: Annotated[int, typer.Option("--scale", "-s", help="Upscaling factor.")] = 2,
    model: Annotated[list[str] | None, typer.Option(
        "--model", "-m", help="Model to evaluate (repeatable); bicubic always runs.")] = None,
    bands: Annotated[str | None, typer.Option(help="1-based LR bands, e.g. 4,3,2 (default: all).")] = None,
    reference_bands: Annotated[str | None, typer.Option(
        help="1-based reference bands matching --bands in order (default: the first as many).")] = None,
    bounds: Annotated[str | None, typer.Option(
        help="Evaluate only LEFT,BOTTOM,RIGHT,TOP (the LR's CRS units), e.g. a validation strip.")] = None,
    mask: Annotated[Path | None, typer.Option(help="Raster whose non-zero pixels are left out (clouds).")] = None,
    border: Annotated[int | None, typer.Option(help="Output px left out at the edges (default 2 x scale).")] = None,
    harmonise: Annotated[str, typer.Option(help="linear (gain/offset per band) or histogram.")] = "linear",
    align: Annotated[str, typer.Option(
        help="blocks (shift and gains per 64-LR-px block, blended) or global (one for the window).")] = "blocks",
    peak: Annotated[float | None, typer.Option(help="PSNR data range (default 255 for 8-bit, else max).")] = None,
    save_aligned: Annotated[Path | None, typer.Option(
        help="Folder for the aligned reference and each SR output (float32 GeoTIFFs).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    device: Annotated[str, typer.Option(help="cpu or cuda (neural models).")] = "cpu",
    report_path: Annotated[Path | None, typer.Option(
        "--report", help="Also write a self-contained HTML report (table, worst/median/best tiles).")] = None,
) -> None:
    """Score models against a REAL finer image: reproject it onto the SR grid, co-register it sub-pixel,
    harmonise its radiometry to the LR per band, mask nodata/clouds/border; then PSNR, SSIM, SAM,
    detail agreement (correlation of high-pass components) and the opensr-test correctness shares,
    bicubic in the same run.
    """
    from satsr.cli.options import parse_bands, parse_numbers
    from satsr.evaluate.real import evaluate_real
    from satsr.viz.report import RealKeeper, real_report

    kept = RealKeeper() if report_path is not None else None
    report = evaluate_real(lr, reference, scale, model or [], bands=parse_bands(bands),
                           reference_bands=parse_bands(reference_bands, "--reference-bands"),
                           bounds=parse_numbers(bounds, "--bounds", "-55600,-3731000,-53100,-3724000"),
                           mask=mask, border=border, harmonise=harmonise, align=align, peak=peak,
                           save_aligned=save_aligned, device=device, keep_outputs=kept)
    if kept is not None and report_path is not None:
        _wrote(real_report(report, kept, report_path))
    if as_json:
        typer.echo(json.dumps(report.to_json()))
        return
    from rich.console import Console
    from rich.table import Table

    al = report.alignment
    title = (f"x{scale} vs a real reference: {Path(reference).name} (alignment: {al['mode']}, median shift "
             f"{al['shift_lr_px']} LR px, {report.window['valid_output_pixels']} px scored)")
    table = Table(title=title)
    for col in ("model", "PSNR (dB)", "vs bicubic", "SSIM", "SAM (deg)", "detail", "detail vs bic.", "improv.",
                "omission", "halluc."):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in report.rows:
        table.add_row(r["model"], f"{r['psnr']:.3f}", f"{r['psnr_vs_bicubic']:+.3f}", f"{r['ssim']:.4f}",
                      f"{r['sam']:.3f}" if "sam" in r else "-", f"{r['detail']:.4f}", f"{r['detail_vs_bicubic']:+.4f}",
                      f"{r['improvement']:.3f}", f"{r['omission']:.3f}", f"{r['hallucination']:.3f}")
    Console().print(table)


@evaluate_app.command("hyperspectral")
def hyperspectral_cmd(
    cube: Annotated[Path, typer.Option("--cube", help="Hyperspectral cube (band-first GeoTIFF/TIFF), the reference.")],
    scale: Annotated[list[int] | None, typer.Option(
        "--scale", "-s", help="Single-image SR factor (repeatable; default 2 and 4).")] = None,
    model: Annotated[list[str] | None, typer.Option(
        "--model", "-m", help="Model (repeatable; default sgsr and edsr-ms, with --guide hpi, hpi-hs and "
                              "hsnet-zs); bicubic always runs.")] = None,
    region: Annotated[str | None, typer.Option(
        help="Evaluate only ROW0,ROW1,COL0,COL1 of the cube (-1 = to the edge), e.g. a held-out part.")] = None,
    guide: Annotated[Path | None, typer.Option(
        "--guide", "-g", help="A finer image of the same place (MS, PAN, RGB): evaluate fusion instead.")] = None,
    ratio: Annotated[int, typer.Option(help="With --guide: the degradation ratio of the cube.")] = 3,
    guide_bands: Annotated[str | None, typer.Option(help="With --guide: 1-based guide bands, e.g. 1,2,3.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    device: Annotated[str, typer.Option(help="cpu or cuda (neural models).")] = "cpu",
) -> None:
    """The Wald protocol on a hyperspectral cube: single-image SR (degrade by each scale, super-resolve,
    score against the cube) or, with --guide, fusion (degrade the cube by --ratio, sharpen it with the
    guide on the cube's grid). PSNR (mean of the bands, peak = the cube's maximum), SAM (degrees),
    ERGAS, RMSE; bicubic in the same run."""
    from satsr.cli.options import parse_bands, parse_region
    from satsr.evaluate.hyperspectral import hs_fusion_evaluate, hs_sisr_evaluate

    if guide is not None:
        report = hs_fusion_evaluate(cube, guide, ratio, model or ["hpi", "hpi-hs", "hsnet-zs"],
                                    guide_bands=parse_bands(guide_bands, "--guide-bands"))
        tables = [(f"fusion with {guide.name}, ratio {ratio}, cube {report['shape']}", report["methods"])]
    else:
        reg = parse_region(region)
        report = hs_sisr_evaluate(cube, model or ["sgsr", "edsr-ms"], scale or [2, 4], region=reg, device=device)
        where = "" if reg is None else f" region {region}"
        tables = [(f"x{s} (Wald), {cube.name}{where}, {v['shape']}", v["methods"]) for s, v in report["scales"].items()]
    if as_json:
        typer.echo(json.dumps(report))
        return
    from rich.console import Console
    from rich.table import Table

    for title, methods in tables:
        table = Table(title=title)
        for col in ("model", "PSNR (dB)", "vs bicubic", "SAM (deg)", "ERGAS", "RMSE", "time (s)"):
            table.add_column(col, justify="left" if col == "model" else "right")
        base = methods["bicubic"]["psnr_mean"]
        for name, q in methods.items():
            table.add_row(name, f"{q['psnr_mean']:.3f}", f"{q['psnr_mean'] - base:+.3f}",
                          "-" if q["sam"] is None else f"{q['sam']:.3f}", f"{q['ergas']:.3f}", f"{q['rmse_mean']:.4g}",
                          f"{q['seconds']:.1f}")
        Console().print(table)


@evaluate_app.command("video")
def video_cmd(
    clip: Annotated[Path, typer.Option("--clip", help="Folder of frames or a GeoTIFF of frames (the HR).")],
    scale: Annotated[int, typer.Option("--scale", "-s", help="Upscaling factor.")] = 4,
    model: Annotated[list[str] | None, typer.Option(
        "--model", "-m", help="Video or single-image model (repeatable; default swvsr and edsr); bicubic always "
                              "runs.")] = None,
    last: Annotated[int | None, typer.Option(
        help="Evaluate the last N frames only (the part kept out of training); default all.")] = None,
    degradation: Annotated[str, typer.Option(help="How low-res frames are made: bicubic or wald.")] = "bicubic",
    window: Annotated[int | None, typer.Option(help="Frames per window of video models (default: trained).")] = None,
    frame_bands: Annotated[int, typer.Option(help="GeoTIFF clip: bands per frame.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    device: Annotated[str, typer.Option(help="cpu or cuda (neural models).")] = "cpu",
) -> None:
    """Video SR on a clip: degrade each frame, super-resolve the low-res clip, report per-frame PSNR/SSIM
    and temporal consistency (flicker: mean absolute change between consecutive outputs, beside the same
    for the HR frames; temporal error: how far the output's changes are from the HR's), bicubic in the
    same run."""
    from satsr.evaluate.video import video_evaluate

    report = video_evaluate(clip, model or ["swvsr", "edsr"], scale, last=last, degradation=degradation,
                            window=window, frame_bands=frame_bands, device=device)
    if as_json:
        typer.echo(json.dumps(report))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"x{scale} ({report['degradation']}) on {report['frames']} frames of {clip}")
    for col in ("model", "PSNR (dB)", "vs bicubic", "SSIM", "flicker", "flicker HR", "temporal err.", "time (s)"):
        table.add_column(col, justify="left" if col == "model" else "right")
    base = report["rows"][0]["psnr"]
    for r in report["rows"]:
        table.add_row(r["model"], f"{r['psnr']:.3f}", f"{r['psnr'] - base:+.3f}", f"{r['ssim']:.4f}",
                      f"{r['flicker']:.3f}", f"{r['flicker_hr']:.3f}", f"{r['temporal_error']:.3f}",
                      f"{r['seconds']:.1f}")
    Console().print(table)
