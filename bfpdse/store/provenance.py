"""Provenance of a sweep folder: what produced its rows, where and when."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bfpdse._version import __version__

#: distributions whose versions can change the numbers or the run
PACKAGES = (
    "numpy",
    "numba",
    "onnx",
    "onnxruntime",
    "pandas",
    "pyarrow",
    "pydantic",
    "pyyaml",
    "hwcomponents",
    "hwcomponents-adc",
    "hwcomponents-library",
    "hwcomponents-neurosim",
    "dask",
    "distributed",
)


def now() -> str:
    """The current UTC time as ISO 8601 text."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def git_commit() -> dict[str, Any] | None:
    """Commit (and whether the tree has changes) of the bfpdse source, if it is a git checkout."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        head = _git(root, "rev-parse", "HEAD")
        dirty = bool(_git(root, "status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head, "dirty": dirty}


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=True
    )
    return done.stdout.strip()


def environment() -> dict[str, Any]:
    """The static part of provenance.json."""
    return {
        "bfpdse_version": __version__,
        "git": git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "cpu_count": os.cpu_count(),
        "packages": package_versions(),
    }
