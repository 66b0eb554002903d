"""What labtui says when it cannot keep its state: a full disk, a read-only or foreign state dir, a journal that is
damaged, not a database, a directory, or locked by another process.

Each fault is one `StateError` line (what, where, how to fix), exit 2 (`JournalLocked`: exit 1, like a host locked
by another deploy: nothing is wrong with the setup, someone else is in the way). Who holds a locked journal is read
from /proc/locks (SQLite locks with POSIX record locks; elsewhere the holder is simply not named).
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from labtui.errors import EXIT_FAILED, UserError

_MOVE_AWAY = ("move it away (`mv {path} {path}.broken`): labtui starts a new journal, and `labtui history` still "
              "lists the runs from their files")


class StateError(UserError):
    """labtui's state (journal, run files, locks) cannot be read or written; the message says how to fix it."""

    def __init__(self, message: str, path: Path, *, exit_code: int = 2) -> None:
        super().__init__(message, exit_code=exit_code)
        self.path = path


class JournalDamaged(StateError):
    """The journal file is not a database, or a damaged one: its rows cannot be trusted, the run files can."""


class JournalLocked(StateError):
    """Another process held the journal's write lock for longer than labtui waits."""

    def __init__(self, message: str, path: Path, holders: list[str]) -> None:
        super().__init__(message, path, exit_code=EXIT_FAILED)
        self.holders = holders


def state_error(exc: OSError, path: Path, doing: str) -> StateError:
    """`exc` (from creating, writing or opening `path`) as one line: what failed, where, and the fix for its cause."""
    where = f"cannot {doing} {path}"
    elsewhere = "or set XDG_STATE_HOME to a directory elsewhere"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return StateError(f"{where}: the disk is full; free some space there, {elsewhere}", path)
    if exc.errno == errno.EROFS:
        return StateError(f"{where}: the file system is read-only; remount it read-write, {elsewhere}", path)
    if exc.errno in (errno.EACCES, errno.EPERM):
        owner = _first_existing(path)
        return StateError(f"{where}: permission denied; make {owner} yours and writable "
                          f"(`chmod u+rwX {owner}`), {elsewhere}", path)
    if exc.errno == errno.EISDIR:
        return StateError(f"{where}: it is a directory; move it away (`mv {path} {path}.moved`), and labtui makes "
                          "a new file there", path)
    if exc.errno == errno.ENOTDIR:
        return StateError(f"{where}: a part of that path is a file, not a directory; move that file away", path)
    return StateError(f"{where}: {exc.strerror or exc}; check that path and its permissions", path)


def journal_error(exc: sqlite3.Error, path: Path, *, timeout: float | None = None) -> StateError:
    """An SQLite error about the journal at `path` as one line (`timeout`: how long a lock was waited for)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if name.startswith("SQLITE_BUSY") or name.startswith("SQLITE_LOCKED") or "locked" in text:
        holders = lock_holders([path, Path(f"{path}-wal"), Path(f"{path}-shm")])
        who = "; ".join(holders) if holders else "another process (not visible from here)"
        waited = f" for more than {timeout:g} s" if timeout else ""
        return JournalLocked(f"the journal {path} is locked by {who}{waited}; wait for it to finish or stop it, "
                             "then run this again", path, holders)
    if name == "SQLITE_NOTADB" or "not a database" in text:
        return JournalDamaged(f"the journal {path} is not an SQLite database (damaged or overwritten); "
                              + _MOVE_AWAY.format(path=path), path)
    if name.startswith("SQLITE_CORRUPT") or "malformed" in text:
        return JournalDamaged(f"the journal {path} is damaged ({text}); " + _MOVE_AWAY.format(path=path), path)
    if name == "SQLITE_FULL" or "disk is full" in text:
        return state_error(OSError(errno.ENOSPC, "disk full"), path, "write the journal")
    if name.startswith("SQLITE_READONLY") or "readonly" in text:
        fs_readonly = _read_only_fs(path)
        return state_error(OSError(errno.EROFS if fs_readonly else errno.EACCES, text), path, "write the journal")
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
        if path.is_dir():
            return state_error(OSError(errno.EISDIR, text), path, "open the journal")
        return state_error(OSError(errno.EACCES, text), path, "open the journal")
    return StateError(f"the journal {path} cannot be used: {text}; " + _MOVE_AWAY.format(path=path), path)


def _first_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return path


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(_first_existing(path)).f_flag & os.ST_RDONLY)
    except OSError:
        return False


# ---- who holds a lock --------------------------------------------------------------------------------------------


def lock_holders(files: Iterable[Path], *, proc_locks: str = "/proc/locks") -> list[str]:
    """The processes holding POSIX or flock locks on any of `files`, described (`pid 12 (sqlite3 x.db, user ann)`).

    Read from /proc/locks (Linux): its lines name the locking pid and the file's inode. Empty when unknown."""
    inodes = set()
    for file in files:
        try:
            st = os.stat(file)
        except OSError:
            continue
        inodes.add((os.major(st.st_dev), os.minor(st.st_dev), st.st_ino))
    if not inodes:
        return []
    try:
        with open(proc_locks) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    pids: list[int] = []
    for line in lines:
        fields = line.split()
        # `1: POSIX  ADVISORY  WRITE 1234 08:02:131 120 120`; blocked waiters have `->` in front of the kind.
        if "->" in fields[:2] or len(fields) < 6:
            continue
        try:
            pid = int(fields[4])
            major, minor, inode = fields[5].split(":")
            key = (int(major, 16), int(minor, 16), int(inode))
        except ValueError:
            continue
        if key in inodes and pid > 0 and pid != os.getpid() and pid not in pids:
            pids.append(pid)
    return [describe_process(pid) for pid in pids]


def describe_process(pid: int) -> str:
    """`pid 1234 (python3 -m labtui deploy web1, user alice)`: what /proc says about a process."""
    parts = []
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            command = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        if not command:
            with open(f"/proc/{pid}/comm") as f:
                command = f.read().strip()
        parts.append(command if len(command) <= 80 else command[:79] + "…")
    except OSError:
        pass
    try:
        import pwd

        uid = os.stat(f"/proc/{pid}").st_uid
        try:
            parts.append(f"user {pwd.getpwuid(uid).pw_name}")
        except KeyError:
            parts.append(f"uid {uid}")
    except OSError:
        pass
    return f"pid {pid}" + (f" ({', '.join(parts)})" if parts else "")
