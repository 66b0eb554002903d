"""What a simulated host answers a command with, and the shape of the functions that answer.

The demo's SSH server (labtui.sim.server) and the tests' SimShell (tests/support/sim_shell.py) hand every command to
the handlers listed in labtui.sim.shell.HANDLERS, in order. A handler is `handle(lab, host, command)` returning:
  - None: not my command;
  - a SimResult: a finished command;
  - an awaitable of a SimResult: a command that takes time (a switch); it is cancelled when its session drops, so
    it can decide what a dropped session does to it;
  - an async iterator of output lines: a streaming command (journalctl -f), ended by the client.
Handlers change host state through `lab.update(host)` so the emulators and the servers agree.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from labtui.sim.state import SimLab


@dataclass(frozen=True)
class SimResult:
    exit_status: int
    stdout: str = ""
    stderr: str = ""


# handle(lab, host, command) -> an answer, or None when the command is not the handler's.
Handler = Callable[[SimLab, str, str], SimResult | Awaitable[SimResult] | AsyncIterator[str] | None]
Answer = SimResult | Awaitable[SimResult] | AsyncIterator[str]
