"""User-facing errors.

A ``BfpdseError`` is a mistake in what the user gave us (a YAML file, a CLI option, a model or data
file). The CLI prints its message on one line and exits with status 2, without a traceback. Any
other exception is a bug and is shown in full.
"""

from __future__ import annotations


class BfpdseError(Exception):
    """Base of every error that the user can fix; the message says what and how."""

    exit_code = 2


class SpecError(BfpdseError):
    """A sweep file, a ``--set`` override or a setting is invalid."""


class ModelError(BfpdseError):
    """A model file cannot be loaded or uses something we do not support."""


class DataError(BfpdseError):
    """A dataset is missing, malformed or does not fit the model."""


class StoreError(BfpdseError):
    """A results folder cannot be used as asked (locked, holds another spec, ...)."""
