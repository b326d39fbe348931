"""PROBA-V challenge scoring of fusion methods: ``evaluate_probav``.

Fuses every scored PROBA-V scene (those with ``HR.png``) under a folder and reports each scene's
cPSNR and challenge score (``norm / cPSNR``, lower is better, 1.0 = the official baseline) and their
mean, exactly as the challenge did.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from satsr import metrics
from satsr.errors import InputError
from satsr.evaluate.common import Progress
from satsr.io.probav import HR_SCALE, ImageSet, find_imgsets, find_norm, read_imgset, read_norm
from satsr.models import registry


@dataclass
class SceneResult:
    """One PROBA-V scene's result; ``score`` is None when ``norm.csv`` has no entry for it."""

    name: str
    band: str | None
    cpsnr: float
    score: float | None
    norm: float | None = None
    cssim: float | None = None
    path: str = ""


@dataclass
class ProbavReport:
    """All scenes' results and the challenge score (mean of the scene scores)."""

    method: str
    score: float | None
    scenes: list[SceneResult] = field(default_factory=list)
    norm_file: str | None = None

    def to_json(self) -> dict[str, Any]:
        scenes = []
        for s in self.scenes:
            row: dict[str, Any] = {"name": s.name, "band": s.band, "cpsnr": s.cpsnr, "score": s.score}
            if s.cssim is not None:
                row["cssim"] = s.cssim
            scenes.append(row)
        return {"method": self.method, "score": self.score, "scenes": scenes}


def evaluate_probav(root: str | os.PathLike[str], method: str | Any = "baseline", cssim: bool = False,
                    limit: int | None = None, norm_file: str | os.PathLike[str] | None = None,
                    progress: Progress = None, keep: Callable[[ImageSet, np.ndarray, np.ndarray | None], None]
                    | None = None, **options: Any) -> ProbavReport:
    """Fuse and score every PROBA-V scene with ground truth under ``root`` (recursive).

    ``method`` is a registry name of a multi-image model or a ready ``Fuser``; ``options`` go to
    its constructor. The norm file defaults to the nearest ``norm.csv`` at or above ``root``.
    ``keep`` is called once per scene with the scene, its fused image ``(H, W)`` and the fuser's
    uncertainty ``(H, W)`` (None for fusers without one), e.g. for figures of chosen scenes.
    """
    paths = find_imgsets(root, with_hr=True)
    if not paths:
        raise InputError(f"{root}: no PROBA-V scene with HR.png found (test and LR-only scenes cannot be scored)")
    if limit is not None:
        paths = paths[:limit]
    norm_path = Path(norm_file) if norm_file else find_norm(root)
    norm = read_norm(norm_path) if norm_path else {}
    fuser = registry.resolve(method, HR_SCALE, kind="misr", **options)
    name = method if isinstance(method, str) else fuser.name
    results = []
    for p in paths:
        scene = read_imgset(p)
        assert scene.hr is not None and scene.sm is not None
        fused, sigma = fuser.apply(scene.frames, scene.qm)
        sr = fused[0]
        if keep is not None:
            keep(scene, sr, sigma[0] if sigma is not None else None)
        c = float(metrics.cpsnr(sr, scene.hr, scene.sm))
        n = norm.get(scene.name)
        cs = float(metrics.cssim(sr, scene.hr, scene.sm)) if cssim else None
        results.append(SceneResult(name=scene.name, band=scene.band, cpsnr=c,
                                   score=metrics.probav_score(c, n) if n else None, norm=n, cssim=cs, path=str(p)))
        if progress:
            progress(f"{scene.name}: cPSNR {c:.3f} dB")
    scored = [r.score for r in results if r.score is not None]
    mean = float(np.mean(scored)) if scored else None
    return ProbavReport(method=name, score=mean, scenes=results, norm_file=str(norm_path) if norm_path else None)
