"""``satsr batch``: ``upscale`` over many rasters on Dask, restartable from a manifest.

Every input becomes ``OUT_DIR/<stem>.tif`` through ``satsr.api.upscale`` (the one tiled pipeline and its
atomic writer), one Dask task per input. Dask (``distributed``) does the scheduling: a ``LocalCluster``
of worker processes by default, or an existing cluster given by its address or scheduler file, whose
workers have satsr installed. ``OUT_DIR/satsr-batch.json`` records every output: its input, status
(``pending`` while in flight, ``done``, ``failed`` with the one-line error, ``skipped`` when a rerun
found it complete), model, scale, seconds, a digest of the options and the size and mtime of what was
written. It is rewritten atomically as results arrive, so a killed client loses at most the records in
flight; a rerun skips complete outputs with the same options and input, retries failures and redoes
outputs whose options or input changed.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import sys
import time
import types
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from satsr.errors import InputError, OptionError, OutputError, SatsrError, SatsrWarning

MANIFEST = "satsr-batch.json"
LIST_SUFFIXES = (".txt", ".lst")  # an input with one of these suffixes is a list of paths, one a line
MAP_KINDS = ("uncertainty", "hallucination")
# keyword options of ``api.upscale`` that pass through unchanged (out, overwrite and quiet are batch's own)
UPSCALE_OPTIONS = ("tile", "overlap", "bands", "cog", "device", "weights", "compress", "consistency", "degradation",
                   "resolution", "max_memory", "precision", "runtime", "tile_batch")
COMPLETE = ("done", "skipped")


# ----------------------------------------------------------------------------- inputs and outputs


def expand_inputs(inputs: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files, globs (``**`` allowed), folders (their image files, not recursive) and ``.txt``/``.lst``
    lists of paths or globs (relative to the list's folder, ``#`` comments), in the order given,
    each file once. Anything that names no file is an ``InputError`` before any work starts."""
    from satsr.io.image import IMAGE_SUFFIXES

    out: list[Path] = []

    def add(text: str, where: str, base: Path | None, lists: bool) -> None:
        p = Path(text).expanduser()
        if base is not None and not p.is_absolute():
            p = base / p
        if not p.exists() and any(c in text for c in "*?["):
            hits = sorted(Path(h) for h in glob.glob(str(p), recursive=True) if Path(h).is_file())
            if not hits:
                raise InputError(f"{where}{text}: the pattern matches no file; check the path")
            out.extend(hits)
        elif p.is_dir():
            hits = sorted(q for q in p.iterdir() if q.is_file() and not q.name.startswith(".")
                          and q.suffix.lower() in IMAGE_SUFFIXES)
            if not hits:
                raise InputError(f"{where}{p}: the folder holds no image file ({', '.join(IMAGE_SUFFIXES)})")
            out.extend(hits)
        elif not p.is_file():
            raise InputError(f"{where}{p}: no such file; check the path")
        elif lists and p.suffix.lower() in LIST_SUFFIXES:
            for n, line in enumerate(p.read_text().splitlines(), 1):
                entry = line.strip()
                if entry and not entry.startswith("#"):
                    add(entry, f"{p}, line {n}: ", p.parent, lists=False)
        else:
            out.append(p)

    for item in inputs:
        add(str(item), "", None, lists=True)
    if not out:
        raise InputError("no input given; name files, globs, folders or a .txt list of paths")
    seen: set[Path] = set()
    unique = []
    for p in out:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(key)
    return unique


def output_names(inputs: Sequence[Path], out_dir: Path, maps: Sequence[str] = ()) -> list[dict[str, Any]]:
    """``OUT_DIR/<stem>.tif`` (and ``<stem>_<map>.tif`` per trust map) for every input; two inputs
    writing one file, or an output that is an input, is an ``OutputError`` before anything runs."""
    owner: dict[Path, Path] = {}
    inputs_set = set(inputs)
    jobs = []
    for src in inputs:
        out = out_dir / f"{src.stem}.tif"
        files = {"output": out, **{k: out_dir / f"{src.stem}_{k}.tif" for k in maps}}
        for path in files.values():
            if path in inputs_set:
                raise OutputError(f"{path}: would overwrite the input {path.name}; choose another OUT_DIR")
            if path in owner:
                raise OutputError(f"{path}: both {owner[path]} and {src} would be written here (same name); "
                                  "rename one, or run them into different OUT_DIRs")
            owner[path] = src
        jobs.append({"input": str(src), "output": str(out), "maps": {k: str(files[k]) for k in maps}})
    return jobs


def options_digest(model: str, scale: int | str | None, options: dict[str, Any], maps: Sequence[str]) -> str:
    """A short sha256 of everything that changes an output (a weights file by its content)."""
    from satsr.models.registry import sha256_of

    norm = {"model": model, "scale": scale, "maps": sorted(maps)}
    for key, value in sorted(options.items()):
        if key == "weights" and value is not None:
            value = sha256_of(Path(value))
        elif key == "bands" and value is not None:
            value = [int(b) for b in value]
        elif key == "degradation" and value is None:
            value = "auto"
        norm[key] = value
    return hashlib.sha256(json.dumps(norm, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- manifest


def _stat(path: str | Path) -> list[int] | None:
    """``[size, mtime_ns]`` of a file, None when it is missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def read_manifest(out_dir: Path) -> dict[str, dict[str, Any]]:
    """The manifest's records keyed by output path (empty when there is none yet)."""
    path = out_dir / MANIFEST
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        return {r["output"]: r for r in data["records"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a satsr batch manifest ({exc}); move it away to start afresh") from exc


def write_manifest(out_dir: Path, records: dict[str, dict[str, Any]]) -> None:
    """Rewrite the manifest atomically (temp file + rename): a reader never sees half of it."""
    from satsr import __version__
    from satsr.io.files import atomic_path

    body = {"satsr": __version__, "records": sorted(records.values(), key=lambda r: r["output"])}
    with atomic_path(out_dir / MANIFEST) as tmp:
        tmp.write_text(json.dumps(body, indent=1) + "\n")


def is_complete(record: dict[str, Any] | None, job: dict[str, Any]) -> bool:
    """True when ``record`` shows ``job`` done with the same options, from the same unchanged input, and
    every file it wrote is still there with the size and mtime it had."""
    if not record or record.get("status") not in COMPLETE:
        return False
    if record.get("options") != job["options"] or record.get("input") != job["input"]:
        return False
    if record.get("input_stat") != _stat(job["input"]):
        return False
    files = record.get("files") or {}
    wanted = [job["output"], *job["maps"].values()]
    return all(p in files and files[p] == _stat(p) for p in wanted)


# ----------------------------------------------------------------------------- the task


def _torch_threads(threads: int | dict[str, int] | None) -> int:
    """Torch threads for this task: ``threads`` when a number, else this host's cores shared out over
    the worker threads on the host (``threads``: host -> worker threads there), at least one."""
    if isinstance(threads, int):
        return max(1, threads)
    here = 1
    try:
        from distributed import get_worker

        worker = get_worker()
        here = (threads or {}).get(_host(worker.address), worker.state.nthreads)
    except (ImportError, ValueError):  # not on a Dask worker
        pass
    return max(1, _cores() // max(1, here))


def _cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _host(address: str) -> str:
    """The host part of a Dask address (``tcp://10.0.0.5:40123`` -> ``10.0.0.5``)."""
    from urllib.parse import urlparse

    return urlparse(address).hostname or address


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def run_one(job: dict[str, Any], model: str, scale: int | str | None, options: dict[str, Any],
            threads: int | dict[str, int] | None = None) -> dict[str, Any]:
    """Upscale one input (a Dask task): the record of what happened. A user-facing error is this
    input's ``failed`` record with its one line; so is any other exception, so one bad input never
    stops the others."""
    import torch

    from satsr.api import upscale

    torch.set_num_threads(_torch_threads(threads))
    t0 = time.perf_counter()
    record = {**job, "model": model, "scale": scale, "error": None}
    # satsr's warnings (e.g. an input outside the model's validity) belong in this input's record, not in a
    # worker's log; warning filters are per process, so this assumes one task at a time per worker process
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SatsrWarning)
        try:
            upscale(job["input"], model=model, out=job["output"], overwrite=True, quiet=True,
                    **({"scale": scale} if scale is not None else {}), **options, **job["maps"])
        except SatsrError as exc:
            record.update(status="failed", error=_one_line(str(exc)))
        except Exception as exc:  # an unexpected failure is still this input's alone
            record.update(status="failed", error=_one_line(f"{job['input']}: {type(exc).__name__}: {exc}"))
        else:
            record.update(status="done", files={p: _stat(p) for p in (job["output"], *job["maps"].values())})
    record["warnings"] = [_one_line(str(w.message)) for w in caught if issubclass(w.category, SatsrWarning)]
    for w in caught:  # anything else is shown as Python would have
        if not issubclass(w.category, SatsrWarning):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    record["seconds"] = round(time.perf_counter() - t0, 3)
    return record


# ----------------------------------------------------------------------------- the driver


def _connect(client: Any, scheduler: str | os.PathLike[str] | None, workers: int | None,
             n_jobs: int) -> tuple[Any, list[Any], int | None]:
    """(client, things to close, torch threads per task or None to share cores per host)."""
    from distributed import Client

    if client is not None:
        return client, [], None
    if scheduler is not None:
        text = str(scheduler)
        try:
            if "://" in text:
                c = Client(text, timeout="20s")
            elif Path(text).is_file():
                c = Client(scheduler_file=text, timeout="20s")
            else:
                raise OptionError(f"--scheduler {text}: give a scheduler address (tcp://HOST:PORT) or an "
                                  "existing scheduler file")
        except (OSError, TimeoutError) as exc:
            raise OptionError(f"--scheduler {text}: cannot reach the Dask scheduler ({_one_line(str(exc))}); "
                              "check the address and that `dask scheduler` runs") from exc
        return c, [c], None
    import logging

    from distributed import LocalCluster
    from distributed.deploy.utils import nprocesses_nthreads

    cores = _cores()
    if workers is not None and workers < 1:
        raise OptionError(f"--workers must be 1 or more, got {workers}")
    n = workers or max(1, min(nprocesses_nthreads(cores)[0], n_jobs))
    # one task per worker at a time; torch's threads share the cores out (workers x threads <= cores)
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=logging.ERROR)
    c = Client(cluster)
    return c, [c, cluster], max(1, cores // n)


def _dashboard(client: Any, local: bool) -> str | None:
    """The Dask dashboard's address when the scheduler serves one (a local one only shows pages with bokeh)."""
    import importlib.util

    if local and importlib.util.find_spec("bokeh") is None:
        return None
    try:
        if "dashboard" in client.scheduler_info(n_workers=0).get("services", {}):
            return str(client.dashboard_link)
    except Exception:  # an old scheduler without services info: no link, nothing else lost
        return None
    return None


def _host_threads(client: Any) -> dict[str, int]:
    """Host -> Dask worker threads on it, so each task's torch threads share that host's cores."""
    hosts: dict[str, int] = {}
    for addr, w in client.scheduler_info(n_workers=-1).get("workers", {}).items():
        hosts[_host(addr)] = hosts.get(_host(addr), 0) + int(w.get("nthreads", 1))
    return hosts


def batch(
    inputs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    model: str = "bicubic",
    scale: int | float | str = 4,
    client: Any = None,
    *,
    scheduler: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    threads: int | None = None,
    overwrite: bool = False,
    uncertainty: bool = False,
    hallucination: bool = False,
    quiet: bool = True,
    **upscale_options: Any,
) -> list[dict[str, Any]]:
    """Upscale every input into ``out_dir`` on Dask; returns this run's manifest records, in input order.

    ``inputs``: files, globs, folders or ``.txt`` lists of paths. ``client``: a ``distributed.Client`` to
    run on (left open); else ``scheduler`` (``tcp://HOST:PORT`` or a scheduler file), else a
    ``LocalCluster`` of ``workers`` processes (default: Dask's choice for this machine's cores).
    ``threads``: torch threads per task (default: the host's cores over its worker threads).
    ``uncertainty`` / ``hallucination`` write ``<stem>_<map>.tif`` beside each output. Other keyword
    options are ``satsr.api.upscale``'s (tile, overlap, bands, cog, device, weights, compress,
    consistency, degradation, max_memory, precision, runtime, tile_batch; resolution, which sets each
    input's scale from its pixel size). An existing
    output the manifest does not know is refused unless ``overwrite``. Statuses: ``done``, ``failed``
    (``error`` holds the line), ``skipped``.
    """
    from satsr.api import _check_tiling
    from satsr.io.raster import COMPRESSIONS
    from satsr.models import registry
    from satsr.ops.spans import parse_scale

    unknown = sorted(set(upscale_options) - set(UPSCALE_OPTIONS))
    if unknown:
        raise OptionError(f"batch does not take {', '.join(unknown)}; upscale options are {', '.join(UPSCALE_OPTIONS)}")
    if not isinstance(model, str):
        raise OptionError("batch builds the model on each worker: give a registry name (see `satsr models`)")
    options = dict(upscale_options)
    if options.get("resolution") is None:  # an int, or a fraction as text ("7/3"): what the manifest records
        parsed = parse_scale(scale)
        scale = parsed if isinstance(parsed, int) else str(parsed)
        options.pop("resolution", None)
    else:
        scale = None
    _check_tiling(options.get("tile", "auto"), options.get("overlap", 32))
    if str(options.get("compress", "deflate")).lower() not in COMPRESSIONS:
        raise OptionError(f"--compress {options['compress']!r}: choose one of {', '.join(COMPRESSIONS)}")
    if options.get("weights") is not None:
        registry.read_card(options["weights"])  # the file and its card exist (their match is checked below)
        options["weights"] = str(Path(options["weights"]).resolve())

    sources = expand_inputs([inputs] if isinstance(inputs, str | os.PathLike) else inputs)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: is a file; OUT_DIR must be a folder (it is created when missing)")
    out = out.resolve()
    maps = [k for k, on in zip(MAP_KINDS, (uncertainty, hallucination), strict=True) if on]
    digest = options_digest(model, scale, options, maps)
    jobs = output_names(sources, out, maps)
    records = read_manifest(out)
    owned = {p for r in records.values() for p in (r["output"], *(r.get("maps") or {}).values())}

    todo, results = [], {}
    for job in jobs:
        job.update(options=digest, input_stat=_stat(job["input"]))
        if is_complete(records.get(job["output"]), job):
            records[job["output"]] = results[job["output"]] = {**records[job["output"]], "status": "skipped"}
            continue
        for path in (job["output"], *job["maps"].values()):
            if not overwrite and path not in owned and Path(path).exists():
                raise OutputError(f"{path}: exists and is not from an earlier batch into {out}; pass --overwrite "
                                  "to replace it or choose another OUT_DIR")
        todo.append(job)
    if todo and scale is not None:  # the model, scale and weights checked once here (on the CPU)
        registry.resolve(model, parse_scale(scale), kind="sisr", weights=options.get("weights"))
    for job in todo:  # known before any work starts, so a killed run's outputs stay this batch's to redo
        records[job["output"]] = {**job, "status": "pending", "model": model, "scale": scale}
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out, records)
    if todo:
        for rec in _run(todo, model, scale, options, client, scheduler, workers, threads, quiet, records, out):
            results[rec["output"]] = rec
    return [results[j["output"]] for j in jobs]


def _run(todo: list[dict[str, Any]], model: str, scale: int | str | None, options: dict[str, Any], client: Any,
         scheduler: str | os.PathLike[str] | None, workers: int | None, threads: int | None, quiet: bool,
         records: dict[str, dict[str, Any]], out: Path) -> Iterable[dict[str, Any]]:
    """Submit one task per job and yield the records as they arrive, keeping the manifest current."""
    from distributed import as_completed

    from satsr.tiling import progress_bar

    c, closing, local_threads = _connect(client, scheduler, workers, len(todo))
    try:
        link = _dashboard(c, local=local_threads is not None)
        if link and not quiet:
            print(f"Dask dashboard: {link}", file=sys.stderr, flush=True)
        per_task: int | dict[str, int] = threads or local_threads or _host_threads(c)
        futures = {c.submit(run_one, job, model, scale, options, per_task, pure=False): job for job in todo}
        label = f"x{scale}" if scale is not None else f"{options['resolution']:g} m"
        advance, close = progress_bar(len(todo), quiet, f"batch {model} {label}")
        try:
            for fut in as_completed(futures):
                job = futures[fut]
                try:
                    rec = fut.result()
                except Exception as exc:  # the task never ran to the end (a worker died, a broken worker env)
                    rec = {**job, "model": model, "scale": scale, "status": "failed", "seconds": None,
                           "error": _one_line(f"{job['input']}: {type(exc).__name__}: {exc}")}
                records[rec["output"]] = rec
                write_manifest(out, records)
                for text in rec.get("warnings") or []:
                    warnings.warn(SatsrWarning(text), stacklevel=1)
                advance()
                yield rec
        finally:
            close()
    finally:
        for thing in closing:
            thing.close()


def summary(records: Sequence[dict[str, Any]], seconds: float, out_dir: str | os.PathLike[str]) -> str:
    """One line: how many inputs were done, failed and skipped, the time, and where the manifest is."""
    count = {s: sum(r["status"] == s for r in records) for s in ("done", "failed", "skipped")}
    return (f"batch: {count['done']} done, {count['failed']} failed, {count['skipped']} skipped of {len(records)} "
            f"in {seconds:.1f} s; manifest {Path(out_dir) / MANIFEST}")


class _CallableModule(types.ModuleType):
    """``satsr.batch`` names both this module and its function: importing the module makes it an attribute of
    the package, which would hide the function, so the module calls the function."""

    def __call__(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        return batch(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["MANIFEST", "batch", "expand_inputs", "read_manifest", "run_one", "summary"]
