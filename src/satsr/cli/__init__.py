"""The ``satsr`` command line (typer). Thin: parse options, call the API, print results.

Every ``SatsrError`` becomes one line on stderr and exit code 2, never a traceback. Command groups
live in sibling modules that add themselves to ``app`` when imported below.
"""

from __future__ import annotations

import sys

import typer

from satsr.errors import SatsrError

app = typer.Typer(
    name="satsr",
    help="Super-resolution for satellite imagery: single-image, multi-image and guided, georeferenced.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command modules register on `app`; imported for that side effect.
from satsr.cli import compare as _compare  # noqa: E402,F401
from satsr.cli import evaluate as _evaluate  # noqa: E402,F401
from satsr.cli import fuse as _fuse  # noqa: E402,F401
from satsr.cli import sharpen as _sharpen  # noqa: E402,F401
from satsr.cli import train as _train  # noqa: E402,F401
from satsr.cli import upscale as _upscale  # noqa: E402,F401


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning user errors into one stderr line and exit code 2.

    Click's standalone mode already handles usage errors (exit 2) and Ctrl-C; satsr's own errors
    are caught here so users never see a traceback for a problem they can fix.
    """
    try:
        app(args=argv, prog_name="satsr")
    except SatsrError as exc:
        print(f"satsr: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
