"""Errors a user can fix: the message names the value, where it came from and the fix.

They derive from ``ValueError`` so that callers that already catch ``ValueError`` keep working. This module
imports nothing, so every layer (config, data, models, losses) can raise them without import cycles.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key, the value and the fix."""
