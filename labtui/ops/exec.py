"""One command on many hosts at once, over the persistent SSH connections (`labtui exec`, the TUI's exec).

The command is an argv: every word is quoted with `shlex.quote`, so `labtui exec @web -- echo 'a b'` prints
`a b` and nothing in an argument is ever read by the remote shell (`-- sh -c 'a | b'` for a pipeline).
`--sudo` runs it as the system profile's user (root) the way deploy-rs does (labtui.ops.privilege).

`exec_on_hosts` yields the run's events as they happen: `output` lines (source `stdout`/`stderr`) and one
`exec_result` per host (exit code, duration, timeout or error); at most `parallel` hosts at once. Lines arrive
as the host prints them when the shell can stream (labtui.ssh.api.LineShell, the SSH pool), else when the
command ends. `ExecCollector` folds those events into one `HostExec` per host for summaries and `--json`;
it keeps at most `MAX_KEPT_CHARS` of each stream per host (the journal's output log keeps everything).
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from labtui.errors import UserError
from labtui.inventory.model import Host, Inventory
from labtui.ops.privilege import privilege_for
from labtui.runs.events import ExecResult, NodeResult, Output, RunEvent
from labtui.ssh.api import CommandTimeout, LineShell, OutputStream, RemoteShell, SshError

DEFAULT_PARALLEL = 16
DEFAULT_TIMEOUT = 120.0
MAX_KEPT_CHARS = 1 << 20  # per host and stream, for the summary and --json


def command_line(argv: Sequence[str]) -> str:
    """The argv as one shell command line, each word quoted; UserError when there is no command."""
    if not argv or not argv[0]:
        raise UserError("no command to run: put it after `--`, e.g. `labtui exec web1 -- uptime`")
    return shlex.join(argv)


def remote_command(host: Host, argv: Sequence[str], *, sudo: bool = False) -> str:
    """What runs on `host`: the quoted argv, under the host's sudo settings with `sudo`."""
    command = command_line(argv)
    return privilege_for(host).wrap(command) if sudo else command


async def exec_on_hosts(hosts: Sequence[Host], shell: RemoteShell, argv: Sequence[str], *, sudo: bool = False,
                        timeout: float | None = DEFAULT_TIMEOUT, parallel: int = DEFAULT_PARALLEL,
                        passwords: Mapping[str, str] | None = None, lines: LineShell | None = None,
                        ) -> AsyncIterator[RunEvent]:
    """Run `argv` on every host; its events as they happen (see the module docstring). Never raises for a
    host that cannot be reached or whose command fails: that host's `exec_result` says so."""
    if parallel < 1:
        raise UserError(f"--parallel must be at least 1, got {parallel}")
    commands = {h.name: remote_command(h, argv, sudo=sudo) for h in hosts}
    queue: asyncio.Queue[RunEvent | None] = asyncio.Queue()
    slots = asyncio.Semaphore(parallel)

    async def one(host: Host) -> None:
        async with slots:
            await _run_one(host, commands[host.name], shell, lines, queue, timeout=timeout,
                           stdin=privilege_for(host).stdin((passwords or {}).get(host.name)) if sudo else None)

    async def all_hosts() -> None:
        try:
            await asyncio.gather(*(one(h) for h in hosts))
        finally:
            queue.put_nowait(None)

    worker = asyncio.ensure_future(all_hosts())
    try:
        while (event := await queue.get()) is not None:
            yield event
        await worker
    finally:
        if not worker.done():  # the consumer stopped early (Ctrl-C): end the remote commands' channels
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await worker


async def _run_one(host: Host, command: str, shell: RemoteShell, lines: LineShell | None,
                   queue: asyncio.Queue[RunEvent | None], *, timeout: float | None, stdin: str | None) -> None:
    name = host.name
    started = time.monotonic()

    def emit(stream: OutputStream, line: str) -> None:
        queue.put_nowait(Output(ts=time.time(), node=name, stage=None, line=line, source=stream))

    def result(exit_code: int | None, *, timed_out: bool = False, error: str = "") -> None:
        queue.put_nowait(ExecResult(ts=time.time(), node=name, exit_code=exit_code,
                                    duration=time.monotonic() - started, timed_out=timed_out, error=error))

    try:
        if lines is not None:
            status = await lines.run_lines(name, command, emit, timeout=timeout, input=stdin)
        else:
            answer = await shell.run(name, command, timeout=timeout, input=stdin)
            for stream, text in (("stdout", answer.stdout), ("stderr", answer.stderr)):
                for line in text.splitlines():
                    emit(stream, line)  # type: ignore[arg-type]  # the two literals of OutputStream
            status = answer.exit_status
    except CommandTimeout:
        result(None, timed_out=True, error=f"did not finish within {timeout:g} s; ended")
        return
    except SshError as exc:
        result(None, error=exc.message + (f" ({exc.hint})" if exc.hint else ""))
        return
    result(status, error="" if status is not None else "ended by a signal, or the channel closed without a status")


async def recorded_exec(inventory: Inventory, hosts: Sequence[Host], shell: RemoteShell, argv: Sequence[str], *,
                        sudo: bool = False, timeout: float | None = DEFAULT_TIMEOUT, parallel: int = DEFAULT_PARALLEL,
                        passwords: Mapping[str, str] | None = None,
                        lines: LineShell | None = None) -> AsyncIterator[RunEvent]:
    """`exec_on_hosts` as a run in the journal (`labtui history`: who, when, what, where, each host's exit code and
    output): `run_started` first (its run id), then the exec's events, then each host's `node_result` and the
    `run_result`, all recorded as they pass."""
    from labtui.ops.runtime import OpsRecord

    commands = [remote_command(h, argv, sudo=sudo) for h in hosts]
    record = OpsRecord("exec", inventory, [h.name for h in hosts], commands, profile=None, prefix_hosts=True)
    collector = ExecCollector([h.name for h in hosts])
    finals: list[NodeResult] = []
    try:
        yield record.started
        async for event in exec_on_hosts(hosts, shell, argv, sudo=sudo, timeout=timeout, parallel=parallel,
                                         passwords=passwords, lines=lines):
            record.emit(event)
            done = collector.apply(event)
            yield event
            if isinstance(event, ExecResult) and done is not None:
                finals.append(NodeResult(ts=time.time(), node=done.host, profile=None,
                                         outcome="succeeded" if done.ok else "failed", stage=None,
                                         message=done.verdict()))
    finally:
        record.finish(finals)  # a cancelled exec still ends its run: the hosts not done have no result


@dataclass
class HostExec:
    """What one host did, folded from its events."""

    host: str
    exit_code: int | None = None
    duration: float | None = None  # None while it runs
    timed_out: bool = False
    error: str = ""
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    truncated: bool = False  # more output came than MAX_KEPT_CHARS per stream (the journal has it all)
    _kept: dict[str, int] = field(default_factory=lambda: {"stdout": 0, "stderr": 0}, repr=False)

    @property
    def done(self) -> bool:
        return self.duration is not None

    @property
    def ok(self) -> bool:
        return self.done and self.exit_code == 0 and not self.error

    def status(self) -> str:
        """One word or two for people: `exit 0`, `exit 3`, `timed out`, `unreachable`, `running`."""
        if not self.done:
            return "running"
        if self.timed_out:
            return "timed out"
        if self.exit_code is not None:
            return f"exit {self.exit_code}"
        return "no exit status" if "signal" in self.error else "not run"

    def verdict(self) -> str:
        """`exit 3 in 0.2s`, with the reason when it did not exit (for the journal and the faces: not harmless)."""
        text = f"{self.status()} in {self.duration or 0.0:.1f}s"
        if self.error and self.exit_code is None:
            text += f": {self.error}"
        if self.truncated:
            text += " (output cut for display: the journal keeps all of it)"
        return text

    def add(self, stream: str, line: str) -> None:
        kept = self._kept.get(stream, 0)
        if kept + len(line) > MAX_KEPT_CHARS:
            self.truncated = True
            return
        self._kept[stream] = kept + len(line) + 1
        (self.stderr if stream == "stderr" else self.stdout).append(line)

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "ok": self.ok, "exit_code": self.exit_code, "stdout": _text(self.stdout),
                "stderr": _text(self.stderr), "duration": round(self.duration or 0.0, 3), "timed_out": self.timed_out,
                "error": self.error, "truncated": self.truncated}


def _text(lines: list[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


class ExecCollector:
    """Folds an exec's events into one HostExec per host, in the order the hosts were given (pure)."""

    def __init__(self, hosts: Sequence[str]) -> None:
        self.hosts: dict[str, HostExec] = {name: HostExec(name) for name in hosts}

    def apply(self, event: RunEvent) -> HostExec | None:
        """Fold one event; the host it was about (None for events of no host)."""
        if isinstance(event, Output) and event.node in self.hosts:
            host = self.hosts[event.node]
            host.add(event.source, event.line)
            return host
        if isinstance(event, ExecResult) and event.node in self.hosts:
            host = self.hosts[event.node]
            host.exit_code, host.duration = event.exit_code, event.duration
            host.timed_out, host.error = event.timed_out, event.error
            return host
        return None

    def results(self) -> list[HostExec]:
        return list(self.hosts.values())

    @property
    def ok(self) -> bool:
        return all(h.ok for h in self.hosts.values())
