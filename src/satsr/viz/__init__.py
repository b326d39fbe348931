"""Figures: side-by-side panels (``figures``), single-image comparisons with trust maps (``sisr``) and
multi-image comparisons (``misr``)."""

from satsr.viz.figures import Panel, comparison_figure, display_bands, stretch_limits, to_display
from satsr.viz.misr import compare_misr, fusion_panels
from satsr.viz.sisr import compare_sisr, trust_panels

__all__ = ["Panel", "compare_misr", "compare_sisr", "comparison_figure", "display_bands", "fusion_panels",
           "stretch_limits", "to_display", "trust_panels"]
