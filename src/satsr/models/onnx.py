"""ONNX export of single-image networks and inference through onnxruntime (``satsr export --onnx``,
``satsr upscale --runtime onnx``; the file itself is written by ``satsr.api.export_onnx``).

Optional: ``pip install 'satsr[onnx]'`` brings ``onnx`` and ``onnxruntime``; nothing else in satsr needs
them. The graph takes ``(N, bands, h, w)`` float32 in model units (the card's ``value_scale`` applied
outside, as for torch) with dynamic batch, height and width, and returns ``(N, bands, h*s, w*s)``. It is
traced from the plain whole-map forward (``satsr.models.layers.whole_maps``), so its outputs equal
torch's within float rounding (BENCHMARKS.md, issue 18: within 1e-4 for EDSR and ESPCN).
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
import torch

from satsr.errors import ModelError, OptionError
from satsr.models.base import TorchUpscaler, _nhwc
from satsr.models.layers import whole_maps

OPSET = 17


def _require_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise OptionError("--runtime onnx needs onnxruntime; install it with pip install 'satsr[onnx]'") from exc
    return onnxruntime


def export_bytes(model: TorchUpscaler) -> bytes:
    """The ONNX graph (opset 17) of ``model``'s network, float32, on the CPU."""
    if not isinstance(model, TorchUpscaler):
        raise OptionError(f"{model.describe()} is not a network; only neural single-image models export to ONNX")
    net = model.net
    bands = 1 if model.per_band else (model.bands[0] if model.bands else 3)
    dummy = torch.rand(1, bands, 32, 32, device=model.device)
    buf = io.BytesIO()
    try:
        with torch.no_grad(), whole_maps(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation
            torch.onnx.export(net, (_nhwc(dummy),), buf, input_names=["lr"], output_names=["sr"],
                              dynamic_axes={"lr": {0: "n", 2: "h", 3: "w"}, "sr": {0: "n", 2: "H", 3: "W"}},
                              opset_version=OPSET, dynamo=False)
    except Exception as exc:  # the exporter raises many types for unsupported operators
        raise ModelError(f"{model.describe()}: cannot export to ONNX ({str(exc).splitlines()[0][:200]})") from exc
    return buf.getvalue()


class OnnxUpscaler(TorchUpscaler):
    """A ``TorchUpscaler`` whose network runs in onnxruntime (CPU, float32): the same contract, value
    scaling, per-band application and tiling; ``memory_bytes`` is the whole-map forward's (onnxruntime
    holds whole maps)."""

    def __init__(self, model: TorchUpscaler, threads: int | None = None) -> None:
        ort = _require_onnxruntime()
        if model.device.type != "cpu":
            raise OptionError("--runtime onnx runs on the CPU; drop --device or use --runtime torch")
        if model.precision != "fp32":
            raise OptionError("--runtime onnx computes in fp32; drop --precision or use --runtime torch")
        super().__init__(model.net, name=model.name, scale=model.scale, margin=model.margin,
                         bands=model.bands, card=model.card, device="cpu", per_band=model.per_band,
                         batch_bands=model.batch_bands, precision="fp32")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(export_bytes(model), options, providers=["CPUExecutionProvider"])

    def run_net(self, t: torch.Tensor) -> torch.Tensor:
        out = self.session.run(None, {"lr": np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.float32)})
        return torch.from_numpy(out[0])

    def memory_bytes(self, bands: int, height: int, width: int) -> int:
        with whole_maps():
            return super().memory_bytes(bands, height, width)

    def describe(self) -> str:
        return f"{super().describe()} (onnxruntime)"
