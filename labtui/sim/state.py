"""Per-host state of the simulated lab, one JSON file per host in a lab directory.

Several processes share it (the demo's in-process SSH servers, the `deploy` emulator subprocess), so
every change goes through `SimLab.update()`, which holds an fcntl lock on the host's file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any


def fake_store_path(name: str, salt: str = "") -> str:
    digest = hashlib.sha256(f"{name}{salt}".encode()).hexdigest()
    alphabet = "0123456789abcdfghijklmnpqrsvwxyz"  # nix base32
    h = "".join(alphabet[int(digest[i : i + 2], 16) % 32] for i in range(0, 64, 2))
    return f"/nix/store/{h}-{name}"


@dataclass
class Generation:
    number: int
    date: str  # ISO 8601, UTC
    path: str  # toplevel store path
    nixos_version: str
    kernel: str  # kernel version; differing kernels between booted and current mean "reboot needed"


@dataclass
class JournalEntry:
    cursor: int
    ts: float
    unit: str
    priority: int  # syslog priority 0..7
    message: str


@dataclass
class SimHost:
    name: str
    generations: list[Generation]
    current: int  # generation number /run/current-system points to
    booted: int  # generation number /run/booted-system points to
    flake_path: str  # toplevel the flake would build now (drift when != current's path)
    units: dict[str, str] = field(default_factory=dict)  # unit -> active | failed | inactive
    cpus: int = 4
    load: list[float] = field(default_factory=lambda: [0.1, 0.1, 0.1])
    mem_total_kb: int = 8 * 1024 * 1024
    mem_available_kb: int = 6 * 1024 * 1024
    disk: dict[str, list[int]] = field(default_factory=dict)  # mount -> [used_kb, total_kb]
    boot_time: float = field(default_factory=lambda: time.time() - 86400)
    boot_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    next_deploy: str = "ok"  # ok | activation-fails | breaks-ssh (magic rollback) | build-fails | push-fails
    reachable: bool = True
    journal: list[JournalEntry] = field(default_factory=list)
    profile: int | None = None  # generation /nix/var/nix/profiles/system points to, when not `current`
    run_files: dict[str, str] = field(default_factory=dict)  # files under /run written by commands (path -> text)

    def generation(self, number: int) -> Generation:
        for g in self.generations:
            if g.number == number:
                return g
        raise KeyError(number)

    @property
    def reboot_needed(self) -> bool:
        return self.generation(self.current).kernel != self.generation(self.booted).kernel

    def log(self, unit: str, message: str, priority: int = 6) -> None:
        cursor = self.journal[-1].cursor + 1 if self.journal else 1
        self.journal.append(JournalEntry(cursor, time.time(), unit, priority, message))
        del self.journal[:-500]  # bounded like a real journal's rotation

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SimHost:
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        data["generations"] = [Generation(**g) for g in data["generations"]]
        data["journal"] = [JournalEntry(**j) for j in data.get("journal", [])]
        return cls(**data)


class SimLab:
    """A directory of simulated hosts (`<name>.json`)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.json"))

    def _path(self, name: str) -> Path:
        return self.root / f"{name}.json"

    def load(self, name: str) -> SimHost:
        with self._locked(name, shared=True) as path:
            return SimHost.from_json(json.loads(path.read_text()))

    def save(self, host: SimHost) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with self._locked(host.name, shared=False) as path:
            self._write(path, host)

    @contextlib.contextmanager
    def update(self, name: str) -> Iterator[SimHost]:
        """Read-modify-write one host under an exclusive lock."""
        with self._locked(name, shared=False) as path:
            host = SimHost.from_json(json.loads(path.read_text()))
            yield host
            self._write(path, host)

    @staticmethod
    def _write(path: Path, host: SimHost) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(host.to_json()))
        os.replace(tmp, path)

    @contextlib.contextmanager
    def _locked(self, name: str, *, shared: bool) -> Iterator[Path]:
        lock_path = self.root / f".{name}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            try:
                yield self._path(name)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
