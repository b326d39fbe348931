"""Errors users see.

Every failure a user can cause (bad path, bad raster, bad option) is raised as a ``SatsrError``
subclass with a message that names the file, says what is wrong and what to do. The CLI turns
these into one line on stderr and exit code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class SatsrError(Exception):
    """Base class for user-facing errors (one clear line, exit code 2)."""

    exit_code = 2


class InputError(SatsrError):
    """An input file is missing, unreadable, corrupt or of the wrong kind."""


class OutputError(SatsrError):
    """The output cannot be written (exists, directory missing or not writable)."""


class OptionError(SatsrError):
    """An option value is not supported (scale, band index, model name, ...)."""


class ModelError(SatsrError):
    """A model cannot be built or its weights/card are missing or inconsistent."""


class SatsrWarning(UserWarning):
    """Something a user should know that does not stop the run (e.g. an input outside a model's validity);
    the CLI prints it as one line ``satsr: warning: ...``."""
