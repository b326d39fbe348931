"""``--report out.html`` on ``satsr evaluate sisr|probav|sharpen``: one self-contained HTML file whose
metric table carries exactly the numbers of the ``--json`` output, with inline images only."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fake_datasets import fake_probav
from helpers import smooth_image, write_geotiff
from satsr.cli import main


class Page(HTMLParser):
    """The parts of a report a reader relies on: table cells with their data attributes, images, scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[dict[str, Any]]] = {}
        self.images: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.links = 0
        self._table: str | None = None
        self._row: dict[str, Any] | None = None
        self._cell: dict[str, str | None] | None = None
        self._script: dict[str, str | None] | None = None
        self.json_blob = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self._table = a.get("id") or f"table{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = {"row": a.get("data-row"), "cells": []}
        elif tag == "td" and self._row is not None:
            self._cell = {"key": a.get("data-key"), "value": a.get("data-value"), "text": ""}
        elif tag == "img":
            self.images.append(a.get("src") or "")
        elif tag == "link":
            self.links += 1
        elif tag == "script":
            self._script = a
            self.scripts.append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row["cells"].append(self._cell)
            self._cell = None
        elif tag == "tr" and self._table is not None and self._row is not None:
            if self._row["cells"]:
                self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell["text"] = (self._cell["text"] or "") + data
        if self._script is not None and self._script.get("id") == "satsr-data":
            self.json_blob += data


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    main(argv)
    return capsys.readouterr().out


def _parse(path: Path) -> tuple[str, Page]:
    text = path.read_text(encoding="utf-8")
    page = Page()
    page.feed(text)
    return text, page


def _self_contained(text: str, page: Page) -> None:
    assert 'src="http' not in text and "<link" not in text and page.links == 0
    assert not any(s.get("src") for s in page.scripts)  # no external script
    assert "url(" not in text and "@import" not in text  # nor fonts or styles from elsewhere
    assert page.images and all(src.startswith("data:image/png;base64,") for src in page.images)
    for src in page.images:
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def _cells_match(table: list[dict[str, Any]], rows: list[dict[str, Any]], key: str) -> int:
    """Every ``data-key`` cell equals the JSON row's value exactly; returns how many were compared."""
    assert [r["row"] for r in table] == [str(r[key]) for r in rows]
    compared = 0
    for html_row, json_row in zip(table, rows, strict=True):
        for cell in html_row["cells"]:
            if not cell["key"]:
                continue
            value: Any = json_row
            for part in cell["key"].split("."):
                value = value[part]
            assert float(cell["value"]) == value, (cell, value)
            digits = len(cell["text"].split(".")[1]) if "." in cell["text"] else 0
            assert cell["text"] == f"{value:.{digits}f}"
            compared += 1
    return compared


def test_sisr_report_tables_equal_the_json(tmp_path: Path, shared_data: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's command, limited to 3 images to stay fast."""
    out = tmp_path / "r.html"
    data = json.loads(_cli(["evaluate", "sisr", "--hr-dir", str(shared_data / "ucmerced" / "val"), "--scale", "4",
                            "--model", "edsr", "--report", str(out), "--limit", "3", "--json"], capsys))
    assert out.stat().st_size < 15 * 2**20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]  # one file, no temp left behind
    text, page = _parse(out)
    _self_contained(text, page)
    assert _cells_match(page.tables["metrics"], data["rows"], "model") == 2 * 4  # psnr ssim sam cons. per row
    assert json.loads(page.json_blob) == data
    assert len(page.images) == 2 * 3  # worst, median, best: the crops and the difference maps
    assert len(page.tables["per-image"]) == 3


def test_sisr_report_with_trust_maps_on_16_bit_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hr_dir = tmp_path / "hr"
    hr_dir.mkdir()
    for i in range(2):
        write_geotiff(hr_dir / f"s2_{i}.tif", smooth_image(3, 48, 48, seed=i, lo=300, hi=3000).round(), dtype="uint16")
    out = tmp_path / "trust.html"
    data = json.loads(_cli(["evaluate", "sisr", "--hr-dir", str(hr_dir), "-s", "2", "-m", "edsr-ms", "--degradation",
                            "wald", "--consistency", "--report", str(out), "--trust", "--json"], capsys))
    text, page = _parse(out)
    _self_contained(text, page)
    assert [r["model"] for r in data["rows"]] == ["bicubic", "bicubic+consistency", "edsr-ms", "edsr-ms+consistency"]
    _cells_match(page.tables["metrics"], data["rows"], "model")
    captions = text.count("<figcaption>absolute differences to the reference (band mean, one colour scale); trust maps")
    assert captions == 2  # worst and best (of 2 images the median is the best)


def test_probav_report_tables_equal_the_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = fake_probav(tmp_path / "probav", side=16)
    out = tmp_path / "p.html"
    data = json.loads(_cli(["evaluate", "probav", str(root), "-m", "baseline", "--report", str(out), "--json"], capsys))
    text, page = _parse(out)
    _self_contained(text, page)
    assert _cells_match(page.tables["metrics"], data["scenes"], "name") == 6 * 2  # cPSNR and score of 6 scenes
    assert float(page.tables["summary"][0]["cells"][1]["value"]) == data["score"]
    assert len(page.images) == 2 * 3


def test_sharpen_report_tables_equal_the_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from affine import Affine

    guide = write_geotiff(tmp_path / "g.tif", smooth_image(4, 96, 96, seed=1, lo=200, hi=4000).round(),
                          dtype="uint16")
    low = write_geotiff(tmp_path / "l.tif", smooth_image(2, 48, 48, seed=2, lo=200, hi=4000).round(), dtype="uint16",
                        transform=Affine(20.0, 0.0, 500000.0, 0.0, -20.0, 4200000.0))
    out = tmp_path / "w.html"
    data = json.loads(_cli(["evaluate", "sharpen", "-g", str(guide), "-l", str(low), "-m", "hpi", "--report",
                            str(out), "--json"], capsys))
    text, page = _parse(out)
    _self_contained(text, page)
    rows = [{"name": k, **v} for k, v in data["methods"].items()]
    assert _cells_match(page.tables["metrics"], rows, "name") == 2 * 5  # RMSE, gain, PSNR, ERGAS, SAM
    assert np.isclose(rows[1]["rmse_gain_vs_bicubic_pct"], 100 * (1 - rows[1]["rmse_mean"] / rows[0]["rmse_mean"]),
                      atol=0.01)


def test_real_report_tables_equal_the_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from affine import Affine

    from satsr.ops.filters import wald_degrade

    hr = smooth_image(3, 128, 128, seed=5, lo=20, hi=220, noise=0.01)
    lr = np.asarray(wald_degrade(hr, 2), np.float32)
    lr_path = write_geotiff(tmp_path / "lr.tif", lr, dtype="float32", transform=Affine(20.0, 0, 3e5, 0, -20.0, 5e6))
    ref_path = write_geotiff(tmp_path / "ref.tif", hr.astype(np.float32), dtype="float32",
                             transform=Affine(10.0, 0, 3e5, 0, -10.0, 5e6))
    out = tmp_path / "real.html"
    data = json.loads(_cli(["evaluate", "real", "--lr", str(lr_path), "--reference", str(ref_path), "-s", "2",
                            "-m", "lanczos", "--report", str(out), "--json"], capsys))
    text, page = _parse(out)
    _self_contained(text, page)
    assert _cells_match(page.tables["metrics"], data["rows"], "model") == 2 * 9
    assert len(page.images) >= 2 and json.loads(page.json_blob) == data
