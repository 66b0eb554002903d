"""How the simulated hosts answer commands.

The demo's SSH server (labtui.sim.server) hands every command it receives to the handler modules in
HANDLER_MODULES, in order. Each module defines `handle(lab, host, command)` returning:
  - None: not my command;
  - a SimResult: a finished command;
  - an async iterator of output lines: a streaming command (journalctl -f), ended by the client.
Handlers change host state through `lab.update(host)` so the emulators and the servers agree.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from labtui.sim.state import SimLab


@dataclass(frozen=True)
class SimResult:
    exit_status: int
    stdout: str = ""
    stderr: str = ""


class Handler(Protocol):
    def handle(self, lab: SimLab, host: str, command: str) -> SimResult | AsyncIterator[str] | None: ...


# Modules providing `handle`; a missing module is skipped (its feature has not landed).
HANDLER_MODULES = (
    "labtui.sim.probe",  # the status probe (labtui.status.probe)
    "labtui.sim.ops",  # journalctl, generations, rollback, reboot, health-check commands
    "labtui.sim.activation",  # deploy-rs activate-rs / nixos-rebuild remote commands, if emulators go over SSH
)
