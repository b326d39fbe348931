"""Atomic output files: hidden temp files beside the target, renamed into place only when complete.

Every file satsr writes (rasters, trust maps, PNGs, figures, manifests) is first written to a hidden
temp file in the target's directory and renamed at the end, so a failed, interrupted or killed run
never leaves a file that looks complete. Temp names carry the host and process id
(``.satsr-tmp-<host>-<pid>-<random><suffix>``): the next run in the same folder removes the temp
files of processes on this host that no longer exist (a run killed with SIGKILL cannot clean up
after itself). Outputs get the permissions a normal ``open()`` would give (``0o666`` minus the
umask), and an overwritten file keeps its mode.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from satsr.errors import OutputError

TMP_PREFIX = ".satsr-tmp-"
_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"
_STALE_AFTER_S = 5.0  # a dead process's temp file younger than this is left alone (pid reuse, clock skew)
_TMP_RE = re.compile(re.escape(TMP_PREFIX) + r"(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)-")
# temp files this process created and has not yet renamed or removed: a signal that lands between
# their creation and the code that owns them (SIGTERM is delivered between any two bytecodes) still
# finds them here (``remove_live``)
_LIVE: set[Path] = set()
_LIVE_LOCK = threading.Lock()
_SIGNALS = {signal.SIGTERM, signal.SIGHUP, signal.SIGINT}


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (``/proc/self/status``)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: the classic read-by-setting, restored at once
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def sweep_stale(directory: Path) -> list[Path]:
    """Remove temp files in ``directory`` left by satsr processes on this host that no longer run."""
    removed = []
    with contextlib.suppress(OSError):
        for p in directory.iterdir():
            m = _TMP_RE.match(p.name)
            if not m or m["host"] != _HOST or int(m["pid"]) == os.getpid() or _alive(int(m["pid"])):
                continue
            with contextlib.suppress(OSError):
                if time.time() - p.lstat().st_mtime > _STALE_AFTER_S:
                    p.unlink()
                    removed.append(p)
    return removed


def temp_path(target: Path, suffix: str | None = None) -> Path:
    """Create an empty hidden temp file beside ``target`` (stale ones swept first) and return its path.

    Its mode is what ``target`` will need: the existing target's mode, else ``0o666`` minus the umask.
    """
    directory = target.parent if str(target.parent) else Path(".")
    sweep_stale(directory)
    main = threading.current_thread() is threading.main_thread()
    if main:  # no signal between the file's creation and its registration
        old = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        try:
            fd, name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{_HOST}-{os.getpid()}-",
                                        suffix=suffix if suffix is not None else target.suffix, dir=directory)
        except OSError as exc:
            raise OutputError(
                f"{target}: cannot write in {directory} ({exc.strerror or exc}); choose a writable location"
            ) from exc
        with _LIVE_LOCK:
            _LIVE.add(Path(name))
    finally:
        if main:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
    try:
        mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o666 & ~_umask()
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return Path(name)


def replace(tmp: Path, final: Path) -> None:
    """Rename a finished temp file into place (atomic on one filesystem)."""
    os.replace(tmp, final)
    with _LIVE_LOCK:
        _LIVE.discard(tmp)


def remove_live() -> None:
    """Remove every temp file this process still holds (on the way out after a signal)."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for p in live:
        unlink(p)


def unlink(path: Path | None) -> None:
    """Remove ``path`` and any sidecar GDAL left beside it (``.aux.xml``, ``.msk``); missing is fine."""
    if path is None:
        return
    for p in (path, Path(f"{path}.aux.xml"), Path(f"{path}.msk")):
        with contextlib.suppress(OSError):
            p.unlink()
    with _LIVE_LOCK:
        _LIVE.discard(path)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path beside ``target`` to write to; rename it into place when the block succeeds.

    Any exception (a full disk, Ctrl-C, SIGTERM turned into ``SystemExit``) removes the temp file and
    leaves ``target`` as it was; an ``OSError`` becomes one ``OutputError`` line.
    """
    final = Path(target)
    tmp = temp_path(final)
    try:
        yield tmp
        replace(tmp, final)
    except OSError as exc:
        unlink(tmp)
        raise OutputError(f"{final}: writing failed ({exc.strerror or exc}); check free disk space") from exc
    except BaseException:
        unlink(tmp)
        raise
