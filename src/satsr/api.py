"""The Python API: ``upscale``, ``load_model``, ``list_models``.

``upscale`` wires the pieces in one direction: open and check the input, check the output, build
the model, then ``tiling.run_tiled`` from the reader to the writer. Arrays and files go through the
same tiled pipeline, so an array result equals what the file path would write.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from satsr.errors import OptionError, SatsrError, SatsrWarning
from satsr.masking import to_dtype, working_dtype
from satsr.ops.spans import Scale, as_scale, out_index, parse_scale
from satsr.tiling import (
    DEFAULT_MAX_MEMORY,
    ArraySink,
    ArraySource,
    SplitSink,
    TileStats,
    choose_tile,
    fit_on_sample,
    run_tiled,
)

if TYPE_CHECKING:
    from satsr.models.base import SingleImageModel


def list_models(kind: str | None = None) -> list[str]:
    """Names of the registered model families (``kind``: "sisr", "misr", "guided" or all)."""
    from satsr.models import registry

    return [s.name for s in registry.list_specs(kind)]


def load_model(name: str, scale: int, **kwargs: Any) -> Any:
    """Build a model by name (``satsr.models.registry.create``): shipped weights unless told otherwise."""
    from satsr.models import registry

    return registry.create(name, scale, **kwargs)


def _scale_for_resolution(source: str | os.PathLike[str] | np.ndarray, resolution: float) -> Scale:
    """The scale that turns ``source``'s pixel size (metres, projected CRS) into ``resolution`` metres."""
    from satsr.io.raster import inspect

    if isinstance(source, np.ndarray):
        raise OptionError("--resolution needs a georeferenced file (an array has no pixel size); give --scale")
    if resolution <= 0:
        raise OptionError(f"--resolution {resolution}: give the output pixel size in metres, e.g. 12")
    info = inspect(source)
    if info.gsd_m is None:
        raise OptionError(f"{source}: has no pixel size in metres (no projected CRS); give --scale instead")
    gsd = Fraction(str(round(info.gsd_m, 9)))
    s = as_scale(gsd / Fraction(str(resolution)))
    if abs(float(s) - info.gsd_m / resolution) > 1e-6 * info.gsd_m / resolution:
        raise OptionError(f"--resolution {resolution}: {info.gsd_m:g} m / {resolution:g} m is not a ratio with a "
                          f"denominator up to 64; choose a resolution such as {info.gsd_m / float(s):g} m")
    return s


RUNTIMES = ("torch", "onnx")


def _check_tiling(tile: int | None | str, overlap: int) -> None:
    """``OptionError`` for a bad ``--tile``/``--overlap`` pair (also checked by ``satsr batch`` up front)."""
    _Tiling(tile, overlap, DEFAULT_MAX_MEMORY, None).check()


@dataclass(frozen=True)
class _Tiling:
    """How ``upscale`` tiles: ``tile`` px (None: whole image; "auto": from ``max_memory`` bytes), the
    overlap, and tiles per model call (``batch``: None is 1 on a CPU, 4 on a GPU)."""

    tile: int | None | str
    overlap: int
    max_memory: float
    batch: int | None

    def check(self) -> None:
        tile, overlap = self.tile, self.overlap
        if isinstance(tile, str) and tile != "auto":
            raise OptionError(f"--tile {tile!r}: give a number of pixels (or leave it out: --max-memory decides)")
        if isinstance(tile, int) and tile < 1:
            raise OptionError(f"--tile must be a positive number of pixels, got {tile}")
        if overlap < 0:
            raise OptionError(f"--overlap must be 0 or more pixels, got {overlap}")
        if isinstance(tile, int) and overlap >= tile:
            raise OptionError(f"--overlap ({overlap}) must be smaller than --tile ({tile})")
        if self.max_memory <= 0:
            raise OptionError(f"--max-memory must be positive, got {self.max_memory:g} bytes")
        if self.batch is not None and self.batch < 1:
            raise OptionError(f"--tile-batch must be 1 or more tiles, got {self.batch}")

    def resolve(self, source: Any, upscaler: SingleImageModel, block_rows: int) -> tuple[int | None, int]:
        """The tile size and batch for ``source``: the explicit ``tile`` wins, else ``choose_tile`` within
        ``max_memory`` (and, for a model on a GPU, 80 % of the GPU's free memory)."""
        device = getattr(upscaler, "device", None)
        gpu_free: float | None = None
        if device is not None and getattr(device, "type", str(device)) == "cuda":
            import torch

            gpu_free = 0.8 * torch.cuda.mem_get_info(device)[0]
        batch = self.batch or (4 if gpu_free is not None else 1)
        if self.tile != "auto":
            return self.tile, batch  # type: ignore[return-value]
        tile = choose_tile(source.height, source.width, source.count, upscaler, max_memory=self.max_memory,
                           overlap=self.overlap, block_rows=block_rows, batch=batch,
                           itemsize=np.dtype(source.work_dtype).itemsize, device_memory=gpu_free)
        return tile, batch


def _build_upscaler(model: str | Any, scale: Scale, count: int, device: str,
                    weights: str | os.PathLike[str] | None, where: str,
                    options: dict[str, Any] | None = None, precision: str = "auto",
                    runtime: str = "torch") -> SingleImageModel:
    """Create the model (``options``: its own, e.g. a zero-shot model's ``budget_s``; ``precision`` and
    ``runtime`` for networks) or check a ready one, and check it fits the data's band count."""
    from satsr.models import registry
    from satsr.models.base import PRECISIONS, TorchUpscaler

    try:
        if runtime not in RUNTIMES:
            raise OptionError(f"--runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
        if precision not in PRECISIONS:
            raise OptionError(f"--precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
        extra = dict(options or {})
        if precision != "auto" and isinstance(model, str) and registry.get_spec(
                registry.resolve_name(model, "sisr")).neural:
            extra["precision"] = precision
        upscaler = registry.resolve(model, scale, kind="sisr", bands=count, weights=weights, device=device,
                                    **extra)
        if upscaler.bands is not None and count not in upscaler.bands:
            raise OptionError(f"{upscaler.name} takes {', '.join(map(str, upscaler.bands))} band(s), the input "
                              f"has {count}; choose bands with --bands")
        if runtime == "onnx":
            if not isinstance(upscaler, TorchUpscaler):
                raise OptionError(f"--runtime onnx runs neural networks; {upscaler.describe()} is not one")
            from satsr.models.onnx import OnnxUpscaler

            upscaler = OnnxUpscaler(upscaler)
    except SatsrError as exc:
        raise type(exc)(f"{where}: {exc}") from exc
    return upscaler


def upscale(
    path_or_array: str | os.PathLike[str] | np.ndarray,
    scale: int | float | str | Fraction = 4,
    model: str | Any = "bicubic",
    out: str | os.PathLike[str] | None = None,
    tile: int | None | str = "auto",
    overlap: int = 32,
    bands: Sequence[int] | None = None,
    overwrite: bool = False,
    cog: bool = False,
    quiet: bool = True,
    device: str = "cpu",
    weights: str | os.PathLike[str] | None = None,
    nodata: float | None = None,
    compress: str = "deflate",
    consistency: bool = False,
    degradation: str | None = None,
    uncertainty: str | os.PathLike[str] | None = None,
    hallucination: str | os.PathLike[str] | None = None,
    resolution: float | None = None,
    model_options: dict[str, Any] | None = None,
    max_memory: float | None = None,
    precision: str = "auto",
    runtime: str = "torch",
    tile_batch: int | None = None,
) -> np.ndarray | Path:
    """Super-resolve an image by ``scale`` with ``model`` (a registry name or an ``Upscaler``).

    * array ``(C, H, W)`` or ``(H, W)`` -> array of the same rank and dtype (integers rounded and
      clipped; ``nodata`` and NaN pixels stay nodata/NaN);
    * path with ``out`` -> writes a tiled GeoTIFF (COG with ``cog=True``) atomically, returns ``out``;
    * path without ``out`` -> the upscaled array in the file's dtype.

    ``scale`` may be fractional (2.5, "7/3") for models that support it (the classical kernels, ``liif``):
    the output is ``floor(in * scale)`` px with the same origin and the pixel size divided by the scale.
    ``resolution`` (metres) instead derives the scale from a projected input's pixel size.

    ``bands`` are 1-based band numbers. ``tile`` (input px) is by default derived from ``max_memory``
    (bytes of resident memory for the whole run, default 1.5 GB: the fewest tiles that fit, each model's
    ``memory_bytes`` telling its cost; ``satsr.tiling.choose_tile``); an explicit ``tile`` wins, and
    ``tile=None`` processes the image in one piece. ``tile_batch`` tiles go to the model per call (default 1
    on a CPU, 4 on a GPU). Networks run in ``precision`` ("auto": fp32 on a CPU, bf16/fp16 autocast on a GPU;
    "bf16" opt-in on a CPU, see BENCHMARKS.md) and, with ``runtime="onnx"``, through onnxruntime.
    ``model_options`` go to the model's constructor (``satsr upscale --set KEY=VALUE``), e.g.
    ``{"budget_s": 60}`` for ``zssr``. A model that learns from its input (``zssr``, ``dip``, ``rfsr`` with
    ``self``) is fitted once on a sample of the scene before tiling (``satsr.tiling.fit_on_sample``).

    Trust options (``satsr.trust``): ``consistency`` projects every tile's output so that degrading
    it (``degradation``: "bicubic", "wald", or None/"auto" for the model card's) gives back the
    input on valid pixels; ``uncertainty`` / ``hallucination`` (paths, with ``out`` only) write
    float32 GeoTIFFs on the output's grid: the per-pixel spread of the 8 flipped/rotated
    predictions (data units) and the share of local detail the LR cannot support (0..1).
    """
    tiling = _Tiling(tile, overlap, DEFAULT_MAX_MEMORY if max_memory is None else float(max_memory), tile_batch)
    tiling.check()
    if resolution is not None:
        scale = _scale_for_resolution(path_or_array, resolution)
    scale = parse_scale(scale)
    maps = {"uncertainty": uncertainty, "hallucination": hallucination}
    wanted = {k: Path(v) for k, v in maps.items() if v is not None}
    if wanted and (isinstance(path_or_array, np.ndarray) or out is None):
        raise OptionError(
            f"--{next(iter(wanted))} writes a GeoTIFF beside the output; give an output file too "
            "(for arrays use satsr.trust.trust_upscale)"
        )
    if isinstance(path_or_array, np.ndarray):
        return _upscale_array(path_or_array, scale, model, tiling, bands, quiet, device, weights,
                              nodata, consistency, degradation, model_options, precision, runtime)
    from satsr.io.raster import RasterReader, RasterWriter, check_output, gdal_env, map_profile, output_profile
    from satsr.models.base import validity_warnings

    src = Path(path_or_array)
    with RasterReader(src, bands=bands) as reader:
        if out is not None:
            out_path = check_output(out, overwrite)
            if out_path.exists() and out_path.resolve() == src.resolve():
                from satsr.errors import OutputError

                raise OutputError(f"{out_path}: is the input file; write the output to another path")
            _check_map_paths(wanted, src, out_path, overwrite)
        upscaler = _build_upscaler(model, scale, reader.count, device, weights, str(src), model_options, precision,
                                   runtime)
        sample = reader.overview() if upscaler.card is not None else None  # only cards say where weights hold
        for text in validity_warnings(upscaler.card, reader.info.gsd_m, sample):
            warnings.warn(SatsrWarning(f"{src}: {text}; results may be poor (see `satsr models` and the card)"),
                          stacklevel=2)
        label = f"{upscaler.name} x{float(scale):g}"
        base = upscaler
        upscaler = _with_trust(upscaler, reader.info.dtype, consistency, degradation,
                               "uncertainty" in wanted, "hallucination" in wanted)
        _fit_scene(reader, upscaler, quiet, label, str(src))
        if out is None:
            sink = ArraySink(reader.count, out_index(reader.height, scale), out_index(reader.width, scale),
                             reader.work_dtype)
            tile_px, per_call = tiling.resolve(reader, upscaler, 1)
            run_tiled(reader, upscaler, sink, tile=tile_px, overlap=overlap, quiet=quiet, label=label, batch=per_call)
            return to_dtype(sink.values, reader.info.dtype, list(reader.nodatavals))
        profile = output_profile(reader.info, scale, reader.bands, cog=cog, compress=compress)
        tile_px, per_call = tiling.resolve(reader, upscaler, profile.block_rows)
        # a TrustUpscaler when _with_trust wrapped it (no isinstance: satsr.trust is imported only then)
        deg = upscaler.deg.describe() if upscaler is not base else None  # type: ignore[attr-defined]
        with gdal_env(), contextlib.ExitStack() as stack:
            writers = [stack.enter_context(RasterWriter(out, profile, overwrite=overwrite))]
            for kind, path in wanted.items():
                mprof = map_profile(reader.info, scale, reader.bands, kind, MAP_DESCRIPTIONS[kind], cog=cog,
                                    compress=compress, degradation=deg)
                writers.append(stack.enter_context(RasterWriter(path, mprof, overwrite=overwrite)))
            sink = writers[0] if len(writers) == 1 else SplitSink(writers, reader.count)
            run_tiled(reader, upscaler, sink, tile=tile_px, overlap=overlap, quiet=quiet, label=label, batch=per_call)
    return Path(out)


def _with_trust(upscaler: SingleImageModel, dtype: str | np.dtype, consistency: bool, degradation: str | None,
                uncertainty: bool, hallucination: bool) -> SingleImageModel:
    """Wrap ``upscaler`` in a ``TrustUpscaler`` when any trust option is on (else return it as is)."""
    if not (consistency or uncertainty or hallucination):
        if degradation not in (None, "auto"):
            raise OptionError("--degradation only matters with --consistency or --hallucination")
        return upscaler
    if not isinstance(upscaler.scale, int):
        raise OptionError(f"--consistency, --uncertainty and --hallucination need an integer scale, not "
                          f"{float(upscaler.scale):g} (their degradation operators are defined per whole pixel)")
    from satsr.trust.maps import TrustOptions, TrustUpscaler, default_floor

    dt = np.dtype(dtype)
    bounds = (float(np.iinfo(dt).min), float(np.iinfo(dt).max)) if np.issubdtype(dt, np.integer) else None
    options = TrustOptions(consistency=consistency, uncertainty=uncertainty, hallucination=hallucination,
                           degradation=degradation, bounds=bounds, floor=default_floor(dt, upscaler.value_scale))
    return TrustUpscaler(upscaler, options)


def _check_map_paths(wanted: dict[str, Path], src: Path, out: Path, overwrite: bool) -> None:
    """Each trust map needs its own writable path, distinct from the input, output and each other."""
    from satsr.errors import OutputError
    from satsr.io.raster import check_output

    seen = {src.resolve(): "the input file", out.resolve(): "the output file"}
    for kind, path in wanted.items():
        check_output(path, overwrite)
        key = path.resolve()
        if key in seen:
            raise OutputError(f"{path}: --{kind} would overwrite {seen[key]}; give it its own file name")
        seen[key] = f"the {kind} map"


MAP_DESCRIPTIONS = {
    "uncertainty": "std of the 8 flipped/rotated predictions, data units",
    "hallucination": "share of local detail the LR cannot support, 0..1",
}


def _fit_scene(source: Any, upscaler: SingleImageModel, quiet: bool, label: str, where: str) -> None:
    """The model's scene-level ``fit`` on a sample of ``source`` (a no-op for models that learn nothing);
    a user error names the input."""
    try:
        fit_on_sample(source, upscaler, quiet=quiet, label=f"{label}: learning from the scene")
    except SatsrError as exc:
        raise type(exc)(f"{where}: {exc}") from exc


def _upscale_array(array: np.ndarray, scale: Scale, model: str | Any, tiling: _Tiling,
                   bands: Sequence[int] | None, quiet: bool, device: str,
                   weights: str | os.PathLike[str] | None, nodata: float | None,
                   consistency: bool = False, degradation: str | None = None,
                   model_options: dict[str, Any] | None = None, precision: str = "auto",
                   runtime: str = "torch") -> np.ndarray:
    squeeze = array.ndim == 2
    data = array[None] if squeeze else array
    if data.ndim != 3:
        raise OptionError(f"expected an array of shape (bands, h, w) or (h, w), got {array.shape}")
    try:
        working_dtype(data.dtype)
    except ValueError as exc:
        raise OptionError(f"array: {exc}") from exc
    if bands is not None:
        bad = [b for b in bands if not 1 <= int(b) <= data.shape[0]]
        if bad:
            raise OptionError(f"band {bad[0]} is out of range; the array has {data.shape[0]} bands")
        data = data[[int(b) - 1 for b in bands]]
    upscaler = _build_upscaler(model, scale, data.shape[0], device, weights, "array", model_options, precision,
                               runtime)
    if min(out_index(data.shape[1], scale), out_index(data.shape[2], scale)) < 1:
        raise OptionError(f"array of {data.shape[2]}x{data.shape[1]} px is too small for x{float(scale):g}")
    upscaler = _with_trust(upscaler, data.dtype, consistency, degradation, False, False)
    source = ArraySource(data, nodata)
    _fit_scene(source, upscaler, quiet, f"{upscaler.name} x{float(scale):g}", "array")
    sink = ArraySink(data.shape[0], out_index(data.shape[1], scale), out_index(data.shape[2], scale),
                     source.work_dtype)
    tile_px, per_call = tiling.resolve(source, upscaler, 1)
    run_tiled(source, upscaler, sink, tile=tile_px, overlap=tiling.overlap, quiet=quiet, batch=per_call)
    result = to_dtype(sink.values, data.dtype, nodata)
    return result[0] if squeeze else result


def export_onnx(model: str | Any, scale: int, out: str | os.PathLike[str], *, bands: int | None = None,
                weights: str | os.PathLike[str] | None = None, overwrite: bool = False) -> Path:
    """Write ``model``'s network (a registry name with its shipped or given weights, or a ready
    ``TorchUpscaler``) as an ONNX graph at ``out``, atomically (``satsr export --onnx``): float32, dynamic
    batch/height/width, inputs in model units (``value_scale`` applied outside, as the card says)."""
    from satsr.io.files import atomic_path
    from satsr.io.raster import check_output
    from satsr.models import registry
    from satsr.models.base import TorchUpscaler
    from satsr.models.onnx import export_bytes

    path = check_output(out, overwrite)
    upscaler = registry.resolve(model, parse_scale(scale), kind="sisr", bands=bands, weights=weights)
    if not isinstance(upscaler, TorchUpscaler):
        raise OptionError(f"{upscaler.describe()} is not a network; only neural single-image models export to ONNX")
    data = export_bytes(upscaler)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


__all__ = ["TileStats", "export_onnx", "list_models", "load_model", "upscale"]
