"""Process-wide settings that satsr's own commands apply at start-up (never on ``import satsr``: a library
must not change its host program's allocator).

``tune_allocator``: glibc gives every allocation above its mmap threshold fresh pages from the kernel and
unmaps them on ``free``; the threshold adapts upwards only slowly, so a model call that allocates feature
maps and row bands of a few MB each page-faults its whole working set again and again. Measured here
(``benchmarks/bench_inference.py --allocator``, BENCHMARKS.md "Performance"): EDSR x4 on a 512 px crop
page-faulted 0.62 M times on its first call, 25 k on later ones; with the settings below 74 k and then
almost none, and the first call (the only one a command makes) was 12 % faster on an idle machine, more
under load. jemalloc or tcmalloc would do the same but need ``LD_PRELOAD``
and a native install, so the three ``mallopt`` calls are made by hand (ctypes; no-op off glibc).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# mallopt parameter numbers from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 * 2**20   # glibc's maximum: blocks below it come from the (reused) heap
TRIM_THRESHOLD = 256 * 2**20  # free memory kept at the top of the heap before it is given back
TOP_PAD = 64 * 2**20          # grow the heap in steps of at least this much

_tuned = False


def tune_allocator() -> bool:
    """Make glibc keep and reuse freed memory (module docstring); True when applied.

    Does nothing off Linux/glibc, when already applied, or when ``SATSR_MALLOC=default`` (an escape hatch
    for comparisons and for hosts that tune malloc themselves).
    """
    global _tuned
    if _tuned:
        return True
    if not sys.platform.startswith("linux") or os.environ.get("SATSR_MALLOC", "").lower() == "default":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other libcs have no mallopt
        return False
    # the mmap threshold first: setting any of the three also switches off glibc's adaptive threshold
    ok = all(mallopt(p, v) == 1 for p, v in ((_M_MMAP_THRESHOLD, MMAP_THRESHOLD),
                                             (_M_TRIM_THRESHOLD, TRIM_THRESHOLD), (_M_TOP_PAD, TOP_PAD)))
    _tuned = ok
    return ok
