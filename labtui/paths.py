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


# ---- private files: the state, runtime and cache dirs hold deploy output, host names and the journal ----------

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path, *, base: Path | None = None) -> Path:
    """`path` as a directory only its owner can use, whatever the umask.

    Missing directories on the way are created 0700; existing ones from `base` (labtui's own dir, e.g.
    `state_dir()`) down to `path` that others could enter are tightened to 0700 (a directory of someone else's is
    left alone: chmod is refused)."""
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:  # made meanwhile by another process: tightened below like any other
            pass
    if base is not None and base in path.parents:
        owned = [path, *(p for p in path.parents if p == base or base in p.parents)]
    else:
        owned = [path]
    for directory in owned:
        tighten(directory, PRIVATE_DIR)
    return path


def tighten(path: Path, mode: int) -> None:
    """Take group/other permissions away from an existing file or directory that has any (our own only)."""
    try:
        st = os.stat(path)
        if st.st_mode & 0o077 and st.st_uid == os.getuid():
            os.chmod(path, mode)
    except OSError:
        pass  # gone meanwhile, or not ours: nothing to do from here


def open_private(path: Path, flags: int) -> int:
    """os.open of a file that is 0600 whatever the umask (an existing one that is more open is tightened)."""
    fd = os.open(path, flags | os.O_CREAT, PRIVATE_FILE)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, PRIVATE_FILE)
    except OSError:
        pass
    return fd
