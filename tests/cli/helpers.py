"""What the CLI tests share."""

from __future__ import annotations

import sys
from typing import Any

from bfpdse.cli import main


def run_main(monkeypatch: Any, capsys: Any, *args: str) -> tuple[int, Any]:
    """Run the console entry point in this process; returns (exit status, captured output)."""
    monkeypatch.setattr(sys, "argv", ["bfpdse", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    return code, capsys.readouterr()
