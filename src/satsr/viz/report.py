"""Self-contained HTML reports of evaluation runs (``satsr evaluate sisr|probav|sharpen|real --report out.html``).

A report holds the run's metric table, whose cells carry the numbers of the ``--json`` output exactly
(``data-key`` names the JSON field, ``data-value`` holds its value; the text shown is rounded), and, for
the worst, median and best images (PROBA-V scenes; tiles of the one scene of `sharpen` and `real`) by the main
model's score, zoomed crops side by side (LR, bicubic, each model, reference) with their difference
maps and, when asked, the trust maps. Figures are drawn by matplotlib (``satsr.viz.figures``) and
inlined as base64 PNG; the run's JSON is embedded too. The page references nothing outside itself
(no links, external scripts, fonts or images), so it opens offline in any browser.

The evaluation protocols return numbers only; their ``keep`` hooks hand each image's outputs to a
``*Keeper`` here, which keeps a small centred zoom of every image, so the figures need no second run.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from satsr.evaluate import ImageOutputs, ProbavReport, SisrReport, sisr_upscaler
from satsr.io.files import atomic_path
from satsr.io.probav import ImageSet
from satsr.ops.resize import imresize
from satsr.viz.figures import Panel, comparison_figure
from satsr.viz.sisr import trust_panels

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1400px;color:#222;
padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}h3{font-size:1.05em}
table{border-collapse:collapse;margin:0.5em 0}th,td{border:1px solid #ccc;padding:0.25em 0.6em}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:0.5em 0}figure img{max-width:100%;height:auto}figcaption{color:#555;font-size:0.9em}
.meta{color:#555}details{margin:1em 0}
"""


@dataclass
class Num:
    """A table cell holding a number: shown rounded, its exact value in ``data-value`` (JSON field ``key``)."""

    value: float | None
    key: str = ""
    digits: int = 4

    def render(self) -> str:
        if self.value is None or (isinstance(self.value, float) and np.isnan(self.value)):
            return '<td class="num">-</td>'
        v = float(self.value)
        key = f' data-key="{html.escape(self.key)}"' if self.key else ""
        return f'<td class="num"{key} data-value="{v!r}">{v:.{self.digits}f}</td>'


@dataclass
class HtmlReport:
    """An HTML page built from headings, paragraphs, tables and inline figures (see the module docstring)."""

    title: str
    data: dict[str, Any] = field(default_factory=dict)
    parts: list[str] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def paragraph(self, text: str, css: str = "") -> None:
        cls = f' class="{css}"' if css else ""
        self.parts.append(f"<p{cls}>{html.escape(text)}</p>")

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], table_id: str,
              row_keys: Sequence[str] | None = None, collapsed: str | None = None) -> None:
        """A table; ``Num`` cells carry exact values, anything else is text. ``row_keys`` become each
        row's ``data-row`` (e.g. the model name of a JSON row)."""
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = []
        for i, row in enumerate(rows):
            cells = "".join(c.render() if isinstance(c, Num) else f"<td>{html.escape(str(c))}</td>" for c in row)
            key = f' data-row="{html.escape(row_keys[i])}"' if row_keys is not None else ""
            body.append(f"<tr{key}>{cells}</tr>")
        text = f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
        if collapsed:
            text = f"<details><summary>{html.escape(collapsed)}</summary>{text}</details>"
        self.parts.append(text)

    def figure(self, png: bytes, caption: str) -> None:
        data = base64.b64encode(png).decode("ascii")
        self.parts.append(f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
                          f"<figcaption>{html.escape(caption)}</figcaption></figure>")

    def render(self) -> str:
        # the JSON is inert data (type application/json), "</" escaped so it cannot end the element
        blob = json.dumps(self.data, allow_nan=True).replace("</", "<\\/")
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>"
                f"<h1>{html.escape(self.title)}</h1><p class=\"meta\">satsr report, {stamp}</p>"
                f"{''.join(self.parts)}"
                f'<script type="application/json" id="satsr-data">{blob}</script></body></html>\n')

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the page (atomically: a failed run leaves no half-written report)."""
        out = Path(path)
        with atomic_path(out) as tmp:
            tmp.write_text(self.render(), encoding="utf-8")
        return out


def png(panels: Sequence[Panel], crop: Sequence[int] | None = None, **options: Any) -> bytes:
    """A ``comparison_figure`` as PNG bytes."""
    buf = io.BytesIO()
    comparison_figure(panels, buf, crop=crop, dpi=90, **options)
    return buf.getvalue()


def choose(scores: Sequence[float], higher_is_better: bool = True) -> list[tuple[str, int]]:
    """``[("worst", i), ("median", j), ("best", k)]`` by score (an index appears once)."""
    order = list(np.argsort(np.asarray(scores, np.float64), kind="stable"))
    if not higher_is_better:
        order = order[::-1]
    picks, seen = [], set()
    for label, i in (("worst", order[0]), ("median", order[len(order) // 2]), ("best", order[-1])):
        if int(i) not in seen:
            seen.add(int(i))
            picks.append((label, int(i)))
    return picks


def difference_panels(outputs: Sequence[tuple[str, np.ndarray]], reference: np.ndarray,
                      remove_bias: bool = False) -> list[Panel]:
    """``|output - reference|`` (band mean) per output on one colour scale (99th percentile of all);
    ``remove_bias`` first subtracts each output's mean difference (brightness-bias-free, like cPSNR)."""
    diffs = []
    for label, out in outputs:
        d = np.asarray(out, np.float64) - reference
        if remove_bias:
            d = d - np.nanmean(d)
        diffs.append((label, np.abs(d)))
    top = max(float(np.nanpercentile(np.stack([d.mean(0) for _, d in diffs]), 99)), 1e-6)
    return [Panel(f"|{label} - ref.| (0-{top:.3g})", d, cmap="inferno", vrange=(0.0, top)) for label, d in diffs]


def _zoom_box(h: int, w: int, zoom: int, scale: int) -> tuple[int, int, int]:
    """Top-left row and column (multiples of ``scale``) and side of the centred zoom square."""
    side = max(min(zoom, h, w) // scale * scale, scale)
    return (h - side) // 2 // scale * scale, (w - side) // 2 // scale * scale, side


# ----------------------------------------------------------------------------- single-image SR


@dataclass
class _Kept:
    name: str
    hr: np.ndarray
    lr: np.ndarray  # the zoom's LR plus `off` LR px of context on each side where the image has it
    off: tuple[int, int]
    outputs: dict[str, np.ndarray]
    eight_bit: bool
    extra: dict[str, Any] = field(default_factory=dict)


class SisrKeeper:
    """``evaluate_sisr``'s ``keep`` hook: a centred ``zoom``-px square of every image's HR and outputs,
    and its LR with ``context`` LR px around it (for trust maps), as float32."""

    def __init__(self, scale: int, zoom: int = 96, context: int = 8) -> None:
        self.scale, self.zoom, self.context = scale, zoom, context
        self.images: list[_Kept] = []

    def __call__(self, out: ImageOutputs) -> None:
        s = self.scale
        r0, c0, side = _zoom_box(*out.hr.shape[-2:], self.zoom, s)
        lh, lw = out.lr.shape[-2:]
        y0, x0 = max(r0 // s - self.context, 0), max(c0 // s - self.context, 0)
        y1, x1 = min((r0 + side) // s + self.context, lh), min((c0 + side) // s + self.context, lw)
        win = (slice(None), slice(r0, r0 + side), slice(c0, c0 + side))
        self.images.append(_Kept(
            name=out.path.name, hr=out.hr[win].astype(np.float32), lr=out.lr[:, y0:y1, x0:x1].astype(np.float32),
            off=(r0 // s - y0, c0 // s - x0), outputs={k: v[win].astype(np.float32) for k, v in out.outputs.items()},
            eight_bit=out.eight_bit, extra={"path": str(out.path)}))


def sisr_metric_rows(report: SisrReport) -> tuple[list[str], list[list[Any]], list[str]]:
    """Columns, rows and row keys of the metric table: exactly the JSON rows' numbers."""
    data = report.to_json()["rows"]
    has_sam = any("sam" in r for r in data)
    osr_keys = list(data[0]["opensr"]) if data and "opensr" in data[0] else []
    columns = ["model", "PSNR (dB)", "SSIM", *(["SAM (deg)"] if has_sam else []), "vs bicubic (dB)", "LR cons.",
               *osr_keys]
    base = data[0]["psnr"]
    rows = []
    for r in data:
        row: list[Any] = [r["model"], Num(r["psnr"], "psnr", 3), Num(r["ssim"], "ssim")]
        if has_sam:
            row.append(Num(r.get("sam"), "sam"))
        row += [Num(r["psnr"] - base, "", 3), Num(r["consistency_rmse"], "consistency_rmse", 3)]
        row += [Num(r["opensr"][k], f"opensr.{k}") for k in osr_keys]
        rows.append(row)
    return columns, rows, [r["model"] for r in data]


def sisr_report(report: SisrReport, kept: SisrKeeper, out: str | os.PathLike[str], models: Sequence[Any] = (),
                trust: bool = False, device: str = "cpu", degradation: str = "bicubic") -> Path:
    """The HTML report of an ``evaluate_sisr`` run whose ``keep`` hook was ``kept``; ``models`` (as
    given to ``evaluate_sisr``) are rebuilt for the trust maps when ``trust``."""
    s = report.scale
    page = HtmlReport(f"Single-image SR x{s}: {report.images} images of {report.hr_dir}", data=report.to_json())
    page.paragraph(f"Each HR image is degraded ({degradation}), super-resolved by every model and compared with "
                   f"the HR, {s} px of border excluded (PSNR and SSIM averaged over bands, then images; 8-bit "
                   "outputs rounded). 'LR cons.' is the RMSE of downsample(SR) - LR: 0 means the output agrees with "
                   "its input.")
    page.heading("Metrics")
    columns, rows, keys = sisr_metric_rows(report)
    page.table(columns, rows, "metrics", row_keys=keys)
    row_keys = list(report.per_image)
    names = [r.model for r in report.rows]
    main = next((i for i, n in enumerate(names) if not n.startswith("bicubic")), 0)
    scores = report.per_image[row_keys[main]]
    gains = np.asarray(scores) - np.asarray(report.per_image[row_keys[0]])
    ups: dict[str, Any] = {}
    if trust:
        for m in models:
            label, up = sisr_upscaler(m, s, None, device)
            if label != "bicubic":
                ups[label] = up
    page.heading(f"Worst, median and best images by {names[main]} PSNR")
    for which, i in choose(scores):
        k = kept.images[i]
        title = f"{which}: {k.name} ({names[main]} {scores[i]:.2f} dB, {gains[i]:+.2f} dB vs bicubic)"
        page.heading(title, 3)
        outputs = [(names[j], k.outputs[key]) for j, key in enumerate(row_keys)]
        panels = [Panel(f"LR x1/{s} (nearest)", k.lr[:, k.off[0]:, k.off[1]:][:, :k.hr.shape[-2] // s,
                                                                             :k.hr.shape[-1] // s], upscale=s)]
        panels += [Panel(n, o, {"PSNR": report.per_image[row_keys[j]][i]}) for j, (n, o) in enumerate(outputs)]
        panels.append(Panel("HR (reference)", k.hr))
        stretch = None if k.eight_bit else (2.0, 98.0)
        page.figure(png(panels, percentiles=stretch), f"{k.name}: zoomed centre, {k.hr.shape[-1]} px of the HR grid; "
                                                      "titles give the whole image's PSNR")
        maps = [Panel("HR (reference)", k.hr), *difference_panels(outputs, k.hr)]
        for label, up in ups.items():
            side, (oy, ox) = k.hr.shape[-1], k.off
            up.fit(k.lr, None)  # a model that learns from its input (zssr, dip) learns this image once
            for p in trust_panels(label, up, k.lr):
                p.image = p.image[:, oy * s:oy * s + k.hr.shape[-2], ox * s:ox * s + side]
                maps.append(p)
        page.figure(png(maps, percentiles=stretch), "absolute differences to the reference (band mean, one colour "
                                                    "scale)" + ("; trust maps: uncertainty (spread of 8 flipped "
                                                                "predictions) and hallucination share" if ups else ""))
    page.heading("PSNR per image")
    table = [[Path(k.extra["path"]).name, *[Num(report.per_image[key][i], "", 3) for key in row_keys],
              Num(float(gains[i]), "", 3)] for i, k in enumerate(kept.images)]
    page.table(["image", *names, f"{names[main]} vs bicubic"], table, "per-image", collapsed=f"{len(table)} images")
    return page.write(out)


# ----------------------------------------------------------------------------- PROBA-V


class ProbavKeeper:
    """``evaluate_probav``'s ``keep`` hook: a centred ``zoom``-px square (HR grid) of each scene's fused
    image, HR, status mask and uncertainty, and of its clearest LR frame (with context)."""

    def __init__(self, zoom: int = 96, context: int = 4) -> None:
        self.zoom, self.context = zoom, context
        self.scenes: list[_Kept] = []

    def __call__(self, scene: ImageSet, sr: np.ndarray, sigma: np.ndarray | None) -> None:
        s = 3
        r0, c0, side = _zoom_box(*sr.shape[-2:], self.zoom, s)
        lr = scene.lr[0]
        y0, x0 = max(r0 // s - self.context, 0), max(c0 // s - self.context, 0)
        y1, x1 = min((r0 + side) // s + self.context, lr.shape[0]), min((c0 + side) // s + self.context, lr.shape[1])
        win = (slice(r0, r0 + side), slice(c0, c0 + side))
        outputs = {"sr": sr[win][None].astype(np.float32)}
        if sigma is not None:
            outputs["sigma"] = sigma[win][None].astype(np.float32)
        extra = {"sm": scene.sm[win] if scene.sm is not None else None}
        hr = scene.hr[win][None].astype(np.float32) if scene.hr is not None else np.zeros((1, side, side), np.float32)
        self.scenes.append(_Kept(name=scene.name, hr=hr, lr=lr[None, y0:y1, x0:x1].astype(np.float32),
                                 off=(r0 // s - y0, c0 // s - x0), outputs=outputs, eight_bit=False, extra=extra))


def probav_report(report: ProbavReport, kept: ProbavKeeper, out: str | os.PathLike[str], trust: bool = False) -> Path:
    """The HTML report of an ``evaluate_probav`` run whose ``keep`` hook was ``kept``."""
    data = report.to_json()
    page = HtmlReport(f"PROBA-V x3: {report.method} on {len(report.scenes)} scenes", data=data)
    score = "n/a (no norm.csv entries)" if report.score is None else f"{report.score:.5f}"
    page.paragraph(f"Challenge score (mean of norm / cPSNR, lower is better, 1.0 = the official baseline): {score}.")
    has_cssim = any("cssim" in r for r in data["scenes"])
    columns = ["scene", "band", "cPSNR (dB)", *(["cSSIM"] if has_cssim else []), "norm", "score"]
    rows = []
    for r, sc in zip(data["scenes"], report.scenes, strict=True):
        row: list[Any] = [r["name"], r["band"] or "-", Num(r["cpsnr"], "cpsnr")]
        if has_cssim:
            row.append(Num(r.get("cssim"), "cssim", 5))
        rows.append([*row, Num(sc.norm, "", 4), Num(r["score"], "score", 5)])
    page.heading("Metrics")
    page.table(columns, rows, "metrics", row_keys=[r["name"] for r in data["scenes"]])
    page.table(["method", "score"], [[report.method, Num(report.score, "score", 5)]], "summary", row_keys=["summary"])
    scored = all(sc.score is not None for sc in report.scenes)
    values = [sc.score if scored else sc.cpsnr for sc in report.scenes]
    page.heading("Worst, median and best scenes by " + ("score" if scored else "cPSNR"))
    for which, i in choose(values, higher_is_better=not scored):
        k, sc = kept.scenes[i], report.scenes[i]
        side = k.hr.shape[-1]
        page.heading(f"{which}: {sc.name} {sc.band or ''} (cPSNR {sc.cpsnr:.3f} dB"
                     + (f", score {sc.score:.4f})" if sc.score is not None else ")"), 3)
        oy, ox = k.off
        bic = np.asarray(imresize(k.lr.astype(np.float64), scale=3), np.float32)[:, oy * 3:oy * 3 + side,
                                                                                  ox * 3:ox * 3 + side]
        lr = k.lr[:, oy:oy + side // 3, ox:ox + side // 3]
        outputs = [("bicubic (clearest frame)", bic), (report.method, k.outputs["sr"])]
        page.figure(png([Panel("LR clearest frame (nearest)", lr, upscale=3),
                         *[Panel(n, o) for n, o in outputs], Panel("HR (reference)", k.hr)]),
                    f"{sc.name}: zoomed centre, {side} px of the HR grid, one display stretch (from the HR)")
        maps = [Panel("HR (reference)", k.hr), *difference_panels(outputs, k.hr, remove_bias=True)]
        if trust and "sigma" in k.outputs:
            top = max(float(np.percentile(k.outputs["sigma"], 99)), 1e-6)
            maps.append(Panel(f"{report.method} uncertainty (0-{top:.3g} DN)", k.outputs["sigma"], cmap="magma",
                              vrange=(0.0, top)))
        page.figure(png(maps), "absolute differences to the HR after removing each image's mean bias (as cPSNR "
                               "does)" + ("; the fuser's own uncertainty" if len(maps) > len(outputs) + 1 else ""))
    return page.write(out)


def tile_sections(page: HtmlReport, lowres: np.ndarray, outputs: dict[str, np.ndarray], ref: np.ndarray,
                  scale: int, zoom: int = 96, valid: np.ndarray | None = None, input_label: str = "LR") -> None:
    """Figures of the worst, median and best ``zoom``-px tiles of one scene by the main (first
    non-bicubic) output's RMSE against ``ref`` over ``valid`` pixels (tiles under a quarter valid are
    skipped): the input, every output and the reference, then the difference maps."""
    names = list(outputs)
    main = next((n for n in names if n != "bicubic"), names[0])
    h, w = ref.shape[-2:]
    ok = np.ones((h, w), bool) if valid is None else valid
    side = max(min(zoom, h, w) // scale * scale, scale)
    tiles, err = [], []
    for r in range(0, h - side + 1, side):
        for c in range(0, w - side + 1, side):
            m = ok[r:r + side, c:c + side]
            if m.mean() >= 0.25:
                d = outputs[main][:, r:r + side, c:c + side] - ref[:, r:r + side, c:c + side]
                tiles.append((r, c))
                err.append(float(np.sqrt(np.mean(d[:, m] ** 2))))
    if not tiles:
        return
    page.heading(f"Worst, median and best {side}-px tiles by {main} RMSE")
    for which, i in choose(err, higher_is_better=False):
        r, c = tiles[i]
        win = (slice(None), slice(r, r + side), slice(c, c + side))
        mask = ok[win[1:]]
        reference = np.where(mask, ref[win], np.nan)
        shown = [(n, outputs[n][win]) for n in names]
        lr = lowres[:, r // scale:(r + side) // scale, c // scale:(c + side) // scale]
        page.heading(f"{which}: tile at row {r}, column {c} ({main} RMSE {err[i]:.4g})", 3)
        page.figure(png([Panel(f"{input_label} x1/{scale} (nearest)", lr, upscale=scale),
                         *[Panel(n, o) for n, o in shown], Panel("reference", reference)]),
                    "the first three bands as RGB (or band 1), one display stretch (from the reference)")
        page.figure(png([Panel("reference", reference), *difference_panels(shown, reference)]),
                    "absolute differences to the reference (band mean, one colour scale; blank: not scored)")


# ----------------------------------------------------------------------------- guided sharpening (Wald)


class WaldKeeper:
    """``wald_evaluate``'s ``keep`` hook: every model's prediction, the reference and the degraded input."""

    def __init__(self) -> None:
        self.preds: dict[str, np.ndarray] = {}
        self.ref: np.ndarray | None = None
        self.lowres: np.ndarray | None = None

    def __call__(self, label: str, pred: np.ndarray, ref: np.ndarray, lowres: np.ndarray) -> None:
        self.preds[label] = pred.astype(np.float32)
        self.ref, self.lowres = ref.astype(np.float32), lowres.astype(np.float32)


def wald_report(report: dict[str, Any], kept: WaldKeeper, out: str | os.PathLike[str], zoom: int = 96) -> Path:
    """The HTML report of a ``satsr evaluate sharpen`` run (``report``: its JSON) whose ``wald_evaluate``
    ``keep`` hook was ``kept``: the table, then the worst, median and best ``zoom``-px tiles by the main
    method's RMSE."""
    ratio = int(report["ratio"])
    page = HtmlReport(f"Guided sharpening, Wald protocol, ratio {ratio}: {Path(str(report.get('lowres', ''))).name}",
                      data=report)
    page.paragraph("Guide and low-res bands are degraded by the ratio, sharpened, and compared with the original "
                   "low-res bands (RMSE in DN, PSNR, ERGAS, SAM in degrees).")
    methods = report["methods"]
    rows = [[name, Num(q["rmse_mean"], "rmse_mean", 2), Num(q["rmse_gain_vs_bicubic_pct"], "rmse_gain_vs_bicubic_pct",
                                                            1),
             Num(q["psnr_mean"], "psnr_mean", 2), Num(q["ergas"], "ergas", 3), Num(q["sam"], "sam", 3),
             " ".join(f"{v:.1f}" for v in q["rmse"])] for name, q in methods.items()]
    page.heading("Metrics")
    page.table(["method", "RMSE mean (DN)", "gain vs bicubic (%)", "PSNR mean", "ERGAS", "SAM (deg)",
                "RMSE per band"], rows, "metrics", row_keys=list(methods))
    assert kept.ref is not None and kept.lowres is not None
    tile_sections(page, kept.lowres, kept.preds, kept.ref, ratio, zoom, input_label="degraded input")
    return page.write(out)


# ----------------------------------------------------------------------------- a real finer reference


class RealKeeper:
    """``evaluate_real``'s ``keep_outputs`` hook: the LR window, the aligned reference, the scored pixels
    and every model's output."""

    def __init__(self) -> None:
        self.lr: np.ndarray | None = None
        self.ref: np.ndarray | None = None
        self.valid: np.ndarray | None = None
        self.outputs: dict[str, np.ndarray] = {}

    def __call__(self, lr: np.ndarray, ref: np.ndarray, valid: np.ndarray, outputs: dict[str, np.ndarray]) -> None:
        self.lr, self.ref, self.valid = lr.astype(np.float32), ref.astype(np.float32), valid.copy()
        self.outputs = {k: v.astype(np.float32) for k, v in outputs.items()}


REAL_COLUMNS = {"PSNR (dB)": ("psnr", 3), "vs bicubic": ("psnr_vs_bicubic", 3), "SSIM": ("ssim", 4),
                "SAM (deg)": ("sam", 3), "detail": ("detail", 4), "detail vs bic.": ("detail_vs_bicubic", 4),
                "improv.": ("improvement", 3), "omission": ("omission", 3), "halluc.": ("hallucination", 3)}


def real_report(report: Any, kept: RealKeeper, out: str | os.PathLike[str], zoom: int = 96) -> Path:
    """The HTML report of an ``evaluate_real`` run (``report``: its ``RealReport``) whose ``keep_outputs``
    hook was ``kept``: the table, then the worst, median and best tiles by the main model's RMSE."""
    data = report.to_json()
    page = HtmlReport(f"x{report.scale} against a real reference: {Path(report.reference).name}", data=data)
    al = report.alignment
    page.paragraph(f"{Path(report.lr).name} super-resolved by every model and scored against "
                   f"{Path(report.reference).name}, reprojected onto the SR grid, co-registered ({al['mode']}, median "
                   f"shift {al['shift_lr_px']} LR px) and harmonised to the LR ({al['harmonise']}); "
                   f"{report.window['valid_output_pixels']} output pixels scored.")
    columns = [c for c, (k, _) in REAL_COLUMNS.items() if any(k in r for r in data["rows"])]
    rows = [[r["model"], *[Num(r.get(REAL_COLUMNS[c][0]), REAL_COLUMNS[c][0], REAL_COLUMNS[c][1]) for c in columns]]
            for r in data["rows"]]
    page.heading("Metrics")
    page.table(["model", *columns], rows, "metrics", row_keys=[r["model"] for r in data["rows"]])
    assert kept.lr is not None and kept.ref is not None
    tile_sections(page, kept.lr, kept.outputs, kept.ref, report.scale, zoom, valid=kept.valid)
    return page.write(out)


__all__ = ["HtmlReport", "Num", "ProbavKeeper", "RealKeeper", "SisrKeeper", "WaldKeeper", "choose",
           "difference_panels", "probav_report", "real_report", "sisr_report", "tile_sections", "wald_report"]
