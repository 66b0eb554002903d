"""Reboot hosts and track each one back to service, in waves.

Back to service means, in order: SSH went away (or the boot id already changed), SSH answers again
with a new boot id, `systemctl is-system-running` is no longer `starting`, and the host's health
checks pass, all within a timeout. Progress is a stream of `RebootProgress` events (and the checks'
`CheckResultEvent`s) that the CLI prints and the TUI shows per host.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labtui.inventory.model import Host
from labtui.ops.checks import run_checks
from labtui.ops.clock import REAL_CLOCK, Clock
from labtui.ops.privilege import privilege_for
from labtui.ops.retry import is_transient
from labtui.ops.streams import merge
from labtui.runs.events import CheckResultEvent, RebootProgress, RunEvent
from labtui.ssh.api import CommandResult, RemoteShell, SshError

# A transient timer reboots one second later, so the SSH command returns its exit status cleanly
# instead of racing the connection teardown.
REBOOT_COMMAND = "systemd-run --on-active=1 systemctl reboot"
BOOT_ID_COMMAND = "cat /proc/sys/kernel/random/boot_id"
SYSTEM_RUNNING_COMMAND = "systemctl is-system-running"
# What comin and bento compare: a changed kernel, initrd or kernel modules needs a reboot.
REBOOT_NEEDED_SCRIPT = r"""for l in kernel initrd kernel-modules; do
  printf '%s\t%s\t%s\n' "$l" "$(readlink -f /run/booted-system/$l)" "$(readlink -f /run/current-system/$l)"
done"""
REBOOT_NEEDED_COMMAND = f"/bin/sh -c {shlex.quote(REBOOT_NEEDED_SCRIPT)}"
STARTING_STATES = ("initializing", "starting")


@dataclass(frozen=True)
class RebootOutcome:
    host: str
    ok: bool
    phase: str  # the last phase reached
    message: str
    duration: float

    def to_dict(self) -> dict[str, object]:
        return {"host": self.host, "ok": self.ok, "phase": self.phase, "message": self.message,
                "duration": round(self.duration, 3)}


def parse_reboot_needed(stdout: str) -> bool | None:
    """True when booted and current differ in kernel, initrd or modules; None when nothing was readable."""
    compared = False
    for line in stdout.splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and fields[1] and fields[2]:
            compared = True
            if fields[1] != fields[2]:
                return True
    return False if compared else None


async def reboot_needed(shell: RemoteShell, host: str, *, timeout: float = 10.0) -> bool | None:
    """Whether the host runs a kernel other than the current system's; None when it cannot be told."""
    try:
        result = await shell.run(host, REBOOT_NEEDED_COMMAND, timeout=timeout)
    except SshError:
        return None
    return parse_reboot_needed(result.stdout) if result.ok else None


class _Tracker:
    """Follows one host through the reboot; every wait is bounded by the overall deadline."""

    def __init__(self, host: Host, shell: RemoteShell, *, timeout: float, poll: float, command_timeout: float,
                 clock: Clock, sudo_password: str | None, run_health_checks: bool) -> None:
        self.host, self.shell, self.clock = host, shell, clock
        self.timeout, self.poll, self.command_timeout = timeout, poll, command_timeout
        self.sudo_password, self.run_health_checks = sudo_password, run_health_checks
        self.start = clock.monotonic()
        self.last_error: SshError | None = None

    def event(self, phase: str, message: str = "") -> RebootProgress:
        return RebootProgress(ts=time.time(), node=self.host.name, phase=phase, message=message,
                              elapsed=round(self.clock.monotonic() - self.start, 3))

    def remaining(self) -> float:
        return self.timeout - (self.clock.monotonic() - self.start)

    async def ask(self, command: str) -> CommandResult | None:
        """Run a short command; None when the host does not answer."""
        try:
            return await self.shell.run(self.host.name, command,
                                        timeout=max(0.001, min(self.command_timeout, self.remaining())))
        except SshError as exc:
            self.last_error = exc
            return None

    async def boot_id(self) -> str | None:
        result = await self.ask(BOOT_ID_COMMAND)
        return result.stdout.strip() or None if result is not None and result.ok else None

    async def run(self) -> AsyncIterator[RunEvent]:
        name = self.host.name
        old_boot = await self.boot_id()
        if old_boot is None:
            yield self.event("failed", "not reachable before the reboot; nothing was done")
            return
        privilege = privilege_for(self.host)
        yield self.event("rebooting", f"boot id {old_boot[:8]}")
        try:
            result = await self.shell.run(name, privilege.wrap(REBOOT_COMMAND), timeout=self.command_timeout,
                                          input=privilege.stdin(self.sudo_password))
        except SshError:
            result = None  # the connection may drop as the host goes down; the boot id tells
        if result is not None and not result.ok:
            output = result.stderr.strip() or result.stdout.strip()
            reason = output.splitlines()[-1:] or [f"exit {result.exit_status}"]
            yield self.event("failed", f"reboot command failed: {reason[0]}")
            return

        new_boot: str | None = None
        # SSH gone (or already back with a new boot id, for a fast machine).
        while True:
            current = await self.boot_id()
            if current is None or current != old_boot:
                new_boot = current if current != old_boot else None
                yield self.event("down", "SSH went away" if current is None else "rebooted quickly")
                break
            if self.remaining() <= 0:
                yield self.event("failed", f"still up with the same boot id after {self.timeout:g} s; "
                                           "the reboot did not happen")
                return
            await self.clock.sleep(self.poll)
        # Back, with a new boot id.
        while new_boot is None:
            error = self.last_error
            if error is not None and not is_transient(error):  # e.g. a new host key: waiting will not help
                yield self.event("failed", f"back, but SSH refuses: {error.message}"
                                           + (f" ({error.hint})" if error.hint else ""))
                return
            if self.remaining() <= 0:
                why = f": {error.message}" if error is not None else ""
                yield self.event("failed", f"did not come back within {self.timeout:g} s (SSH still down{why})")
                return
            await self.clock.sleep(self.poll)
            retry_now = getattr(self.shell, "retry_now", None)
            if retry_now is not None:  # SshPool: skip its reconnect back-off, we poll at our own pace
                retry_now(name)
            current = await self.boot_id()
            if current is not None and current != old_boot:
                new_boot = current
        yield self.event("back", f"SSH answers, new boot id {new_boot[:8]}")
        # systemd done starting.
        shown = None
        while True:
            result = await self.ask(SYSTEM_RUNNING_COMMAND)
            state = result.stdout.strip() if result is not None and result.stdout.strip() else "unknown"
            if state != shown:
                yield self.event("starting", f"systemd is {state}")
                shown = state
            if result is not None and state not in STARTING_STATES:
                break
            if self.remaining() <= 0:
                yield self.event("failed", f"systemd still `{state}` after {self.timeout:g} s")
                return
            await self.clock.sleep(self.poll)
        # Health checks.
        if self.run_health_checks and self.host.checks:
            yield self.event("checks", f"running {len(self.host.checks)} check(s)")
            failed = []
            async for check in run_checks(self.host, self.shell, clock=self.clock):
                yield CheckResultEvent(ts=time.time(), node=name, check=check.check, check_kind=check.kind,
                                       ok=check.ok, attempts=check.attempts, message=check.message,
                                       duration=check.duration)
                if not check.ok:
                    failed.append(f"{check.check}: {check.message}")
            if failed:
                yield self.event("failed", "back, but checks failed: " + "; ".join(failed))
                return
        yield self.event("done", f"back in service ({state})")


async def reboot_host(host: Host, shell: RemoteShell, *, timeout: float = 600.0, poll: float = 2.0,
                      command_timeout: float = 10.0, clock: Clock = REAL_CLOCK, sudo_password: str | None = None,
                      run_health_checks: bool = True) -> AsyncIterator[RunEvent]:
    """Reboot one host and follow it back; ends with a RebootProgress of phase `done` or `failed`."""
    tracker = _Tracker(host, shell, timeout=timeout, poll=poll, command_timeout=command_timeout, clock=clock,
                       sudo_password=sudo_password, run_health_checks=run_health_checks)
    async for event in tracker.run():
        yield event


async def reboot_hosts(hosts: Sequence[Host], shell: RemoteShell, *, wave_size: int = 1,
                       stop_on_failure: bool = True, sudo_passwords: Mapping[str, str] | None = None,
                       **options: Any) -> AsyncIterator[RunEvent]:
    """Reboot `hosts` in waves of `wave_size` (a wave starts when the previous one is back in service).

    With `stop_on_failure` (morph's rule), a host that does not come back stops later waves: their hosts
    get a `skipped` event. `sudo_passwords` (host -> password) serve hosts with interactiveSudo;
    `options` go to `reboot_host`.
    """
    wave_size = max(1, wave_size)
    waves = [list(hosts[i : i + wave_size]) for i in range(0, len(hosts), wave_size)]
    for host in hosts:
        yield RebootProgress(ts=time.time(), node=host.name, phase="waiting",
                             message=f"wave {next(i for i, w in enumerate(waves) if host in w) + 1}/{len(waves)}")
    for index, wave in enumerate(waves):
        failed = False
        async for event in merge([reboot_host(h, shell, sudo_password=(sudo_passwords or {}).get(h.name), **options)
                                       for h in wave]):
            if isinstance(event, RebootProgress) and event.phase == "failed":
                failed = True
            yield event
        if failed and stop_on_failure:
            for later in waves[index + 1 :]:
                for host in later:
                    yield RebootProgress(ts=time.time(), node=host.name, phase="skipped",
                                         message="not rebooted: a host of an earlier wave did not come back")
            return


def outcomes(events: Sequence[RunEvent]) -> list[RebootOutcome]:
    """One outcome per host from a finished reboot stream (for tables and JSON)."""
    last_phase: dict[str, str] = {}
    final: dict[str, RebootProgress] = {}
    for event in events:
        if isinstance(event, RebootProgress):
            if event.phase in ("done", "failed", "skipped"):
                final[event.node] = event
            else:
                last_phase[event.node] = event.phase
    return [RebootOutcome(host=node, ok=e.phase == "done",
                          phase="done" if e.phase == "done" else last_phase.get(node, "waiting"),
                          message=e.message, duration=e.elapsed) for node, e in final.items()]
