"""Where labtui keeps its files, following the XDG base directory spec."""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    base = Path(value) if value and os.path.isabs(value) else Path.home() / fallback
    return base / "labtui"


def config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config")


def state_dir() -> Path:
    """Journal, locks, run logs: things that must survive restarts."""
    return _xdg("XDG_STATE_HOME", ".local/state")


def cache_dir() -> Path:
    """Flake evaluation results: safe to delete."""
    return _xdg("XDG_CACHE_HOME", ".cache")


def runtime_dir() -> Path:
    """Sockets of detached deploy supervisors; falls back to the state dir."""
    value = os.environ.get("XDG_RUNTIME_DIR")
    return Path(value) / "labtui" if value else state_dir() / "run"
