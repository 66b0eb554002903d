"""HostStatus read straight from the simulated lab's state, without SSH (test support).

For snapshot tests and benchmarks that need the exact same screen every time (frozen clock, fixed values).
`labtui demo` itself probes the hosts over real SSH with labtui's StatusPoller.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from labtui.sim.state import SimHost, SimLab
from labtui.ssh.api import HostState
from labtui.status.model import DiskUsage, HostStatus, SystemLink

KB = 1024


def status_from_sim(host: SimHost, now: float) -> HostStatus:
    """What a probe of `host` at `now` would report."""
    if not host.reachable:
        return HostStatus(host=host.name, state=HostState.DOWN, observed_at=now,
                          error="connection refused", hint="is the host switched on and sshd running?")
    cur, boot = host.generation(host.current), host.generation(host.booted)
    failed = tuple(sorted(u for u, s in host.units.items() if s == "failed"))
    return HostStatus(
        host=host.name,
        state=HostState.DEGRADED if failed else HostState.UP,
        observed_at=now,
        answered_at=now,
        rtt_ms=2.0,
        hostname=host.name,
        uptime_s=now - host.boot_time,
        load=(host.load[0], host.load[1], host.load[2]),
        cpus=host.cpus,
        mem_total_bytes=host.mem_total_kb * KB,
        mem_available_bytes=host.mem_available_kb * KB,
        disks=tuple(DiskUsage(m, used * KB, total * KB) for m, (used, total) in sorted(host.disk.items())),
        current_system=SystemLink(cur.path, kernel=f"linux-{cur.kernel}"),
        booted_system=SystemLink(boot.path, kernel=f"linux-{boot.kernel}"),
        system_profile=cur.path,
        generation=cur.number,
        generation_date=cur.date,
        nixos_version=cur.nixos_version,
        system_running="degraded" if failed else "running",
        failed_units=failed,
        boot_id=host.boot_id,
        reboot_needed=host.reboot_needed,
        drift="in sync" if host.flake_path == cur.path else "outdated",
        flake_path=host.flake_path,
    )


class SimStatusSource:
    """A StatusSource over a SimLab read in-process; `now` is a clock (frozen in tests)."""

    def __init__(self, lab: SimLab, clock: Callable[[], float], *, follow: bool = False, period: float = 1.0) -> None:
        self.lab = lab
        self.clock = clock
        self.follow = follow
        self.period = period
        self._wake = asyncio.Event()

    def snapshot(self) -> dict[str, HostStatus]:
        now = self.clock()
        return {name: status_from_sim(self.lab.load(name), now) for name in self.lab.names()}

    async def stream(self) -> AsyncIterator[HostStatus]:
        while True:
            for st in self.snapshot().values():
                yield st
            if not self.follow:
                return
            try:
                await asyncio.wait_for(self._wake.wait(), self.period)
            except TimeoutError:
                pass
            self._wake.clear()

    def refresh(self, host: str | None = None) -> None:
        self._wake.set()
