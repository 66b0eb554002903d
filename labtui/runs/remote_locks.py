"""The deploy lock on the target host itself: where every operator meets (issue 11, point 4).

The local lock (labtui.runs.locks) lives in the operator's own state dir, so another user, or the same user on
another jump host, never sees it. This one is a file on the host, `/run/lock/labtui-deploy.lock`, locked with
flock(1) by a small shell script that labtui keeps running over the host's SSH connection for the whole run:

- taken: the script writes who holds it (operator, machine, pid, run, since) into the file and waits on stdin;
- held for the run: closing the channel (the run ended, or labtui died and the kernel closed its connection)
  ends the script, and the kernel releases the flock with it: nothing stale is left behind;
- broken only when its holder is provably gone: a flock belongs to a live process on the host, so it is freed
  only when that process has ended (its SSH session closed), never by a timeout or a guess;
- busy: the script answers with the file's content, so the second operator reads who holds it and since when.

The script runs with the host's privileges (the caller wraps it, like deploy-rs's own commands), so operators
logging in as different users all meet in /run/lock. Where it cannot be taken (no flock, no permission, the host
unreachable), the run goes on with the local lock alone and says so in its output: deploy-rs reaching the host is
what decides whether the deploy can run, not the lock.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from labtui.runs.locks import HostLocked, LockHolder
from labtui.text import harmless

LOCK_PATH = "/run/lock/labtui-deploy.lock"
ANSWER_TIMEOUT = 15.0  # connect, and the script's one-line answer
_END = "labtui-lock end"
_MAX_ANSWER = 4096  # the holder's JSON is a few hundred bytes; a host cannot make us read more


class LockConversation(Protocol):
    """A command kept running on a host (labtui.ssh.pool.Conversation has this shape)."""

    @property
    def ended(self) -> bool:
        """The command is no longer running (closed by us, ended, or its connection dropped)."""
        ...

    async def answer(self, end_line: str, *, timeout: float, max_chars: int) -> str: ...

    def close(self) -> None: ...


# Opens the lock script on a host, over that host's connection: (host, command) -> conversation.
OpenConversation = Callable[[str, str], Awaitable[LockConversation]]
# The command that runs `script` on `host` with the privileges deploys use there (the script itself, or wrapped).
Privileged = Callable[[str, str], str]


def lock_script(holder: str, path: str = LOCK_PATH) -> str:
    """The POSIX sh script that takes the lock at `path` and holds it until its stdin closes.

    Answers one line, then `labtui-lock end`: `taken`, `busy` (followed by the holder's JSON line), or
    `unavailable REASON`. A symlink at `path` is refused (no write through a link someone planted)."""
    p = shlex.quote(path)
    d = shlex.quote(os.path.dirname(path) or "/")
    return (
        f"l={p}; d={d}; e='{_END}'; "
        "command -v flock >/dev/null 2>&1 || { echo 'unavailable flock(1) is not installed'; echo \"$e\"; exit 0; }; "
        "[ -e \"$d\" ] || mkdir -p \"$d\" 2>/dev/null; "
        "if [ -L \"$l\" ]; then echo \"unavailable $l is a symbolic link\"; echo \"$e\"; exit 0; fi; "
        # `command exec`: a failed redirection does not end the shell (dash), so the answer still comes
        "if [ -d \"$d\" ] && { [ -w \"$l\" ] || { [ ! -e \"$l\" ] && [ -w \"$d\" ]; }; } "
        "&& { command exec 9>>\"$l\"; } 2>/dev/null; then w=1; "
        "elif [ -f \"$l\" ] && [ -r \"$l\" ] && { command exec 9<\"$l\"; } 2>/dev/null; then w=; "
        "else echo \"unavailable cannot open $l\"; echo \"$e\"; exit 0; fi; "
        "flock -n -E 75 9; r=$?; "
        "if [ $r = 75 ]; then echo busy; head -c 2048 \"$l\" | head -n 1; echo; echo \"$e\"; exit 0; fi; "
        "if [ $r != 0 ]; then echo \"unavailable flock(1) failed ($r)\"; echo \"$e\"; exit 0; fi; "
        f"[ -n \"$w\" ] && printf '%s\\n' {shlex.quote(holder)} >\"$l\"; "
        "echo taken; echo \"$e\"; "
        "cat >/dev/null; "  # held until labtui closes the channel (or its connection dies)
        "[ -n \"$w\" ] && : >\"$l\"; exit 0"
    )


def holder_json(operator: str, run_id: str, *, since: float | None = None) -> str:
    return json.dumps({"operator": operator, "machine": socket.gethostname(), "pid": os.getpid(),
                       "run_id": run_id, "since": time.time() if since is None else since})


def parse_holder(text: str) -> LockHolder | None:
    """The holder a host reported (its words made harmless: a host is not trusted); None when unreadable."""
    try:
        data = json.loads(text)
        operator = harmless(str(data["operator"]))[:200]
        machine = harmless(str(data.get("machine") or ""))[:200]
        return LockHolder(f"{operator}@{machine}" if machine else operator, float(data["since"]),
                          int(data["pid"]), harmless(str(data["run_id"]))[:200])
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        return None


@dataclass
class RemoteHostLocks:
    """The host-side locks of a run's hosts: `acquire` takes them all (HostLocked when one is busy: those taken
    are released), `release` gives them back. `notices` says, per host, why a lock could not be taken."""

    hosts: list[str]
    run_id: str
    operator: str
    open_conversation: OpenConversation
    privileged: Privileged = lambda host, script: script  # noqa: E731 - the default runs the script as is
    path: str = LOCK_PATH
    timeout: float = ANSWER_TIMEOUT

    def __post_init__(self) -> None:
        self.hosts = sorted(set(self.hosts))
        self._held: dict[str, LockConversation] = {}
        self.notices: dict[str, str] = {}

    @property
    def held(self) -> list[str]:
        return sorted(self._held)

    def lost(self) -> list[str]:
        """Hosts whose lock went away during the run (the connection dropped: the host released it)."""
        return sorted(host for host, conversation in self._held.items() if conversation.ended)

    async def acquire(self) -> None:
        holder = holder_json(self.operator, self.run_id)
        results = await asyncio.gather(*(self._acquire_one(host, holder) for host in self.hosts),
                                       return_exceptions=True)
        busy = [r for r in results if isinstance(r, HostLocked)]
        other = [r for r in results if isinstance(r, BaseException) and not isinstance(r, HostLocked)]
        if busy or other:
            self.release()
            raise (busy[0] if busy else other[0])

    async def _acquire_one(self, host: str, holder: str) -> None:
        from labtui.ssh.api import SshError

        command = self.privileged(host, lock_script(holder, self.path))
        try:
            conversation = await asyncio.wait_for(self.open_conversation(host, command), self.timeout)
            answer = await conversation.answer(_END, timeout=self.timeout, max_chars=_MAX_ANSWER)
        except (SshError, TimeoutError) as exc:
            why = getattr(exc, "message", None) or f"no answer within {self.timeout:g} s"
            self.notices[host] = f"cannot take the deploy lock on the host ({harmless(why)})"
            return
        lines = answer.splitlines()
        word = lines[0].strip() if lines else ""
        if word == "taken":
            self._held[host] = conversation
            return
        conversation.close()
        if word == "busy":
            text = lines[1] if len(lines) > 1 else ""
            raise HostLocked(host, parse_holder(text), where=f"the lock on the host, {self.path}")
        reason = word.removeprefix("unavailable").strip() or "the lock script gave no answer"
        self.notices[host] = f"cannot take the deploy lock on the host ({harmless(reason)[:300]})"

    def release(self) -> None:
        """Close every lock's channel: the script on the host ends and the host's kernel frees the lock."""
        for host, conversation in list(self._held.items()):
            conversation.close()
            del self._held[host]
