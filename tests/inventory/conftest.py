"""Fixtures for the inventory tests: fixture flakes copied out of the git tree before nix sees them.

The repository is a git checkout; a flake inside it would be evaluated as part of that tree (untracked
files invisible, the whole repo copied to the store), so every test evaluates a private copy.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import require_tool

FLAKES = Path(__file__).resolve().parent.parent / "fixtures" / "flakes"


@pytest.fixture
def flake_copy(tmp_path: Path) -> Callable[[str], Path]:
    """copy("fleet") -> a fresh copy of tests/fixtures/flakes/fleet under tmp_path."""

    def copy(name: str) -> Path:
        target = tmp_path / "flakes" / name
        shutil.copytree(FLAKES / name, target)
        return target

    return copy


@pytest.fixture
def nix() -> str:
    return require_tool("nix", "the inventory evaluates fixture flakes with real nix")
