"""Which handler answers a command sent to a simulated host.

The demo's SSH servers (labtui.sim.server) answer every command through `dispatch`; so does the tests' in-process
shell (tests/support/sim_shell.py), so both see the same answers.
"""

from __future__ import annotations

from labtui.sim import exec as exec_commands
from labtui.sim import locks, ops, probe
from labtui.sim.handlers import Answer, Handler, SimResult
from labtui.sim.state import SimLab

# Who answers a command, asked in order.
HANDLERS: tuple[Handler, ...] = (
    probe.handle,  # the status probe (labtui.status.probe)
    locks.handle,  # the deploy lock on the host (labtui.runs.remote_locks)
    ops.handle,  # journalctl, generations, rollback, reboot, health-check commands
    exec_commands.handle,  # what an operator may run with `labtui exec`: uname -r, uptime, ...
)


def dispatch(lab: SimLab, host: str, command: str) -> Answer:
    """Hand `command` to the first handler that claims it; exit 127 like sh when none does."""
    for handle in HANDLERS:
        answer = handle(lab, host, command)
        if answer is not None:
            return answer
    return SimResult(127, "", f"sh: 1: {command.split()[0] if command.split() else command}: not found\n")
