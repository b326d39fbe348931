"""``satsr batch``: many files on a real Dask cluster, bit-identical to ``satsr upscale``, restartable from its
manifest after a failure, an option change or a SIGKILL of the client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

import satsr
from helpers import SHARED_DATA, smooth_image, write_geotiff
from satsr.batch import MANIFEST, expand_inputs, output_names
from satsr.cli import main
from satsr.errors import InputError, OutputError

BIN = Path(sys.executable).parent
RGB = SHARED_DATA / "misc" / "RGB.byte.tif"


def _crops(folder: Path, n: int, side: int, corrupt: int | None = None) -> list[Path]:
    """``n`` real crops of the Landsat 7 RGB scene (inside its valid area); crop ``corrupt`` truncated."""
    if not RGB.is_file():
        pytest.skip(f"real data not available at {RGB}")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with rasterio.open(RGB) as ds:
        for i in range(n):
            win = Window(180 + 70 * i, 220 + 40 * i, side, side)
            data = ds.read(window=win)
            paths.append(write_geotiff(folder / f"crop{i}.tif", data, crs=ds.crs, transform=ds.window_transform(win),
                                       nodata=ds.nodata))
    if corrupt is not None:
        raw = paths[corrupt].read_bytes()
        paths[corrupt].write_bytes(raw[: len(raw) // 2])
    return paths


def _records(out: Path) -> dict[str, dict]:
    return {Path(r["input"]).name: r for r in json.loads((out / MANIFEST).read_text())["records"]}


def _mtimes(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted(out.glob("*.tif"))}


def _satsr(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "satsr"), *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[str]:
    """A real scheduler and two one-thread workers on localhost, random ports; yields the address."""
    from distributed import Client

    sched_file = tmp_path / "scheduler.json"
    common = ["--no-dashboard"]
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--scheduler-file", str(sched_file), *common],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.time() + 60
        while not sched_file.exists() and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        for _ in range(2):
            procs.append(subprocess.Popen(
                [str(BIN / "dask"), "worker", address, "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1",
                 "--local-directory", str(tmp_path / "dask-worker"), *common],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=90)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


def test_batch_on_a_dask_cluster_equals_serial_upscale_and_reruns_do_no_work(tmp_path: Path,
                                                                             dask_cluster: str) -> None:
    inputs = _crops(tmp_path / "in", 6, 64, corrupt=3)
    out = tmp_path / "out"
    args = [str(tmp_path / "in"), str(out), "--scheduler", dask_cluster, "--model", "edsr", "--scale", "2", "-q"]
    first = _satsr("batch", *args)
    assert first.returncode == 1, first.stderr
    assert "5 done, 1 failed, 0 skipped of 6" in first.stdout

    records = _records(out)
    bad = records["crop3.tif"]
    assert bad["status"] == "failed" and "\n" not in bad["error"]
    assert bad["error"].startswith(str(inputs[3])) and "corrupt" in bad["error"]
    assert not (out / "crop3.tif").exists()
    serial = tmp_path / "serial"
    serial.mkdir()
    for src in inputs[:3] + inputs[4:]:
        main(["upscale", str(src), str(serial / src.name), "--model", "edsr", "--scale", "2", "-q"])  # the CLI
        rec = records[src.name]
        assert rec["status"] == "done" and rec["model"] == "edsr" and rec["scale"] == 2 and rec["seconds"] > 0
        assert (out / src.name).read_bytes() == (serial / src.name).read_bytes(), src.name
    assert len({r["options"] for r in records.values()}) == 1

    before = _mtimes(out)
    second = _satsr("batch", *args)
    assert second.returncode == 1
    assert "0 done, 1 failed, 5 skipped of 6" in second.stdout
    assert _mtimes(out) == before  # the five complete outputs were not touched
    assert [r["status"] for r in _records(out).values()].count("skipped") == 5


def test_a_killed_batch_resumes_without_redoing_or_half_written_outputs(tmp_path: Path) -> None:
    _crops(tmp_path / "in", 4, 48)
    out = tmp_path / "out"
    # a neural model in small tiles: about a second per input, so the client dies with work in flight
    args = ["batch", str(tmp_path / "in"), str(out), "--model", "edsr", "--scale", "2", "--tile", "32",
            "--overlap", "4", "--workers", "1", "--threads", "1", "-q"]
    client = subprocess.Popen([str(BIN / "satsr"), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    done: dict[str, dict] = {}
    while time.time() < deadline and client.poll() is None:
        if (out / MANIFEST).exists():
            done = {k: r for k, r in _records(out).items() if r["status"] == "done"}
            if done:
                break
        time.sleep(0.05)
    os.kill(client.pid, signal.SIGKILL)
    client.wait()
    assert done and len(done) < 4, "the batch should be killed part-way through"
    time.sleep(1.0)  # the worker process exits with its parent

    finished = {name: (out / name).stat().st_mtime_ns for name in _records(out)
                if _records(out)[name]["status"] == "done"}
    for p in out.iterdir():  # nothing visible is half-written: every visible raster reads in full
        if p.name.startswith("."):
            assert p.name.startswith(".satsr-tmp-"), p.name
        elif p.suffix == ".tif":
            with rasterio.open(p) as ds:
                assert ds.read().shape == (3, 96, 96)
    rerun = _satsr(*args)
    assert rerun.returncode == 0, rerun.stderr
    records = _records(out)
    assert {r["status"] for n, r in records.items() if n in finished} == {"skipped"}
    assert all(r["status"] in ("done", "skipped") for r in records.values()) and len(records) == 4
    assert {n: (out / n).stat().st_mtime_ns for n in finished} == finished
    assert not [p for p in out.iterdir() if not p.name.startswith(".") and p.suffix not in (".tif", ".json")]


def test_inputs_are_files_globs_folders_and_lists_and_name_clashes_are_refused(tmp_path: Path) -> None:
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
    a = write_geotiff(tmp_path / "a" / "x.tif", smooth_image(1, 8, 8), dtype="uint16")
    b = write_geotiff(tmp_path / "b" / "y.tif", smooth_image(1, 8, 8), dtype="uint16")
    c = write_geotiff(tmp_path / "b" / "x.tif", smooth_image(1, 8, 8), dtype="uint16")
    (tmp_path / "b" / ".hidden.tif").write_bytes(b"")
    (tmp_path / "b" / "notes.md").write_text("not an image")
    listing = tmp_path / "list.txt"
    listing.write_text("# scenes\nb/y.tif\n\n  a/*.tif  \n")
    assert expand_inputs([listing, str(tmp_path / "b"), b]) == [b, a, c]  # in order given, each once
    assert expand_inputs([str(tmp_path / "*" / "y.tif")]) == [b]
    with pytest.raises(OutputError, match="same name"):
        output_names([a, c], tmp_path / "out")
    with pytest.raises(OutputError, match="would overwrite the input"):
        output_names([b], tmp_path / "b", maps=[])
    with pytest.raises(InputError, match="matches no file"):
        expand_inputs([str(tmp_path / "nothing*.tif")])
    listing.write_text("b/missing.tif\n")
    with pytest.raises(InputError, match=r"list.txt, line 1: .*missing.tif: no such file"):
        expand_inputs([listing])
    with pytest.raises(SystemExit) as exc:  # the CLI: one line, exit code 2, before any work
        main(["batch", str(tmp_path / "a" / "x.tif"), str(tmp_path / "b" / "x.tif"), str(tmp_path / "out")])
    assert exc.value.code == 2


def test_python_api_redoes_changed_options_and_keeps_foreign_files(tmp_path: Path) -> None:
    from distributed import Client

    import satsr.batch as module

    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(2):
        write_geotiff(folder / f"s{i}.tif", smooth_image(2, 20, 24, seed=i), dtype="uint16")
    out = tmp_path / "out"
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0") as client:
        first = satsr.batch(folder, out, model="bicubic", scale=2, client=client)
        assert module(folder, out, model="bicubic", scale=2, client=client)[0]["status"] == "skipped"
        assert [r["status"] for r in first] == ["done", "done"]
        with rasterio.open(out / "s0.tif") as ds:
            expected = satsr.upscale(folder / "s0.tif", scale=2, model="bicubic")
            np.testing.assert_array_equal(ds.read(), expected)
        before = _mtimes(out)
        again = satsr.batch(folder, out, model="bicubic", scale=2, client=client, compress="zstd")
        assert [r["status"] for r in again] == ["done", "done"]
        assert again[0]["options"] != first[0]["options"]
        assert all(_mtimes(out)[k] != before[k] for k in before)
        write_geotiff(folder / "s2.tif", smooth_image(2, 20, 24, seed=2), dtype="uint16")
        (out / "s2.tif").write_bytes(b"someone else's file")
        with pytest.raises(OutputError, match="s2.tif: exists and is not from an earlier batch"):
            satsr.batch(folder, out, model="bicubic", scale=2, client=client, compress="zstd")
        last = satsr.batch(folder, out, model="bicubic", scale=2, client=client, compress="zstd", overwrite=True)
        assert [r["status"] for r in last] == ["skipped", "skipped", "done"]
