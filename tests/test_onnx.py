"""ONNX export and ``--runtime onnx`` (onnxruntime): outputs equal torch's within 1e-4 (model units)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import smooth_image
from satsr.api import upscale
from satsr.cli import main
from satsr.models import registry

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'satsr[onnx]')")


@pytest.mark.parametrize("name,scale", [("edsr", 2), ("espcn", 4), ("edsr-ms", 2)])
def test_onnx_runtime_equals_torch(name: str, scale: int) -> None:
    from satsr.models.onnx import OnnxUpscaler

    model = registry.create(name, scale)
    onnx = OnnxUpscaler(model)
    bands = 4 if model.per_band else 3
    x = (smooth_image(bands, 36, 41, seed=7, lo=0.05, hi=0.9)).astype(np.float32)
    a, b = model(x), onnx(x)
    assert a.shape == b.shape == (bands, 36 * scale, 41 * scale)
    assert np.abs(a - b).max() < 1e-4
    # through the whole pipeline, in data units (value_scale applied outside the graph)
    data = (x * 255).astype(np.float32) if not model.per_band else (x * 10000).astype(np.float32)
    torch_out = upscale(data, scale=scale, model=name)
    onnx_out = upscale(data, scale=scale, model=name, runtime="onnx")
    assert np.abs(torch_out - onnx_out).max() < 1e-4 * model.value_scale


def test_export_command_writes_a_graph_onnxruntime_runs(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "espcn_x4.onnx"
    main(["export", "espcn", "--scale", "4", "--onnx", str(out)])
    assert out.is_file() and "wrote" in capsys.readouterr().out
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = torch.rand(2, 3, 20, 27)  # another batch and size than the export's: the axes are dynamic
    got = session.run(None, {"lr": x.numpy()})[0]
    net = registry.create("espcn", 4).net
    with torch.no_grad():
        ref = net(x).numpy()
    assert got.shape == (2, 3, 80, 108) and np.abs(got - ref).max() < 1e-4
    # no overwrite without --overwrite; classical models have no network to export
    for argv, text in ((["export", "espcn", "-s", "4", "--onnx", str(out)], "exists"),
                       (["export", "bicubic", "-s", "2", "--onnx", str(tmp_path / "b.onnx")], "not a network")):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert exc.value.code == 2 and len(err) == 1 and text in err[0]


def test_onnx_runtime_refuses_what_it_cannot_run() -> None:
    x = np.ones((3, 10, 10), np.float32)
    with pytest.raises(Exception, match="runtime onnx runs neural networks"):
        upscale(x, scale=2, model="bicubic", runtime="onnx")
    with pytest.raises(Exception, match="computes in fp32"):
        upscale(x, scale=2, model="edsr", runtime="onnx", precision="bf16")
