"""Shared fixtures: tiny synthetic GeoTIFFs made in tmp_path, the path to the real data, one torch thread.
Plain helper functions live in ``helpers.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from helpers import SAMPLE, SHARED_DATA, write_geotiff


@pytest.fixture
def make_geotiff(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_geotiff(name, data, **options)`` -> path of a GeoTIFF in tmp_path."""

    def make(name: str, data: np.ndarray, **options: Any) -> Path:
        return write_geotiff(tmp_path / name, data, **options)

    return make


@pytest.fixture
def shared_data() -> Path:
    """The real data folder beside the project; the test is skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available at {SHARED_DATA}")
    return SHARED_DATA.resolve()


@pytest.fixture
def sample_tif() -> Path:
    return SAMPLE


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tests use small tensors and run two workers (`-n 2`): one torch thread each is faster."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
