"""``bfpdse run``: evaluate one design point (placeholder until the CNN engine lands)."""

from __future__ import annotations

from bfpdse.cli._app import app  # noqa: F401
