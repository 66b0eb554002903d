"""Per-host deploy locks: two operators on one jump host must not deploy the same host at once.

One file per host under `state_dir()/locks/<host>.lock`, locked with `fcntl.flock`. The kernel releases
a flock when its holder dies, so a lock left by a crashed or killed labtui is taken over by the next
deploy without any cleanup (the JSON inside is then simply overwritten). The JSON says who holds it:
operator, since, pid and run id, so the second operator gets a useful message instead of a hang.
The lock fds are close-on-exec (Python's default), so deploy-rs and its ssh children never inherit them.
"""

from __future__ import annotations

import errno
import fcntl
import getpass
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from labtui import paths
from labtui.errors import UserError


@dataclass(frozen=True)
class LockHolder:
    operator: str
    since: float
    pid: int
    run_id: str

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return f"{self.operator} since {when} (pid {self.pid}, run {self.run_id})"


class HostLocked(UserError):
    """Another deploy holds the lock of a host."""

    def __init__(self, host: str, holder: LockHolder | None, *, where: str | None = None) -> None:
        who = holder.describe() if holder else "another process (holder unknown)"
        # `where`: the lock on the host itself (another machine's or user's run), else this machine's state dir.
        if where is None:
            fix = f"`labtui history show {holder.run_id if holder else 'RUN'}`"
            super().__init__(f"`{host}` is being deployed by {who}; wait for that run to finish ({fix}) or ask its "
                             "operator", exit_code=1)
        else:
            super().__init__(f"`{host}` is being deployed by {who} ({where}); wait for that run to finish or ask "
                             "its operator; the lock goes away with its holder's SSH session", exit_code=1)
        self.host = host
        self.holder = holder


def locks_dir() -> Path:
    return paths.state_dir() / "locks"


def _lock_path(host: str) -> Path:
    # Host names are flake attribute names; keep the file name safe anyway.
    return locks_dir() / (re.sub(r"[^A-Za-z0-9._-]", "_", host) + ".lock")


def read_holder(host: str) -> LockHolder | None:
    """Who holds (or last held) the lock of `host`, from the JSON in its lock file."""
    try:
        data = json.loads(_lock_path(host).read_text() or "null")
        return LockHolder(str(data["operator"]), float(data["since"]), int(data["pid"]), str(data["run_id"]))
    except (OSError, ValueError, TypeError, KeyError):
        return None


class HostLocks:
    """The locks of a set of hosts, taken all-or-nothing in sorted order (no deadlock between runs)."""

    def __init__(self, hosts: list[str], run_id: str, *, operator: str | None = None) -> None:
        self.hosts = sorted(set(hosts))
        self.run_id = run_id
        self.operator = operator or operator_name()
        self._fds: dict[str, int] = {}

    @property
    def held(self) -> bool:
        return bool(self._fds)

    def acquire(self) -> None:
        """Take every lock or none; raises HostLocked naming the holder (StateError when the lock files cannot be
        written: a full disk, a read-only state dir)."""
        from labtui.runs.state import state_error

        try:
            paths.private_dir(locks_dir(), base=paths.state_dir())
            for host in self.hosts:
                self._acquire_one(host)
        except OSError as exc:
            self.release()
            raise state_error(exc, locks_dir(), "take a deploy lock in") from None
        except BaseException:
            self.release()
            raise

    def _acquire_one(self, host: str) -> None:
        fd = paths.open_private(_lock_path(host), os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise HostLocked(host, read_holder(host)) from None
        holder = {"operator": self.operator, "since": time.time(), "pid": os.getpid(), "run_id": self.run_id}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        self._fds[host] = fd

    def release(self) -> None:
        for host, fd in list(self._fds.items()):
            try:
                os.ftruncate(fd, 0)  # no stale holder info once released
            except OSError:
                pass
            os.close(fd)  # closing the fd releases the flock
            del self._fds[host]

    def __enter__(self) -> HostLocks:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def operator_name() -> str:
    """Who is deploying: the local user name (the uid where there is no passwd entry)."""
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return str(os.getuid())
