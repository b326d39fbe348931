"""The ``satsr`` command line (typer). Thin: parse options, call the API, print results.

Every ``SatsrError`` becomes one line on stderr and exit code 2, never a traceback. Command groups
live in sibling modules that add themselves to ``app`` when imported below.
"""

from __future__ import annotations

import signal
import sys
import warnings

import typer

from satsr.errors import SatsrError, SatsrWarning
from satsr.io.files import remove_live
from satsr.runtime import tune_allocator

app = typer.Typer(
    name="satsr",
    help="Super-resolution for satellite imagery: single-image, multi-image and guided, georeferenced.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command modules register on `app`; imported for that side effect.
from satsr.cli import batch as _batch  # noqa: E402,F401
from satsr.cli import compare as _compare  # noqa: E402,F401
from satsr.cli import evaluate as _evaluate  # noqa: E402,F401
from satsr.cli import export as _export  # noqa: E402,F401
from satsr.cli import finetune as _finetune  # noqa: E402,F401
from satsr.cli import forest as _forest  # noqa: E402,F401
from satsr.cli import fuse as _fuse  # noqa: E402,F401
from satsr.cli import pairs as _pairs  # noqa: E402,F401
from satsr.cli import sharpen as _sharpen  # noqa: E402,F401
from satsr.cli import train as _train  # noqa: E402,F401
from satsr.cli import upscale as _upscale  # noqa: E402,F401
from satsr.cli import video as _video  # noqa: E402,F401


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: object = None, line: str | None = None) -> None:
    """satsr's warnings as one line on stderr; others as Python prints them."""
    if issubclass(category, SatsrWarning):
        print(f"satsr: warning: {message}", file=sys.stderr)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)  # type: ignore[arg-type]


_default_showwarning = warnings.showwarning


class Terminated(SystemExit):
    """SIGTERM/SIGHUP as an exception, so every open output unwinds (temp files removed) on the way out."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated(128 + signum)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app; every user error is one stderr line ``satsr: error: ...`` and exit 2.

    That covers satsr's own errors (``SatsrError``) and the command-line parser's (unknown option,
    missing argument, a value of the wrong type), which click would otherwise print as a boxed panel.
    SIGTERM and SIGHUP (what ``timeout``, ``kill``, schedulers and containers send) unwind like Ctrl-C,
    so no temp file is left behind; the exit code is 128 + the signal number, as shells report it.
    glibc is told to keep freed memory for reuse (``satsr.runtime.tune_allocator``).
    """
    tune_allocator()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)
    warnings.showwarning = _show_warning
    try:
        code = app(args=argv, prog_name="satsr", standalone_mode=False)
    except SatsrError as exc:
        print(f"satsr: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # the parser's errors: unknown option, missing argument, bad value
        ctx = getattr(exc, "ctx", None)
        message = exc.format_message()  # type: ignore[attr-defined]
        if not message.strip():  # `satsr` or `satsr evaluate` alone: typer has already shown the help
            sys.exit(0)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        print(f"satsr: error: {' '.join(message.split())}{hint}", file=sys.stderr)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        print("satsr: interrupted", file=sys.stderr)
        sys.exit(130)
    except Terminated as exc:
        print(f"satsr: terminated by signal {int(exc.code or 0) - 128}", file=sys.stderr)
        sys.exit(exc.code)
    finally:
        remove_live()  # temp files a signal caught between their creation and their owner's cleanup
    if isinstance(code, int) and code:  # typer turns Ctrl-C into Exit(130), returned here
        if code == 130:
            print("satsr: interrupted", file=sys.stderr)
        sys.exit(code)
