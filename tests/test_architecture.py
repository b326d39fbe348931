"""The house rules of ARCHITECTURE.md, checked on the source: which room may import which, no cycle
between rooms, files opened only in io/, models built on their leaf helpers only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "satsr"

# module (or package) -> room; the longest matching prefix wins
ROOMS = {
    "satsr.errors": "leaf", "satsr.arrays": "leaf", "satsr.masking": "leaf",
    "satsr.ops": "ops", "satsr.io": "io", "satsr.metrics": "metrics", "satsr.models": "models",
    "satsr.tiling": "tiling", "satsr.trust": "trust", "satsr.data": "data", "satsr.train": "train",
    "satsr.evaluate": "evaluate", "satsr.api": "api", "satsr.fusion": "api", "satsr.sharpen": "api",
    "satsr.batch": "api", "satsr": "api", "satsr.viz": "viz", "satsr.cli": "cli",
}
# room -> the rooms it may import (besides itself); ARCHITECTURE.md has the same table
ALLOWED = {
    "leaf": set(),
    "ops": {"leaf"},
    "io": {"leaf"},
    "metrics": {"leaf"},
    "models": {"leaf", "ops"},
    "tiling": {"leaf", "ops", "models"},
    "trust": {"leaf", "ops", "models", "tiling", "metrics"},
    "data": {"leaf", "ops", "io"},
    "train": {"leaf", "ops", "io", "metrics", "models", "data"},
    "api": {"leaf", "ops", "io", "metrics", "models", "tiling", "trust"},
    "evaluate": {"leaf", "ops", "io", "metrics", "models", "tiling", "trust", "api"},
    "viz": {"leaf", "ops", "io", "metrics", "models", "trust", "evaluate", "api"},
    "cli": {"leaf", "ops", "io", "metrics", "models", "tiling", "trust", "data", "train", "evaluate", "api", "viz"},
}
# the leaf helpers a model file may import (besides torch, numpy and other model files)
MODEL_HELPERS = ("satsr.arrays", "satsr.errors", "satsr.ops")


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def room_of(module: str) -> str:
    best = max((p for p in ROOMS if module == p or module.startswith(p + ".")), key=len)
    return ROOMS[best]


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) of every import in the file, function-level ones included."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.append((node.lineno, mod))
            # `from satsr import metrics` imports the module satsr.metrics
            found += [(node.lineno, f"{mod}.{a.name}") for a in node.names if (SRC.parent / mod.replace(".", "/")
                                                                               / f"{a.name}.py").exists()]
    return found


FILES = sorted(SRC.rglob("*.py"))


def test_the_walk_sees_the_whole_package() -> None:
    names = {module_name(p) for p in FILES}
    assert {"satsr.api", "satsr.tiling", "satsr.models.registry", "satsr.io.raster", "satsr.cli.options"} <= names
    assert all(room_of(n) in ALLOWED for n in names)
    # the checker has teeth: a made-up arrow from io to models is refused
    assert "models" not in ALLOWED[room_of("satsr.io.stack")]


def test_rooms_import_only_what_they_may() -> None:
    bad = []
    for path in FILES:
        me = module_name(path)
        for line, target in imports(path):
            if not target.startswith("satsr"):
                continue
            a, b = room_of(me), room_of(target)
            if a != b and b not in ALLOWED[a]:
                bad.append(f"{path.relative_to(SRC)}:{line} {me} ({a}) -> {target} ({b})")
    assert not bad, "forbidden imports:\n" + "\n".join(bad)


def test_no_cycle_between_rooms() -> None:
    edges: dict[str, set[str]] = {r: set() for r in ALLOWED}
    for path in FILES:
        a = room_of(module_name(path))
        for _, target in imports(path):
            if target.startswith("satsr") and room_of(target) != a:
                edges[a].add(room_of(target))
    # the allowed table itself is acyclic, and so is the graph the code draws
    for graph in (ALLOWED, edges):
        state: dict[str, int] = {}

        def visit(node: str, stack: tuple[str, ...], graph: dict[str, set[str]] = graph,
                  state: dict[str, int] = state) -> None:
            if state.get(node) == 1:
                pytest.fail(f"cycle between rooms: {' -> '.join((*stack, node))}")
            if state.get(node) == 2:
                return
            state[node] = 1
            for nxt in graph[node]:
                visit(nxt, (*stack, node))
            state[node] = 2

        for room in graph:
            visit(room, ())


def test_files_are_opened_only_in_io() -> None:
    bad = [f"{p.relative_to(SRC)}:{line} imports {t}" for p in FILES if room_of(module_name(p)) != "io"
           for line, t in imports(p) if t.split(".")[0] in ("rasterio", "PIL")]
    assert not bad, "\n".join(bad)


def test_models_import_only_their_leaf_helpers() -> None:
    bad = []
    for path in (SRC / "models").rglob("*.py"):
        for line, target in imports(path):
            if target.startswith("satsr") and not target.startswith("satsr.models") \
                    and not target.startswith(MODEL_HELPERS):
                bad.append(f"models/{path.name}:{line} imports {target}")
    assert not bad, "\n".join(bad)


def test_an_upscale_leaves_heavy_optional_imports_alone(tmp_path: Path) -> None:
    """``satsr upscale`` builds one model, and the registry imports every family to find it: no family, nor
    the API on the plain path (no trust maps), may import scipy.ndimage, scipy.signal or scipy.stats or the
    trust room at module level (skimage.filters and skimage.transform pull in the two last: together about
    1.7 s of every command's start-up here; they are imported inside the functions that use them)."""
    import subprocess
    import sys

    import numpy as np

    from helpers import write_geotiff

    src = tmp_path / "in.tif"
    write_geotiff(src, np.random.default_rng(0).integers(0, 255, (3, 24, 24)).astype(np.uint8))
    heavy = ("scipy.ndimage", "scipy.signal", "scipy.stats", "skimage.filters", "skimage.transform", "satsr.trust")
    code = (f"import sys; from satsr.api import upscale; upscale({str(src)!r}, scale=2, model='edsr', "
            f"out={str(tmp_path / 'out.tif')!r}, quiet=True); print(sorted(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
