"""Shared test helpers (fixtures for real nix, real sshd, the simulated lab)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require_tool(name: str, why: str) -> str:
    """Path of an external tool an integration test needs: skip when absent, fail in CI."""
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if path:
        return path
    message = f"`{name}` is not installed ({why}); .ci/run installs it"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def real_program(candidates: list[str | None], banner: str) -> Path | None:
    """The first executable candidate whose `--version` starts with `banner` (the real tool, not labtui's emulator of
    it, which says "labtui" in its version line)."""
    for candidate in candidates:
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        try:
            out = subprocess.run([candidate, "--version"], capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.startswith(banner) and "labtui" not in out:
            return Path(candidate).resolve()
    return None
