"""Hostile input and faults: every user error is one `satsr: error:` line, exit 2, no traceback and
nothing left behind; a full disk, SIGTERM, odd pixel types, permissions and concurrency do not corrupt."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

import satsr
from helpers import run_cli, smooth_image, write_geotiff, write_imgset
from satsr.errors import InputError, ModelError, OptionError, SatsrError
from satsr.models.registry import WEIGHTS_DIR

SATSR = Path(sys.executable).parent / "satsr"
W = {name: WEIGHTS_DIR / f"{name}.safetensors" for name in ("espcn_x4", "edsr_x2", "edsr-ms_x2", "piunet_x3")}


def assert_one_line(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert err.startswith("satsr: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, err


def snapshot(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


@pytest.fixture
def rgb(tmp_path: Path) -> Path:
    return write_geotiff(tmp_path / "rgb.tif", np.round(smooth_image(3, 48, 40, seed=1, lo=1, hi=250)).astype(np.uint8))


# ----------------------------------------------------------------------------- one line, nothing left


def test_upscale_user_errors(rgb: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.tif"
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    noise = tmp_path / "noise.tif"
    noise.write_bytes(np.random.default_rng(0).integers(0, 255, 5000, dtype=np.uint8).tobytes())
    truncated = tmp_path / "truncated.tif"
    truncated.write_bytes(rgb.read_bytes()[:600])
    wide = write_geotiff(tmp_path / "int64.tif", np.arange(48, dtype=np.int64).reshape(1, 6, 8))
    exists = tmp_path / "exists.tif"
    exists.write_bytes(b"keep")
    cases: list[tuple[list[object], tuple[str, ...]]] = [
        ([tmp_path / "missing.tif", out], ("missing.tif", "no such file")),
        ([empty, out], ("empty.tif",)),
        ([noise, out], ("noise.tif",)),
        ([truncated, out], ("truncated.tif",)),
        ([tmp_path, out], ("is a directory",)),
        ([rgb, out, "-s", "1.5", "-m", "edsr"], ("integer scales only",)),
        ([rgb, out, "-s", "abc"], ("--scale",)),
        ([rgb, out, "-s", "1"], ("larger than 1",)),
        ([rgb, out, "--bands", "5"], ("band 5 is out of range",)),
        ([rgb, out, "--bands", "1,,2"], ("--bands",)),
        ([rgb, out, "--bands", "1,1"], ("given twice",)),
        ([rgb, out, "--bands", "0"], ("1-based",)),
        ([rgb, out, "--tile", "0"], ("--tile",)),
        ([rgb, out, "--tile", "16", "--overlap", "16"], ("--overlap",)),
        ([rgb, out, "-m", "nope"], ("unknown model 'nope'",)),
        ([rgb, out, "-m", "piunet"], ("multi-image",)),
        ([rgb, exists, "-s", "2"], ("exists", "--overwrite")),
        ([rgb, rgb, "-s", "2", "--overwrite"], ("is the input file",)),
        ([rgb, tmp_path / "nodir" / "o.tif"], ("does not exist",)),
        ([wide, out, "-s", "2"], ("int64", "not supported")),
        # weights that do not fit the request: refused before any architecture is built
        ([rgb, out, "-m", "edsr", "--weights", W["espcn_x4"]], ("for model 'espcn'", "not 'edsr'")),
        ([rgb, out, "-m", "swinir", "-s", "2", "--weights", W["edsr_x2"]], ("for model 'edsr'",)),
        ([rgb, out, "-m", "edsr", "-s", "3", "--weights", W["piunet_x3"]], ("for model 'piunet'",)),
        ([rgb, out, "-m", "edsr", "-s", "2", "--weights", W["edsr-ms_x2"]], ("'edsr-ms'", "--model edsr-ms")),
        ([rgb, out, "-m", "edsr", "-s", "2", "--weights", W["espcn_x4"]], ("for model 'espcn'",)),
        ([rgb, out, "-m", "bicubic", "--weights", W["espcn_x4"]], ("--weights applies to neural models",)),
        ([rgb, out, "-m", "edsr", "--weights", tmp_path / "none.safetensors"], ("not found",)),
        ([rgb, out, "-m", "edsr", "-s", "2", "--device", "tpu"], ("--device 'tpu'",)),
        ([rgb, out, "-m", "edsr", "-s", "2", "--device", "cuda"], ("--device cuda",)),
        ([rgb, out, "--consistency", "--degradation", "box"], ("degradation 'box'",)),
    ]
    before = snapshot(tmp_path)
    for args, needles in cases:
        code, _, err = run_cli(["upscale", *args, "-q"], capsys)
        assert_one_line(code, err, *needles)
        assert snapshot(tmp_path) == before, args
    assert exists.read_bytes() == b"keep"


def test_other_commands_user_errors(rgb: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(2)
    odd = write_imgset(tmp_path / "odd" / "imgset0001", rng.integers(1000, 2000, (3, 12, 12)), np.ones((3, 12, 12)))
    write_imgset(tmp_path / "tmpset", rng.integers(1000, 2000, (1, 14, 12)))
    (tmp_path / "tmpset" / "LR000.png").rename(odd / "LR001.png")  # one frame of another size
    cloudy = write_imgset(tmp_path / "cloudy" / "imgset0002", rng.integers(1000, 2000, (3, 12, 12)),
                          np.zeros((3, 12, 12)))
    one = write_geotiff(tmp_path / "one.tif", np.full((3, 1, 1), 9, np.uint8))
    nodata = write_geotiff(tmp_path / "nd.tif", np.zeros((3, 40, 40), np.uint16), nodata=0)
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("name: x\nmodel: edsr\nscale: 2\nnope: 1\ndata: {train: [a]}\nexport: {id: x}\n")
    cases: list[tuple[list[object], tuple[str, ...]]] = [
        (["fuse"], ("Missing argument",)),
        (["fuse", odd, tmp_path / "o.png"], ("LR001.png", "one size")),
        (["fuse", cloudy, tmp_path / "o.png"], ("no frame has a clear pixel",)),
        (["fuse", rgb, rgb, tmp_path / "o.tif", "-m", "edsr"], ("single-image",)),
        (["fuse", rgb, rgb, tmp_path / "o.tif", "--set", "nope=1"], ("does not take",)),
        (["compare", one, "-o", tmp_path / "c.png"], ("one.tif", "too small")),
        (["evaluate", "opensr", "--hr", one, "-s", "4"], ("one.tif", "too small")),
        (["evaluate", "opensr", "--hr", nodata, "-s", "2"], ("nodata",)),
        (["evaluate", "sisr", "--hr-dir", one, "-s", "2"], ("too small",)),
        (["evaluate", "sisr", "--hr-dir", tmp_path / "missing"], ("no such folder",)),
        (["evaluate", "probav", tmp_path / "odd"], ("no PROBA-V scene with HR",)),
        (["sharpen", "-g", rgb, "-l", tmp_path / "missing.tif", tmp_path / "s.tif"], ("no such file",)),
        (["train", tmp_path / "missing.yaml"], ("not found",)),
        (["train", cfg], ("invalid training config",)),
        (["upscale"], ("Missing argument",)),
        (["nosuchcommand"], ("No such command",)),
    ]
    before = snapshot(tmp_path)
    for args, needles in cases:
        code, _, err = run_cli(args, capsys)
        assert_one_line(code, err, *needles)
        assert snapshot(tmp_path) == before, args


def test_python_api_raises_the_same_messages(rgb: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (ModelError, dict(model="edsr", weights=W["espcn_x4"])),
        (OptionError, dict(model="bicubic", weights=W["espcn_x4"])),
        (OptionError, dict(model="edsr", scale=2, device="tpu")),
        (InputError, dict(path_or_array=tmp_path / "missing.tif")),
    ]
    for kind, kwargs in cases:
        kwargs = {"path_or_array": rgb, "scale": 4, "out": tmp_path / "o.tif", **kwargs}
        with pytest.raises(kind) as info:
            satsr.upscale(**kwargs)
        assert isinstance(info.value, SatsrError)
        args = ["upscale", kwargs["path_or_array"], kwargs["out"], "-s", kwargs["scale"], "-m",
                kwargs.get("model", "bicubic"), "-q"]
        if "weights" in kwargs:
            args += ["--weights", kwargs["weights"]]
        if "device" in kwargs:
            args += ["--device", kwargs["device"]]
        code, _, err = run_cli(args, capsys)
        assert code == 2 and err == f"satsr: error: {info.value}\n"


# ----------------------------------------------------------------------------- pixel types


@pytest.mark.parametrize("dtype, values", [
    ("uint32", [0, 1, 16_777_217, 2_147_483_648, 4_294_967_295]),
    ("int32", [-2_147_483_648, -1, 16_777_217, 2_147_483_647, 5]),
    ("float64", [1e-300, 1e300, np.pi, -1e-12, 16_777_217.5]),
])
def test_32bit_and_float64_pixels_round_trip_exactly_through_nearest(dtype: str, values: list[float],
                                                                       tmp_path: Path) -> None:
    data = np.resize(np.array(values, dtype=dtype), (2, 6, 7))
    path = write_geotiff(tmp_path / f"{dtype}.tif", data)
    out = satsr.upscale(path, scale=2, model="nearest", out=tmp_path / "o.tif", tile=4, overlap=1)
    with rasterio.open(out) as ds:
        assert ds.dtypes[0] == dtype
        assert np.array_equal(ds.read(), np.repeat(np.repeat(data, 2, 1), 2, 2))
    arr = satsr.upscale(data, scale=3, model="nearest")
    assert arr.dtype == data.dtype and np.array_equal(arr, np.repeat(np.repeat(data, 3, 1), 3, 2))
    # bicubic on float64 stays finite and in float64 (no overflow to inf through float32)
    assert np.isfinite(satsr.upscale(data, scale=2, model="bicubic")).all()


def test_64bit_integers_are_refused_with_one_line() -> None:
    with pytest.raises(OptionError, match="int64"):
        satsr.upscale(np.zeros((1, 4, 4), np.int64), scale=2)


# ----------------------------------------------------------------------------- training inputs


def _tiny_sisr_config(tmp_path: Path, **extra: object) -> Path:
    import yaml

    folder = tmp_path / "imgs"
    folder.mkdir(exist_ok=True)
    for i in range(3):
        write_geotiff(folder / f"im{i}.tif", np.round(smooth_image(3, 40, 40, seed=i, lo=0, hi=255)).astype(np.uint8))
    cfg = {"name": "tiny", "model": "espcn", "scale": 2, "bands": 3, "data": {"train": ["imgs/*.tif"], "holdout": 3},
           "patch": 8, "batch": 2, "steps": 2, "precision": "32", "channels_last": False, "val_every": 2,
           "ckpt_every": 2, "log_every": 1, "out_dir": str(tmp_path / "runs"), "export": {"id": "espcn_x2"}, **extra}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_train_refuses_a_missing_init_file_and_a_broken_checkpoint(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["train", _tiny_sisr_config(tmp_path, init_from="nowhere.safetensors")], capsys)
    assert_one_line(code, err, "init_from nowhere.safetensors not found")
    cfg = _tiny_sisr_config(tmp_path)
    ckpt = tmp_path / "runs" / "tiny" / "ckpt" / "last.ckpt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"this is not a checkpoint")
    code, _, err = run_cli(["train", cfg, "--no-progress"], capsys)
    assert_one_line(code, err, "last.ckpt", "not a satsr training checkpoint", "--fresh")


class _Touch:
    """Unpickling this creates a file: what a malicious checkpoint would do."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.path),))  # type: ignore[return-value]


def test_a_malicious_checkpoint_is_refused_even_when_the_environment_asks_for_pickle(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _tiny_sisr_config(tmp_path)
    ckpt = tmp_path / "runs" / "tiny" / "ckpt" / "last.ckpt"
    ckpt.parent.mkdir(parents=True)
    pwned = tmp_path / "pwned"
    torch.save({"state_dict": {}, "payload": _Touch(pwned)}, ckpt)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    code, _, err = run_cli(["train", cfg, "--no-progress"], capsys)
    assert_one_line(code, err, "last.ckpt", "unsafe to load")
    assert not pwned.exists()
    # the same file loaded without the safeguard really would have run the payload (the test has teeth)
    torch.load(ckpt, weights_only=False)
    assert pwned.exists()


def test_no_source_file_turns_pickle_loading_on() -> None:
    src = Path(satsr.__file__).parent
    assert not [p for p in src.rglob("*.py") if "weights_only=False" in p.read_text()]


# ----------------------------------------------------------------------------- faults: full disk, signals


def test_a_full_disk_fails_cleanly_for_every_output_kind(tmp_path: Path) -> None:
    src = write_geotiff(tmp_path / "in.tif",
                        np.random.default_rng(3).integers(0, 255, (3, 160, 160), dtype=np.uint8))
    imgset = write_imgset(tmp_path / "pv" / "imgset0001", np.random.default_rng(4).integers(0, 16000, (4, 64, 64)))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    jobs = {
        "geotiff": ["upscale", str(src), "o1.tif", "-s", "4", "-q"],
        "cog": ["upscale", str(src), "o2.tif", "-s", "4", "-q", "--cog"],
        "sidecar": ["upscale", str(src), "o3.tif", "-s", "2", "-q", "--uncertainty", "o3_u.tif"],
        "png": ["fuse", str(imgset), "o4.png"],
    }
    limits = {"geotiff": 100_000, "cog": 100_000, "sidecar": 120_000, "png": 20_000}
    procs = {}
    import resource

    for name, args in jobs.items():
        def limit_files(n: int = limits[name]) -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))

        procs[name] = subprocess.Popen([str(SATSR), *args], cwd=out_dir, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, preexec_fn=limit_files)
    for name, p in procs.items():
        _, err = p.communicate(timeout=180)
        assert p.returncode == 2, (name, err)
        lines = [ln for ln in err.splitlines() if ln.startswith("satsr:")]
        assert len(lines) == 1 and lines[0].startswith("satsr: error: "), (name, err)
        assert "Traceback" not in err and ("disk" in err or "writing failed" in err), (name, err)
    assert sorted(p.name for p in out_dir.iterdir()) == [], "a failed write left files behind"
    # without the limit the same jobs succeed (the limit, not the job, made them fail)
    ok = subprocess.run([str(SATSR), *jobs["geotiff"]], cwd=out_dir, capture_output=True, text=True, timeout=180)
    assert ok.returncode == 0, ok.stderr


def test_sigterm_mid_run_leaves_nothing_and_stale_temp_files_are_swept(tmp_path: Path) -> None:
    src = write_geotiff(tmp_path / "in.tif", np.round(smooth_image(1, 600, 600, seed=5)).astype(np.uint16))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    # a temp file left by a process that no longer exists (killed with SIGKILL) ...
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    from satsr.io.files import _HOST

    stale = out_dir / f".satsr-tmp-{_HOST}-{int(dead.stdout)}-abc.tif"
    stale.write_bytes(b"half")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    proc = subprocess.Popen([str(SATSR), "upscale", str(src), "o.tif", "-s", "4", "-m", "lanczos", "--tile", "64",
                             "--overlap", "8", "-q"], cwd=out_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not [p for p in out_dir.iterdir() if p.name.startswith(".satsr-tmp-")
                                          and p != stale]:
        time.sleep(0.05)
    assert not stale.exists(), "the stale temp file of a dead process was not swept"  # ... is swept by this run
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err and err.strip().startswith("satsr: terminated")
    assert list(out_dir.iterdir()) == []


# ----------------------------------------------------------------------------- permissions, concurrency


def test_outputs_follow_the_umask_and_overwriting_keeps_the_mode(rgb: Path, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        out = satsr.upscale(rgb, scale=2, out=tmp_path / "o.tif")
        assert (out.stat().st_mode & 0o777) == 0o644
        os.chmod(out, 0o640)
        satsr.upscale(rgb, scale=2, out=out, overwrite=True)
        assert (out.stat().st_mode & 0o777) == 0o640
        os.umask(0o077)
        assert (satsr.upscale(rgb, scale=2, out=tmp_path / "p.tif").stat().st_mode & 0o777) == 0o600
    finally:
        os.umask(old)


def test_concurrent_processes_and_threads_give_the_serial_result(tmp_path: Path) -> None:
    src = write_geotiff(tmp_path / "in.tif", np.round(smooth_image(3, 120, 100, seed=8, lo=1, hi=250)).astype(np.uint8))
    serial = satsr.upscale(src, scale=2, model="lanczos", tile=32, overlap=8)
    procs = [subprocess.Popen([str(SATSR), "upscale", str(src), f"o{i}.tif", "-s", "2", "-m", "lanczos", "--tile",
                               "32", "--overlap", "8", "-q"], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
             for i in range(4)]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read() if p.stderr else ""
    for i in range(4):
        with rasterio.open(tmp_path / f"o{i}.tif") as ds:
            assert np.array_equal(ds.read(), serial)
    x = smooth_image(3, 60, 50, seed=9, lo=0, hi=255).astype(np.float32)
    expected = {m: satsr.upscale(x, scale=4, model=m, tile=24, overlap=4) for m in ("bicubic", "espcn")}
    results: dict[tuple[str, int], np.ndarray] = {}

    def work(model: str, k: int) -> None:
        results[(model, k)] = satsr.upscale(x, scale=4, model=model, tile=24, overlap=4)

    threads = [threading.Thread(target=work, args=(m, k)) for m in expected for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    for (model, _), value in results.items():
        assert np.array_equal(value, expected[model]), model
