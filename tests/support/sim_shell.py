"""SimShell: a RemoteShell that answers from the simulated lab in-process, without SSH.

Unit tests of status, checks, logs, generations, reboots and deploys use it; the demo itself goes through real SSH
servers (labtui.sim.server). Both answer through labtui.sim.shell.dispatch, so they agree.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable

from labtui.sim.handlers import SimResult
from labtui.sim.shell import dispatch
from labtui.sim.state import SimLab
from labtui.ssh.api import MAX_OUTPUT, CommandResult, CommandTimeout, HostUnreachable


class SimShell:
    """RemoteShell over a SimLab. Unreachable hosts raise HostUnreachable, like a dead SSH connection."""

    def __init__(self, lab: SimLab) -> None:
        self.lab = lab

    def _check_reachable(self, host: str) -> None:
        if not self.lab.load(host).reachable:
            raise HostUnreachable(host, "connection refused (simulated host is down)")

    async def run(self, host: str, command: str, *, timeout: float | None = None,
                  input: str | None = None, max_output: int = MAX_OUTPUT) -> CommandResult:
        self._check_reachable(host)
        answer = dispatch(self.lab, host, command)
        if isinstance(answer, Awaitable):
            try:
                answer = await asyncio.wait_for(answer, timeout)
            except TimeoutError:
                raise CommandTimeout(host, f"command did not finish within {timeout} s") from None
        if isinstance(answer, SimResult):
            if max(len(answer.stdout), len(answer.stderr)) > max_output:
                return CommandResult(None, answer.stdout[:max_output], answer.stderr[:max_output], truncated=True)
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
        if isinstance(answer, Awaitable):
            answer = await answer
        if isinstance(answer, SimResult):
            for line in answer.stdout.splitlines():
                yield line
            return
        async for line in answer:
            yield line
