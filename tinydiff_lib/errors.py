"""The project's own error types: the command line prints these as one line and exits with status 2.

Everything else that escapes (a ``ValueError`` from deep inside torch, a bug of ours) is shown as the
traceback it is, so an internal failure is never disguised as a user mistake.
"""

from __future__ import annotations

__all__ = ["TinyDiffError", "UsageError", "MissingFileError", "MissingDependencyError"]


class TinyDiffError(Exception):
    """Base class: a mistake the user can fix (bad argument, missing file, missing package)."""


class UsageError(TinyDiffError, ValueError):
    """A bad argument or setting (also a ``ValueError``, so ``except ValueError`` keeps working)."""


class MissingFileError(TinyDiffError, FileNotFoundError):
    """A file the user named does not exist."""


class MissingDependencyError(TinyDiffError, ImportError):
    """An optional package is not installed; the message says how to install it."""
