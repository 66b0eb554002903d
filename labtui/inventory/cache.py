"""Caching flake evaluations so a second start does not wait for nix.

A local flake's fingerprint changes whenever what nix would evaluate can change: the flake.lock
content, the git revision, and the uncommitted changes to tracked files (their names, sizes and
mtimes; nix ignores untracked files). Outside git, the mtimes and sizes of every *.nix file.
Remote flakes (github:...) are not cached: only nix knows whether they moved.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labtui.commandlog import COMMAND_LOG
from labtui.inventory.flakeref import FlakeRef, git_toplevel
from labtui.paths import cache_dir, open_private, private_dir


@dataclass(frozen=True)
class SourceState:
    fingerprint: str | None  # None: not cacheable (remote flake)
    revision: str | None = None  # git commit, when the flake is in a git tree with commits
    dirty: bool | None = None  # uncommitted changes to tracked files (None outside git)


def _stat_key(path: Path) -> str:
    try:
        st = path.stat()
        return f"{st.st_mtime_ns}:{st.st_size}"
    except OSError:
        return "missing"


def _git_state(toplevel: Path) -> tuple[str | None, list[str]] | None:
    """(HEAD commit or None, changed tracked paths) from one `git status`; None when git can't tell."""
    if shutil.which("git") is None:
        return None
    argv = ["git", "-C", str(toplevel), "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=no"]
    COMMAND_LOG.local(argv)
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    revision = None
    changed: list[str] = []
    entries = proc.stdout.decode(errors="replace").split("\0")
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if entry.startswith("# branch.oid "):
            oid = entry.split()[-1]
            revision = None if oid == "(initial)" else oid
        elif entry.startswith("1 "):
            changed.append(entry.split(" ", 8)[-1])
        elif entry.startswith("2 "):
            changed.append(entry.split(" ", 9)[-1])
            i += 1  # the original path of a rename follows as its own entry
        elif entry.startswith("u "):
            changed.append(entry.split(" ", 10)[-1])
    return revision, changed


def _nix_files(directory: Path) -> list[Path]:
    files = []
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "result")
        files += [Path(root) / n for n in sorted(names) if n.endswith(".nix")]
    return files


def source_state(flake: FlakeRef) -> SourceState:
    """Fingerprint of what nix would evaluate for `flake`, plus its git revision and dirty flag."""
    if flake.local_dir is None:
        return SourceState(None)
    directory = flake.local_dir
    lock = directory / "flake.lock"
    parts = [flake.nix_ref, hashlib.sha256(lock.read_bytes()).hexdigest() if lock.is_file() else "no-lock"]
    toplevel = git_toplevel(directory)
    state = _git_state(toplevel) if toplevel else None
    if state is not None and toplevel is not None:
        revision, changed = state
        parts += [f"git:{revision}"] + [f"{p}={_stat_key(toplevel / p)}" for p in sorted(changed)]
        result = SourceState(None, revision, bool(changed))
    else:
        parts += [f"{p.relative_to(directory)}={_stat_key(p)}" for p in _nix_files(directory)]
        result = SourceState(None)
    fingerprint = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return SourceState(fingerprint, result.revision, result.dirty)


class JsonCache:
    """One JSON file per flake under cache_dir()/<kind>/, holding answers for one fingerprint."""

    def __init__(self, kind: str, flake: FlakeRef) -> None:
        digest = hashlib.sha256(flake.nix_ref.encode()).hexdigest()[:24]
        self.path = cache_dir() / kind / f"{digest}.json"

    def load(self, fingerprint: str) -> dict[str, Any] | None:
        try:
            stored = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(stored, dict) or stored.get("fingerprint") != fingerprint:
            return None
        data = stored.get("data")
        return data if isinstance(data, dict) else None

    def load_latest(self) -> dict[str, Any] | None:
        """The stored answer whatever its fingerprint (maybe stale): for shell completion, which must not wait."""
        try:
            stored = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        data = stored.get("data") if isinstance(stored, dict) else None
        return data if isinstance(data, dict) else None

    def store(self, fingerprint: str, data: dict[str, Any]) -> None:
        """Write atomically; a cache we cannot write is only slower, never an error."""
        try:
            private_dir(self.path.parent, base=cache_dir())  # the fleet's names and addresses: 0700, files 0600
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            with open(open_private(tmp, os.O_WRONLY | os.O_TRUNC), "w") as f:
                f.write(json.dumps({"fingerprint": fingerprint, "data": data}))
            os.replace(tmp, self.path)
        except OSError:
            pass
