"""The benchmark harness: PROBA-V challenge scoring of fusers, and SISR PSNR/SSIM on HR folders.

``evaluate_probav`` fuses every scored PROBA-V scene (those with ``HR.png``) under a folder and
reports each scene's cPSNR and challenge score (``norm / cPSNR``, lower is better, 1.0 = the official
baseline) and their mean, exactly as the challenge did.

``evaluate_sisr`` follows the SR literature: each HR image is cropped to a multiple of the scale,
degraded with MATLAB's anti-aliased bicubic (``satsr.degrade.downsample_bicubic``; 8-bit results
rounded to integers as saved LR PNGs are), super-resolved, clipped to 0..255 and rounded for 8-bit
images, and compared with the HR image with ``scale`` px of border excluded: PSNR (per channel, then
averaged over channels, then over images) and SSIM (same averaging). Bicubic always runs in the same
call, so every model is compared with it on identical data. Every row also reports its LR
consistency (``consistency_rmse``: RMSE of ``downsample(SR) - LR`` in data units, ``satsr.trust``);
``consistency=True`` adds a row per model with its output projected onto the LR, and ``opensr=True``
the opensr-test metrics (``satsr.trust.opensr``).

``evaluate_opensr`` scores models on one HR raster (e.g. a Sentinel-2 crop) with the opensr-test
metrics: the HR is degraded Wald-style (or bicubic), super-resolved and compared.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from satsr.errors import InputError, OptionError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".jp2")
Progress = Callable[[str], None] | None


# ----------------------------------------------------------------------------- PROBA-V


@dataclass
class SceneResult:
    """One PROBA-V scene's result; ``score`` is None when ``norm.csv`` has no entry for it."""

    name: str
    band: str | None
    cpsnr: float
    score: float | None
    norm: float | None = None
    cssim: float | None = None
    path: str = ""


@dataclass
class ProbavReport:
    """All scenes' results and the challenge score (mean of the scene scores)."""

    method: str
    score: float | None
    scenes: list[SceneResult] = field(default_factory=list)
    norm_file: str | None = None

    def to_json(self) -> dict[str, Any]:
        scenes = []
        for s in self.scenes:
            row: dict[str, Any] = {"name": s.name, "band": s.band, "cpsnr": s.cpsnr, "score": s.score}
            if s.cssim is not None:
                row["cssim"] = s.cssim
            scenes.append(row)
        return {"method": self.method, "score": self.score, "scenes": scenes}


def evaluate_probav(root: str | os.PathLike[str], method: str | Any = "baseline", cssim: bool = False,
                    limit: int | None = None, norm_file: str | os.PathLike[str] | None = None,
                    progress: Progress = None, **options: Any) -> ProbavReport:
    """Fuse and score every PROBA-V scene with ground truth under ``root`` (recursive).

    ``method`` is a registry name of a multi-image model or a ready ``Fuser``; ``options`` go to
    its constructor. The norm file defaults to the nearest ``norm.csv`` at or above ``root``.
    """
    from satsr import metrics
    from satsr.data.probav import HR_SCALE, find_imgsets, find_norm, read_imgset, read_norm
    from satsr.fusion import build_fuser, run_fuser

    paths = find_imgsets(root, with_hr=True)
    if not paths:
        raise InputError(f"{root}: no PROBA-V scene with HR.png found (test and LR-only scenes cannot be scored)")
    if limit is not None:
        paths = paths[:limit]
    norm_path = Path(norm_file) if norm_file else find_norm(root)
    norm = read_norm(norm_path) if norm_path else {}
    fuser = build_fuser(method, HR_SCALE, **options)
    name = method if isinstance(method, str) else getattr(fuser, "name", type(fuser).__name__)
    results = []
    for p in paths:
        scene = read_imgset(p)
        assert scene.hr is not None and scene.sm is not None
        sr = run_fuser(fuser, scene.frames, scene.qm)[0]
        c = float(metrics.cpsnr(sr, scene.hr, scene.sm))
        n = norm.get(scene.name)
        cs = float(metrics.cssim(sr, scene.hr, scene.sm)) if cssim else None
        results.append(SceneResult(name=scene.name, band=scene.band, cpsnr=c,
                                   score=metrics.probav_score(c, n) if n else None, norm=n, cssim=cs, path=str(p)))
        if progress:
            progress(f"{scene.name}: cPSNR {c:.3f} dB")
    scored = [r.score for r in results if r.score is not None]
    mean = float(np.mean(scored)) if scored else None
    return ProbavReport(method=name, score=mean, scenes=results, norm_file=str(norm_path) if norm_path else None)


# ----------------------------------------------------------------------------- SISR


@dataclass
class SisrRow:
    model: str
    psnr: float
    ssim: float
    sam: float = float("nan")  # mean spectral angle (degrees), multi-band images only
    seconds: float = 0.0
    consistency_rmse: float = float("nan")  # RMSE of downsample(SR) - LR, data units
    opensr: dict[str, float] | None = None  # opensr-test metrics (means over images)


@dataclass
class SisrReport:
    scale: int
    images: int
    rows: list[SisrRow]
    hr_dir: str = ""
    per_image: dict[str, list[float]] = field(default_factory=dict)  # "model#row" -> PSNR per image

    def to_json(self) -> dict[str, Any]:
        rows = []
        for r in self.rows:
            row: dict[str, Any] = {"model": r.model, "psnr": r.psnr, "ssim": r.ssim,
                                   "consistency_rmse": r.consistency_rmse}
            if not np.isnan(r.sam):
                row["sam"] = r.sam
            if r.opensr is not None:
                row["opensr"] = r.opensr
            rows.append(row)
        return {"scale": self.scale, "images": self.images, "rows": rows}


def list_images(folder: str | os.PathLike[str], limit: int | None = None) -> list[Path]:
    """Image files under ``folder`` (recursive), sorted by path; the first ``limit`` when given.

    A single image file is accepted too (a one-image evaluation, e.g. a held-out GeoTIFF crop).
    """
    d = Path(folder)
    if d.is_file() and d.suffix.lower() in IMAGE_SUFFIXES:
        return [d]
    if not d.is_dir():
        raise InputError(f"{d}: no such folder or image; give a folder of HR images (searched recursively)")
    files = sorted(p for p in d.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"{d}: no images ({', '.join(IMAGE_SUFFIXES)}) found")
    if limit is not None:
        if limit < 1:
            raise OptionError(f"--limit must be at least 1, got {limit}")
        files = files[:limit]
    return files


def read_any_image(path: Path) -> np.ndarray:
    """float32 ``(C, H, W)`` in file units: PNG/JPEG through Pillow, TIFF/GeoTIFF through rasterio."""
    if path.suffix.lower() in (".tif", ".tiff", ".jp2"):
        from satsr.io.raster import RasterReader

        with RasterReader(path) as r:
            return r.read().astype(np.float32)
    from satsr.io.image import read_image

    return read_image(path)


def is_8bit(path: Path, image: np.ndarray) -> bool:
    """8-bit data: the file stores bytes (PNG/JPEG from Pillow, or a uint8 raster)."""
    if path.suffix.lower() in (".tif", ".tiff", ".jp2"):
        from satsr.io.raster import inspect

        return inspect(path).dtype == "uint8"
    if float(image.max(initial=0)) > 255:
        return False
    from PIL import Image

    with Image.open(path) as im:
        return im.mode in ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr")


def degrade_for_eval(hr: np.ndarray, scale: int, eight_bit: bool,
                     degradation: str = "bicubic") -> tuple[np.ndarray, np.ndarray]:
    """HR cropped to a multiple of ``scale`` and its LR (rounded/clipped for 8-bit data).

    ``bicubic``: MATLAB anti-aliased bicubic (the SR benchmark convention); ``wald``: the Wald
    protocol's Gaussian MTF (0.3 at the LR Nyquist frequency), for multispectral sensors.
    """
    from satsr.degrade import crop_to_multiple, downsample_bicubic, wald_degrade

    hr_c = np.asarray(crop_to_multiple(hr, scale), np.float32)
    if degradation == "wald":
        lr = np.asarray(wald_degrade(hr_c.astype(np.float64), scale), np.float32)
    elif degradation == "bicubic":
        lr = np.asarray(downsample_bicubic(hr_c, scale), np.float32)
    else:
        raise OptionError(f"unknown degradation {degradation!r}; use bicubic or wald")
    if eight_bit:
        lr = np.clip(np.round(lr), 0, 255)
    return hr_c, lr


def super_resolve(upscaler: Any, lr: np.ndarray, eight_bit: bool) -> np.ndarray:
    """Run an ``Upscaler`` in its units (divide by ``value_scale``, multiply back); 8-bit: clip + round."""
    vs = float(getattr(upscaler, "value_scale", 1.0) or 1.0)
    out = upscaler(lr / vs)
    arr = out.detach().cpu().numpy() if hasattr(out, "detach") else np.asarray(out)
    arr = arr.astype(np.float64) * vs
    if eight_bit:
        arr = np.clip(np.round(arr), 0, 255)
    return arr


def sisr_upscaler(m: str | Any, scale: int, bands: int | None, device: str, command: str) -> tuple[str, Any]:
    """(label, upscaler) for a registry name or a ready ``Upscaler``; other model kinds are a user error.

    ``bands`` lets a band-specific model refuse a wrong band count up front; ``command`` names the
    caller in the message (e.g. "evaluate sisr").
    """
    from satsr.models import registry

    if not isinstance(m, str):
        return getattr(m, "name", type(m).__name__), m
    spec = registry.get_spec(m)
    if spec.kind != "sisr":
        raise OptionError(f"model {m!r} is a {spec.kind} model; `{command}` runs single-image models")
    kwargs: dict[str, Any] = {"device": device} if spec.neural else {}
    if bands is not None:
        kwargs["bands"] = bands
    return m, registry.create(m, scale, **kwargs)


def evaluate_sisr(hr_dir: str | os.PathLike[str], scale: int = 4, models: Sequence[str | Any] = (),
                  limit: int | None = None, device: str = "cpu", progress: Progress = None,
                  consistency: bool = False, opensr: bool = False, degradation: str = "bicubic") -> SisrReport:
    """PSNR/SSIM of each model on the HR images under ``hr_dir`` (see the module docstring).

    ``models`` are registry names of single-image models (or ready ``Upscaler`` objects); the
    first row is always bicubic, evaluated in the same run on the same data. Data range: 255 for
    8-bit images, else each HR image's maximum (its peak). Each row's ``consistency_rmse`` is the
    mean over images of the RMSE of ``downsample_bicubic(SR) - LR``. ``consistency`` adds, after
    each model, a row ``<model>+consistency`` scoring its output projected onto the LR
    (``satsr.trust.project``, the bicubic degradation of this protocol). ``opensr`` adds the
    opensr-test metrics to every row (values divided by 255 for 8-bit images, else by 10000).
    ``degradation="wald"`` makes the LR with the Wald protocol instead of bicubic (multispectral
    sensors); multi-band images also get the mean spectral angle (SAM, degrees) per row.
    """
    import time

    from satsr import metrics
    from satsr.trust import Degradation, consistency_rmse, project

    # bicubic first, always; then every requested model as given (``--model bicubic`` gives a second,
    # identical row: a check that the harness treats models and the reference alike)
    names: list[str | Any] = ["bicubic", *models]
    ups = [sisr_upscaler(m, scale, None, device, "evaluate sisr") for m in names]
    # one entry per row: (row name, key, upscaler index, projected?)
    entries: list[tuple[str, str, int, bool]] = []
    for i, (n, _) in enumerate(ups):
        entries.append((n, f"{n}#{i}", i, False))
        if consistency:
            entries.append((f"{n}+consistency", f"{n}+consistency#{i}", i, True))
    keys = [e[1] for e in entries]
    deg = Degradation(degradation, scale)
    files = list_images(hr_dir, limit)
    psnrs: dict[str, list[float]] = {k: [] for k in keys}
    ssims: dict[str, list[float]] = {k: [] for k in keys}
    sams: dict[str, list[float]] = {k: [] for k in keys}
    cons: dict[str, list[float]] = {k: [] for k in keys}
    osr: dict[str, list[dict[str, float]]] = {k: [] for k in keys}
    secs: dict[str, float] = {k: 0.0 for k in keys}
    for k, f in enumerate(files):
        img = read_any_image(f)
        eight = is_8bit(f, img)
        hr, lr = degrade_for_eval(img, scale, eight, degradation)
        if min(lr.shape[-2:]) < 2:
            raise InputError(f"{f}: {img.shape[-1]}x{img.shape[-2]} px is too small for x{scale}")
        peak = 255.0 if eight else float(hr.max())
        outputs: dict[int, np.ndarray] = {}
        for _, key, i, projected in entries:
            t0 = time.perf_counter()
            if i not in outputs:
                outputs[i] = super_resolve(ups[i][1], lr, eight)
            sr = outputs[i]
            if projected:
                sr = project(sr, lr, deg, bounds=(0.0, 255.0) if eight else None)
                if eight:
                    sr = np.clip(np.round(sr), 0, 255)
            secs[key] += time.perf_counter() - t0
            psnrs[key].append(float(metrics.psnr(sr, hr, data_range=peak, border=scale)))
            ssims[key].append(float(metrics.ssim(sr, hr, data_range=peak, border=scale)))
            if hr.shape[0] > 1:
                sams[key].append(float(metrics.sam(sr, hr, border=scale)))
            cons[key].append(consistency_rmse(sr, lr, deg))
            if opensr:
                from satsr.trust.opensr import opensr_metrics

                osr[key].append(opensr_metrics(lr, sr, hr, value_scale=255.0 if eight else 10000.0).to_dict())
        if progress:
            progress(f"[{k + 1}/{len(files)}] {f.name}")
    rows = []
    for name, key, _, _ in entries:
        mean_osr = None
        if opensr:
            mean_osr = {m: float(np.nanmean([d[m] for d in osr[key]])) for m in osr[key][0]}
        sam = float(np.mean(sams[key])) if sams[key] else float("nan")
        rows.append(SisrRow(model=name, psnr=float(np.mean(psnrs[key])), ssim=float(np.mean(ssims[key])), sam=sam,
                            seconds=secs[key], consistency_rmse=float(np.mean(cons[key])), opensr=mean_osr))
    return SisrReport(scale=scale, images=len(files), rows=rows, hr_dir=str(hr_dir),
                      per_image={k: psnrs[k] for k in keys})


# ----------------------------------------------------------------------------- opensr-test on a raster


@dataclass
class OpensrReport:
    """opensr-test metrics of each model on one HR raster (see ``evaluate_opensr``)."""

    hr: str
    scale: int
    degradation: str
    value_scale: float
    bands: list[int]
    rows: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_opensr(hr: str | os.PathLike[str], scale: int = 4, models: Sequence[str | Any] = (),
                    degradation: str = "wald", value_scale: float = 10000.0, bands: Sequence[int] | None = None,
                    consistency: bool = False, device: str = "cpu") -> OpensrReport:
    """opensr-test metrics (``satsr.trust.opensr``) of each model on one HR raster.

    The HR (e.g. a Sentinel-2 10 m crop, reflectance x ``value_scale``) is cropped to a multiple of
    ``scale`` and degraded (``"wald"``: Gaussian MTF, the Sentinel-2 convention, or ``"bicubic"``);
    the LR is kept in float (no rounding). Bicubic always runs first. ``consistency`` adds a
    ``<model>+consistency`` row per model with its output projected onto the LR using the same
    degradation. Each row also has ``consistency_rmse`` (data units) and PSNR (peak: HR maximum).
    """
    from satsr import metrics
    from satsr.io.raster import RasterReader
    from satsr.trust import Degradation, consistency_rmse, downsample, project
    from satsr.trust.opensr import opensr_metrics

    deg = Degradation(degradation, scale)
    with RasterReader(hr, bands=bands) as reader:
        chosen = list(reader.bands)
        img = reader.read().astype(np.float64)
    hr_c = img[..., : img.shape[-2] - img.shape[-2] % scale, : img.shape[-1] - img.shape[-1] % scale]
    lr = downsample(hr_c, deg)
    if min(lr.shape[-2:]) < 8:
        raise InputError(f"{hr}: {img.shape[-1]}x{img.shape[-2]} px is too small for x{scale} with a 16-px border")
    names: list[str | Any] = ["bicubic", *models]
    rows: list[dict[str, Any]] = []
    peak = float(hr_c.max())
    for m in names:
        label, up = sisr_upscaler(m, scale, lr.shape[0], device, "evaluate opensr")
        sr = super_resolve(up, lr.astype(np.float32), False)
        variants = [(label, sr)]
        if consistency:
            variants.append((f"{label}+consistency", project(sr, lr, deg)))
        for name, out in variants:
            row: dict[str, Any] = {"model": name, "psnr": float(metrics.psnr(out, hr_c, peak, border=scale)),
                                   "consistency_rmse": consistency_rmse(out, lr, deg)}
            row.update(opensr_metrics(lr, out, hr_c, value_scale=value_scale).to_dict())
            rows.append(row)
    return OpensrReport(hr=str(hr), scale=scale, degradation=deg.describe(), value_scale=value_scale,
                        bands=chosen, rows=rows)


def report_dict(report: ProbavReport | SisrReport) -> dict[str, Any]:
    """Everything in a report as plain data (for debugging and tests)."""
    return asdict(report)


__all__ = [
    "OpensrReport", "ProbavReport", "SceneResult", "SisrReport", "SisrRow", "evaluate_opensr", "evaluate_probav",
    "evaluate_sisr", "list_images",
]
