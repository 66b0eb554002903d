"""What the ops verbs need around the core: a RemoteShell for the inventory, confirmation, sudo
passwords, and a journal entry for actions that change hosts. No Textual here either."""

from __future__ import annotations

import getpass
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import IO

from labtui.errors import EXIT_FAILED, UserError
from labtui.inventory.model import Host, Inventory
from labtui.ops.privilege import privilege_for
from labtui.runs.events import NodeResult, Output, RunEvent, RunResult, RunStarted
from labtui.ssh.api import RemoteShell, SshError


async def with_ssh_pool(inventory: Inventory, body: Callable[[RemoteShell], Awaitable[int]], *,
                        connect_timeout: float | None = None) -> int:
    """Run `body(shell)` with one pooled SSH connection per host, closed afterwards."""
    from labtui.ssh.pool import SshPool  # asyncssh only when a verb really talks to hosts

    pool = SshPool(inventory.hosts) if connect_timeout is None else SshPool(inventory.hosts,
                                                                             connect_timeout=connect_timeout)
    async with pool:
        try:
            return await body(pool)
        except SshError as exc:  # a host that cannot be reached at all: one line, not a traceback
            raise UserError(str(exc), detail=exc.hint, exit_code=EXIT_FAILED) from None


def confirm(question: str, hosts: Sequence[Host], *, yes: bool, stdin: IO[str] | None = None,
            out: IO[str] | None = None) -> None:
    """Ask before changing hosts; UserError when not confirmed. Critical hosts need their names typed.

    Reads the answer from the terminal or from stdin (so scripts can pipe `yes` or the host name).
    """
    if yes:
        return
    stdin = stdin or sys.stdin
    out = out or sys.stderr
    critical = [h.name for h in hosts if h.critical]
    if critical:
        expected = " ".join(critical)
        out.write(f"{question}\n{', '.join(critical)} {'is' if len(critical) == 1 else 'are'} critical: "
                  f"type `{expected}` to confirm: ")
    else:
        expected = None
        out.write(f"{question} [y/N] ")
    out.flush()
    answer = stdin.readline()
    if not answer:
        raise UserError("no answer on stdin; nothing was done (pass --yes to skip the question)")
    answer = answer.strip()
    if expected is not None and answer != expected:
        raise UserError(f"you typed `{answer}`, not `{expected}`; nothing was done")
    if expected is None and answer.lower() not in ("y", "yes"):
        raise UserError("not confirmed; nothing was done")


def sudo_passwords(hosts: Sequence[Host], ask: Callable[[str], str] | None = None) -> dict[str, str]:
    """Passwords for hosts with interactiveSudo, asked once each (like deploy-rs, never echoed or stored)."""
    ask = ask or (lambda prompt: getpass.getpass(prompt))
    return {h.name: ask(f"(sudo for {h.hostname}) Password: ") for h in hosts if privilege_for(h).needs_password}


def _operator() -> str:
    try:
        return os.environ.get("USER") or getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name is not worth failing over
        return "unknown"


def check_journal() -> None:
    """Raise the journal's one-line StateError now, before an action asks anything or changes a host, when it
    could not be recorded (a full disk, a read-only state dir, a damaged journal)."""
    from labtui.runs.journal import Journal

    Journal.open().close()


class OpsRecord:
    """A journal entry (`labtui history`) for an ops action that changed hosts, e.g. a rollback.

    Recorded like a deploy run: action `rollback`, method `labtui`, the remote commands as argv,
    its events in runs/<id>/events.jsonl and the switch output in runs/<id>/output.log.
    """

    def __init__(self, action: str, inventory: Inventory, hosts: Sequence[str], commands: Sequence[str], *,
                 profile: str | None = "system", prefix_hosts: bool = False) -> None:
        from labtui.runs.files import RunFiles, new_run_id, run_dir
        from labtui.runs.journal import Journal
        from labtui.runs.state import state_error

        self.run_id = new_run_id()
        self.prefix_hosts = prefix_hosts  # output.log lines start with `HOST: ` (several hosts' output interleaves)
        self.journal = Journal.open()  # a state dir that cannot be written: one line before anything changes
        try:
            self.files = RunFiles(self.run_id)
        except OSError as exc:
            self.journal.close()
            raise state_error(exc, run_dir(self.run_id), "write the run's files in") from None
        self.journal.begin_run(self.run_id, operator=_operator(), method="labtui", action=action,
                               targets=[(h, profile) for h in hosts], flake=inventory.flake,
                               revision=inventory.revision, dirty=inventory.dirty,
                               argv=[["ssh", h, c] for h, c in zip(hosts, commands, strict=True)],
                               supervisor_pid=os.getpid())  # a crashed action then shows as lost
        self.started = RunStarted(ts=time.time(), run_id=self.run_id, method="labtui", nodes=list(hosts),
                                  argv=["ssh", hosts[0], commands[0]] if hosts else [])
        self.emit(self.started)

    def emit(self, event: RunEvent) -> None:
        if isinstance(event, Output):
            prefix = f"{event.node}: " if self.prefix_hosts and event.node else ""
            self.files.raw(f"{prefix}{event.line}\n")
        self.files.event(event)
        self.journal.record(self.run_id, event)

    def finish(self, results: Sequence[NodeResult]) -> list[RunEvent]:
        """Record the results and the run's end; returns what it recorded (results, then the run_result)."""
        for result in results:
            self.emit(result)
        ok = all(r.outcome == "succeeded" for r in results)
        end = RunResult(ts=time.time(), outcome="succeeded" if ok else "failed", exit_code=0 if ok else 1)
        self.emit(end)
        self.files.close()
        self.journal.close()
        return [*results, end]
