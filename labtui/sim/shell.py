"""A RemoteShell that answers from the simulated lab in-process, without SSH.

Unit tests of status, checks, logs, generations and reboots use it; the demo uses the real-SSH
server (labtui.sim.server) which dispatches to the same handlers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from labtui.sim import ops, probe
from labtui.sim.handlers import Handler, SimResult
from labtui.sim.state import SimLab
from labtui.ssh.api import CommandResult, CommandTimeout, HostUnreachable

# Who answers a command, asked in order.
HANDLERS: tuple[Handler, ...] = (
    probe.handle,  # the status probe (labtui.status.probe)
    ops.handle,  # journalctl, generations, rollback, reboot, health-check commands
)


def dispatch(lab: SimLab, host: str, command: str) -> SimResult | AsyncIterator[str]:
    """Hand `command` to the first handler that claims it; exit 127 like sh when none does."""
    for handle in HANDLERS:
        answer = handle(lab, host, command)
        if answer is not None:
            return answer
    return SimResult(127, "", f"sh: 1: {command.split()[0] if command.split() else command}: not found\n")


class SimShell:
    """RemoteShell over a SimLab. Unreachable hosts raise HostUnreachable, like a dead SSH connection."""

    def __init__(self, lab: SimLab) -> None:
        self.lab = lab

    def _check_reachable(self, host: str) -> None:
        if not self.lab.load(host).reachable:
            raise HostUnreachable(host, "connection refused (simulated host is down)")

    async def run(self, host: str, command: str, *, timeout: float | None = None,
                  input: str | None = None) -> CommandResult:
        self._check_reachable(host)
        answer = dispatch(self.lab, host, command)
        if isinstance(answer, SimResult):
            return CommandResult(answer.exit_status, answer.stdout, answer.stderr)
        lines: list[str] = []

        async def collect() -> None:
            async for line in answer:
                lines.append(line)

        try:
            await asyncio.wait_for(collect(), timeout)
        except TimeoutError:
            raise CommandTimeout(host, f"command did not finish within {timeout} s") from None
        return CommandResult(0, "".join(f"{line}\n" for line in lines), "")

    async def stream(self, host: str, command: str) -> AsyncIterator[str]:
        self._check_reachable(host)
        answer = dispatch(self.lab, host, command)
        if isinstance(answer, SimResult):
            for line in answer.stdout.splitlines():
                yield line
            return
        async for line in answer:
            yield line
