"""Benchmark protocols, each printing or returning plain numbers: single-image SR on HR folders
(``sisr``), PROBA-V challenge scoring (``probav``), opensr-test metrics on one raster (``opensr``) and the
Wald protocol for guided sharpening (``wald``)."""

from satsr.evaluate.common import sisr_upscaler, super_resolve
from satsr.evaluate.opensr import OpensrReport, evaluate_opensr
from satsr.evaluate.probav import ProbavReport, SceneResult, evaluate_probav
from satsr.evaluate.sisr import (
    ImageOutputs,
    SisrReport,
    SisrRow,
    degrade_for_eval,
    evaluate_sisr,
    is_8bit,
    list_images,
)
from satsr.evaluate.wald import quality, wald_evaluate

__all__ = [
    "ImageOutputs", "OpensrReport", "ProbavReport", "SceneResult", "SisrReport", "SisrRow", "degrade_for_eval",
    "evaluate_opensr", "evaluate_probav", "evaluate_sisr", "is_8bit", "list_images", "quality", "sisr_upscaler",
    "super_resolve", "wald_evaluate",
]
