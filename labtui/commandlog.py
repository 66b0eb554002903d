"""Every command labtui runs, local or remote, for the `@` command log and `--verbose` output.

Operators can copy a line and run it by hand: the old `lab` script flow stays one paste away. A command run again
(the status probe, every few seconds) stays one record that counts its runs, so the log shows each command once.
"""

from __future__ import annotations

import shlex
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class CommandRecord:
    ts: float
    where: str  # "local" or the host name
    command: str  # copyable: a shell-quoted argv for local commands, the remote command string otherwise
    count: int = 1  # times it ran
    last: float = 0.0  # when it last ran (0: once, at ts)

    @property
    def key(self) -> str:
        """One command at one place: repeats of it are this record."""
        return f"{self.where}\x00{self.command}"

    def copyable(self) -> str:
        if self.where == "local":
            return self.command
        return f"ssh {shlex.quote(self.where)} {shlex.quote(self.command)}"


class CommandLog:
    """A bounded in-memory log with listeners (the TUI subscribes to show new lines)."""

    def __init__(self, maxlen: int = 2000) -> None:
        self._records: OrderedDict[str, CommandRecord] = OrderedDict()  # by key, in the order first run
        self._maxlen = maxlen
        self._listeners: list[Callable[[CommandRecord], None]] = []

    def local(self, argv: Sequence[str], env: dict[str, str] | None = None) -> CommandRecord:
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        cmd = shlex.join(list(argv))
        return self._add(CommandRecord(time.time(), "local", f"{prefix} {cmd}" if prefix else cmd))

    def remote(self, host: str, command: str) -> CommandRecord:
        return self._add(CommandRecord(time.time(), host, command))

    def _add(self, record: CommandRecord) -> CommandRecord:
        old = self._records.get(record.key)
        if old is not None:
            record = replace(old, count=old.count + 1, last=record.ts)
        self._records[record.key] = record
        if len(self._records) > self._maxlen:
            self._records.popitem(last=False)
        for listener in list(self._listeners):
            listener(record)
        return record

    def records(self) -> list[CommandRecord]:
        return list(self._records.values())

    def subscribe(self, listener: Callable[[CommandRecord], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)


# The process-wide log; components take a CommandLog argument defaulting to this one.
COMMAND_LOG = CommandLog()
