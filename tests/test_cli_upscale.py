"""`satsr upscale`, `satsr models`, `satsr info`: results, every user error, end-to-end runs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from helpers import run_cli, smooth_image

SATSR = Path(sys.executable).parent / "satsr"


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".satsr-tmp-"))


@pytest.fixture
def small_tif(make_geotiff) -> Path:  # type: ignore[no-untyped-def]
    data = np.round(smooth_image(3, 40, 50, seed=7)).astype(np.uint16)
    return make_geotiff("small.tif", data, nodata=0)


def test_upscale_writes_georeferenced_output(small_tif: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "x3.tif"
    args = ["upscale", small_tif, out, "--scale", "3", "--model", "lanczos", "--tile", "16", "--overlap", "4",
            "--bands", "3,1", "--quiet", "--cog"]
    code, stdout, err = run_cli(args, capsys)
    assert code == 0 and err == ""
    assert f"wrote {out}" in stdout
    with rasterio.open(small_tif) as src, rasterio.open(out) as ds:
        assert ds.count == 2 and ds.shape == (120, 150) and ds.dtypes[0] == "uint16"
        assert ds.transform == src.transform @ Affine.scale(1 / 3) and ds.crs == src.crs
        assert ds.nodata == 0


# ----------------------------------------------------------------------------- errors


def _corrupt_middle(make_geotiff, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """First and last tiles decode, a middle one does not: fails during the run, not at open."""
    data = (np.random.default_rng(0).random((1, 96, 96)) * 60000).astype(np.uint16)
    good = make_geotiff("good.tif", data, tiled=True, blockxsize=32, blockysize=32, compress="deflate")
    with rasterio.open(good) as ds:
        offset = int(ds.get_tag_item("BLOCK_OFFSET_1_1", "TIFF", bidx=1))
    raw = bytearray(good.read_bytes())
    raw[offset:offset + 200] = bytes(range(200))
    bad = tmp_path / "corrupt.tif"
    bad.write_bytes(bytes(raw))
    good.unlink()
    return bad


ErrorCase = Callable[[Path, Path], tuple[list[str], str]]


def _missing(tif: Path, tmp: Path) -> tuple[list[str], str]:
    return ["upscale", tmp / "nope.tif", tmp / "o.tif"], "nope.tif"


def _text(tif: Path, tmp: Path) -> tuple[list[str], str]:
    (tmp / "readme.txt").write_text("not an image\n")
    return ["upscale", tmp / "readme.txt", tmp / "o.tif"], "readme.txt"


def _truncated(tif: Path, tmp: Path) -> tuple[list[str], str]:
    raw = tif.read_bytes()
    (tmp / "cut.tif").write_bytes(raw[: len(raw) * 2 // 3])
    return ["upscale", tmp / "cut.tif", tmp / "o.tif"], "cut.tif"


def _scale(tif: Path, tmp: Path) -> tuple[list[str], str]:
    return ["upscale", tif, tmp / "o.tif", "--scale", "9"], "small.tif"


def _band(tif: Path, tmp: Path) -> tuple[list[str], str]:
    return ["upscale", tif, tmp / "o.tif", "--bands", "1,4"], "small.tif"


def _exists(tif: Path, tmp: Path) -> tuple[list[str], str]:
    (tmp / "o.tif").write_bytes(b"keep me")
    return ["upscale", tif, tmp / "o.tif"], "o.tif"


def _no_dir(tif: Path, tmp: Path) -> tuple[list[str], str]:
    return ["upscale", tif, tmp / "missing" / "o.tif"], "o.tif"


def _unwritable(tif: Path, tmp: Path) -> tuple[list[str], str]:
    if os.geteuid() == 0:  # permission bits do not stop root; /proc refuses new files
        return ["upscale", tif, "/proc/satsr-o.tif"], "satsr-o.tif"
    ro = tmp / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    return ["upscale", tif, ro / "o.tif"], "o.tif"


def _model(tif: Path, tmp: Path) -> tuple[list[str], str]:
    return ["upscale", tif, tmp / "o.tif", "--model", "magic"], "small.tif"


@pytest.mark.parametrize("case", [_missing, _text, _truncated, _scale, _band, _exists, _no_dir,
                                  _unwritable, _model], ids=lambda f: f.__name__.strip("_"))
def test_user_errors_exit_2_with_one_line(case: ErrorCase, small_tif: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    args, named = case(small_tif, tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = run_cli([*args, "--quiet"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("satsr: error: ") and named in lines[0], err
    assert "Traceback" not in err and out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no output, no temp file
    if case is _exists:
        assert (tmp_path / "o.tif").read_bytes() == b"keep me"


def test_corrupt_block_found_mid_run_leaves_nothing(make_geotiff, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = _corrupt_middle(make_geotiff, tmp_path)
    code, _, err = run_cli(["upscale", bad, tmp_path / "o.tif", "--scale", "2", "--tile", "32",
                            "--overlap", "0", "--quiet"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "corrupt.tif: cannot read pixels" in err
    assert not (tmp_path / "o.tif").exists() and leftovers(tmp_path) == []


def test_interrupt_leaves_nothing(small_tif: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import satsr
    from satsr.models.classical import ResizeUpscaler

    calls = []

    def interrupt(self: ResizeUpscaler, x: np.ndarray) -> np.ndarray:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return np.repeat(np.repeat(x, self.scale, -2), self.scale, -1)

    monkeypatch.setattr(ResizeUpscaler, "__call__", interrupt)
    with pytest.raises(KeyboardInterrupt):
        satsr.upscale(small_tif, scale=2, out=tmp_path / "o.tif", tile=16, overlap=0)
    assert len(calls) == 3
    assert not (tmp_path / "o.tif").exists() and leftovers(tmp_path) == []


# ----------------------------------------------------------------------------- models, info


def test_models_table(capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run_cli(["models"], capsys)
    assert code == 0
    for name in ("nearest", "bilinear", "bicubic", "lanczos"):
        assert name in out
    assert "classical" in out and "2-8" in out


def test_models_without_weights_are_not_listed_as_runnable(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A neural family with no shipped weights cannot run as installed: it is listed apart (issue 15)."""
    from satsr.cli import upscale as cli_upscale
    from satsr.models import registry

    monkeypatch.setenv("COLUMNS", "250")
    shipped = dict(cli_upscale._shipped_scales())
    shipped.pop("edsr")  # as if edsr had no weights: it must move to the second table
    monkeypatch.setattr(cli_upscale, "_shipped_scales", lambda: shipped)
    code, out, _ = run_cli(["models"], capsys)
    assert code == 0
    runnable, _, untrained = out.partition("architectures without shipped weights")
    rows = {name: line for line in runnable.splitlines() for name in [line.strip("│ ").split(" ")[0]]}
    rows_untrained = {line.strip("│ ").split(" ")[0] for line in untrained.splitlines()}
    for spec in registry.list_specs():
        if spec.neural and spec.name not in shipped:
            assert spec.name in rows_untrained and spec.name not in rows, spec.name
        else:
            assert spec.name in rows and spec.name not in rows_untrained, spec.name
    assert "edsr" in rows_untrained and "bicubic" in rows and "edsr-ms" in rows


def test_info(small_tif: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run_cli(["info", small_tif, "--stats"], capsys)
    assert code == 0
    assert "50 x 40 px, 3 bands" in out and "uint16" in out and "EPSG:32633" in out
    assert "10 x 10" in out and "nodata  0" in out
    code, _, err = run_cli(["info", small_tif.parent / "none.tif"], capsys)
    assert code == 2 and "none.tif: no such file" in err


# ----------------------------------------------------------------------------- end to end


def test_end_to_end_subprocess(sample_tif: Path, tmp_path: Path) -> None:
    out = tmp_path / "demo_x2.tif"
    res = subprocess.run([SATSR, "upscale", sample_tif, out, "--scale", "2", "--quiet"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert f"wrote {out}" in res.stdout
    with rasterio.open(sample_tif) as src, rasterio.open(out) as ds:
        assert ds.shape == (512, 512) and ds.count == 3 and ds.crs == src.crs
        assert ds.descriptions == ("red", "green", "blue")
        a, b = src.read(), ds.read()
        assert np.array_equal(ds.read() == 0, np.repeat(np.repeat(a == 0, 2, 1), 2, 2))
        assert abs(b[b > 0].mean() - a[a > 0].mean()) < 0.01 * a[a > 0].mean()
    bad = subprocess.run([SATSR, "upscale", tmp_path / "none.tif", tmp_path / "x.tif"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("satsr: error: ")


def test_landsat8_done_when(shared_data: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    src_path = shared_data / "landsat" / "l8" / "LC08_L1TP_224078_20200518_20200518_01_RT.TIF"
    out = tmp_path / "out.tif"
    args = ["upscale", src_path, out, "--scale", "2", "--model", "bicubic", "--quiet"]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    with rasterio.open(src_path) as src, rasterio.open(out) as ds:
        assert ds.crs == src.crs and ds.dtypes == src.dtypes and ds.count == src.count
        assert ds.nodata == src.nodata
        assert ds.transform == src.transform @ Affine.scale(1 / 2)
        assert (ds.height, ds.width) == (2 * src.height, 2 * src.width)
        m_in = np.mean([src.read(b).mean(dtype=np.float64) for b in range(1, src.count + 1)])
        m_out = np.mean([ds.read(b).mean(dtype=np.float64) for b in range(1, ds.count + 1)])
    assert abs(m_out - m_in) / m_in < 0.01
