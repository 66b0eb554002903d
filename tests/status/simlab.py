"""Simulated hosts for the status tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from labtui.sim.state import Generation, SimHost, SimLab, fake_store_path
from labtui.status.model import HostStatus


def make_host(name: str = "web1", *, failed: bool = False, new_kernel: bool = False) -> SimHost:
    gens = [
        Generation(1, "2026-11-01T10:00:00Z", fake_store_path(f"nixos-system-{name}-1"), "24.05.1 (Uakari)", "6.6.30"),
        Generation(2, "2026-11-20T12:30:00Z", fake_store_path(f"nixos-system-{name}-2"), "24.05.2 (Uakari)",
                   "6.6.31" if new_kernel else "6.6.30"),
    ]
    units = {"sshd.service": "active", "nginx.service": "failed" if failed else "active"}
    return SimHost(name=name, generations=gens, current=2, booted=1, flake_path=gens[1].path, units=units,
                   cpus=4, load=[0.5, 0.25, 0.75], mem_total_kb=8_000_000, mem_available_kb=6_000_000,
                   disk={"/": [10_000, 40_000], "/nix": [30_000, 100_000]}, boot_time=1_000.0)


def make_lab(root, *names: str) -> SimLab:
    lab = SimLab(root)
    for name in names:
        lab.save(make_host(name))
    return lab


async def wait_for(stream: AsyncIterator[HostStatus], predicate: Callable[[HostStatus], bool],
                   timeout: float = 10.0) -> HostStatus:
    """The first status from `stream` matching `predicate` (a bounded wait, no sleeps)."""

    async def scan() -> HostStatus:
        async for status in stream:
            if predicate(status):
                return status
        raise AssertionError("stream ended")

    return await asyncio.wait_for(scan(), timeout)
