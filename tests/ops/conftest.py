"""A small simulated lab and its inventory for the ops tests."""

from __future__ import annotations

import asyncio
import time

import pytest

from labtui.inventory.model import CheckSpec, Host, Inventory, Profile, SshTarget
from labtui.sim.state import Generation, SimHost, SimLab, fake_store_path
from tests.support.sim_shell import SimShell


def sim_host(name: str, *, gens: int = 3, kernels: tuple[str, ...] | None = None, current: int | None = None,
             booted: int | None = None, units: dict[str, str] | None = None) -> SimHost:
    kernels = kernels or tuple("6.6.30" for _ in range(gens))
    generations = [
        Generation(number=n, date=f"2026-11-{10 + n:02d}T12:00:00Z",
                   path=fake_store_path(f"nixos-system-{name}-24.05.{n}"), nixos_version=f"24.05.{n}",
                   kernel=kernels[n - 1])
        for n in range(1, gens + 1)
    ]
    current = current or gens
    host = SimHost(name=name, generations=generations, current=current, booted=booted or current,
                   flake_path=generations[-1].path,
                   units=units if units is not None else {"nginx.service": "active", "sshd.service": "active"},
                   disk={"/": [40, 100], "/nix": [95, 100]})
    for i in range(1, 6):
        host.log("sshd.service", f"Accepted publickey for root #{i}")
    host.log("nginx.service", "upstream timed out", priority=3)
    return host


def inv_host(name: str, checks: tuple[CheckSpec, ...] = (), *, critical: bool = False,
             ssh_user: str = "root", user: str = "root", interactive_sudo: bool = False) -> Host:
    profile = Profile(name="system", ssh_user=ssh_user, user=user, interactive_sudo=interactive_sudo)
    return Host(name=name, hostname=f"{name}.lab", ssh=SshTarget(hostname=f"{name}.lab", user=ssh_user),
                profiles=(profile,), checks=checks, critical=critical)


UNIT_CHECK = CheckSpec(kind="unit", name="nginx up", params={"unit": "nginx.service"}, period=1, timeout=1, retries=2)


@pytest.fixture
def lab(tmp_path) -> SimLab:
    lab = SimLab(tmp_path / "lab")
    for host in (sim_host("web1"), sim_host("web2"), sim_host("db1", kernels=("6.6.30", "6.6.30", "6.6.31"),
                                                                   booted=2)):
        lab.save(host)
    return lab


@pytest.fixture
def inventory() -> Inventory:
    return Inventory(flake=".", hosts=(inv_host("web1", (UNIT_CHECK,)), inv_host("web2", (UNIT_CHECK,)),
                                       inv_host("db1", critical=True)))


@pytest.fixture
def shell(lab) -> SimShell:
    return SimShell(lab)


class FakeClock:
    """Virtual time: sleep() advances it at once and runs `on_sleep` hooks (to change the lab between retries)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.on_sleep = None

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep(self)
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def wait_for(condition, timeout: float = 5.0) -> None:
    """Bounded wait for a condition (no sleep as synchronisation: poll with a deadline)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)
