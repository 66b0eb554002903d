"""Background life in the demo lab: loads wobble, memory drifts, journal lines appear.

Runs as a task in the demo process and changes state through `SimLab.update`, like the emulators do.
"""

from __future__ import annotations

import asyncio
import random

from labtui.demo.lab import unit_line
from labtui.sim.state import SimLab

TICK = 1.5
HOSTS_PER_TICK = 12  # a large lab's hosts change a few at a time, like a real fleet's


def tick_once(lab: SimLab, rng: random.Random) -> None:
    names = lab.names()
    if len(names) > HOSTS_PER_TICK:
        names = rng.sample(names, HOSTS_PER_TICK)
    for name in names:
        with lab.update(name) as host:
            if not host.reachable:
                continue
            # A random walk that returns towards a third of the CPUs, so a lab kept for weeks stays sane.
            one = host.load[0] * (1 + rng.uniform(-0.15, 0.15)) + rng.uniform(-0.05, 0.05)
            one = max(0.01, one + (host.cpus / 3 - one) * 0.05)
            # 5 and 15 minute averages follow the 1 minute one slowly, like the kernel's.
            host.load = [round(one, 2), round(host.load[1] * 0.9 + one * 0.1, 2),
                         round(host.load[2] * 0.97 + one * 0.03, 2)]
            drift = int(host.mem_total_kb * rng.uniform(-0.01, 0.01))
            host.mem_available_kb = min(host.mem_total_kb, max(host.mem_total_kb // 20, host.mem_available_kb + drift))
            active = [u for u, s in host.units.items() if s == "active"]
            if active and rng.random() < 0.6:
                unit = rng.choice(active)
                host.log(unit, unit_line(unit))


async def run_ticker(lab: SimLab, *, period: float = TICK, seed: int = 7) -> None:
    rng = random.Random(seed)
    while True:
        await asyncio.sleep(period)
        try:
            await asyncio.to_thread(tick_once, lab, rng)
        except (OSError, ValueError, KeyError):
            continue  # a host file being replaced right now: next tick
