"""Trustworthy super-resolution: LR consistency, uncertainty and hallucination maps, opensr-test metrics.

* ``operators``: the model's degradation as an exact separable linear operator; ``project`` makes
  an output agree with its input (``downsample(SR) == LR``), ``consistency_rmse`` measures it.
* ``maps``: test-time-augmentation uncertainty, the hallucination map, and ``TrustUpscaler`` which
  runs all of it tile by tile through ``satsr.tiling``.
* ``opensr``: the opensr-test benchmark's consistency / synthesis / correctness metrics (v1.3.3,
  "nd" distance) on user arrays.

This room sits above ``ops``, ``models`` and ``tiling`` and below ``api``, ``evaluate`` and the CLI.
"""

from satsr.trust.maps import (
    TrustOptions,
    TrustResult,
    TrustUpscaler,
    default_floor,
    hallucination_map,
    trust_upscale,
    tta_predictions,
    tta_std,
)
from satsr.trust.operators import (
    Degradation,
    consistency_rmse,
    degradation_for,
    downsample,
    project,
    supported,
)

__all__ = [
    "Degradation", "TrustOptions", "TrustResult", "TrustUpscaler", "consistency_rmse", "default_floor",
    "degradation_for", "downsample", "hallucination_map", "project", "supported", "trust_upscale",
    "tta_predictions", "tta_std",
]
