"""Shared test helpers (fixtures for real nix, real sshd, the simulated lab)."""

from __future__ import annotations

import os
import shutil

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
