"""satsr.runtime.tune_allocator: freed memory is reused instead of page-faulted in again."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")

# a working set of blocks of 0.5-8 MB, most freed soon after use (like a row stream's bands); prints the
# minor page faults of five repetitions after one warm-up
WORK = """
import resource, sys
import numpy as np
if sys.argv[1] == "tuned":
    from satsr.runtime import tune_allocator
    print(tune_allocator())
def work():
    keep = []
    for i in range(40):
        keep.append(np.ones((1 + i % 16) * 65536))
        if len(keep) > 4:
            keep.pop(0)
work()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    work()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
"""


def _faults(mode: str, **env: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", WORK, mode], capture_output=True, text=True, check=True,
                         env={**os.environ, **env})
    return out.stdout.split()


def test_tuned_allocator_reuses_freed_blocks() -> None:
    default = int(_faults("default")[-1])
    applied, tuned = _faults("tuned")
    assert applied == "True"
    assert default > 5000  # glibc's defaults: each cycle maps and faults fresh pages
    assert int(tuned) < default / 20


def test_satsr_malloc_default_opts_out() -> None:
    applied, faults = _faults("tuned", SATSR_MALLOC="default")
    assert applied == "False"
    assert int(faults) > 5000
