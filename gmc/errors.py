"""Errors a user can fix: the message names the value, where it came from and the fix.

:class:`UserError` marks a problem with the user's input, files or environment (a config value, a labels
file, an archive, a missing download). The command line prints its message alone, without a Python
traceback, and exits with status 2 (:func:`gmc.cli.main`); any other exception is a programming error and
keeps its traceback. The subclasses derive from ``ValueError`` too, so that callers that catch
``ValueError`` keep working. This module imports nothing, so every layer can raise them without import
cycles.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; the message names the value, the file and the fix."""


class ConfigError(UserError, ValueError):
    """A configuration value is invalid; the message names the key, the value and the fix."""


class InputFileError(UserError, ValueError):
    """An input file (labels, manifest, split, checkpoint, archive) is missing, unreadable or malformed;
    the message names the file (and the line, where it helps) and the fix."""
