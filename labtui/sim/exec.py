"""What a simulated host answers to commands an operator runs with `labtui exec` (or `!` in the TUI), so the demo
lab has something to say: its kernel, NixOS version, uptime, a unit's state, its disk. Anything else is not found
(exit 127), as on a host without that program."""

from __future__ import annotations

import shlex
import time

from labtui.sim.handlers import SimResult
from labtui.sim.state import SimLab


def handle(lab: SimLab, host: str, command: str) -> SimResult | None:
    try:
        argv = shlex.split(command)
    except ValueError:
        return None
    if argv[:3] == ["sudo", "-u", "root"] and argv[3:5] == ["/bin/sh", "-c"] and len(argv) == 6:
        return handle(lab, host, argv[5])
    sim = lab.load(host)
    current = next((g for g in sim.generations if g.number == sim.current), None)
    booted = next((g for g in sim.generations if g.number == sim.booted), current)
    match argv:
        case ["uname", "-r"]:  # the running kernel: the booted system's
            return SimResult(0, f"{booted.kernel if booted else '6.6.30'}\n")
        case ["nixos-version"]:
            return SimResult(0, f"{current.nixos_version if current else '24.05'} (Uakari)\n")
        case ["hostname"]:
            return SimResult(0, f"{host}\n")
        case ["uptime"]:
            days = max(0, int((time.time() - sim.boot_time) // 86400))
            load = ", ".join(f"{x:.2f}" for x in sim.load)
            return SimResult(0, f" {time.strftime('%H:%M:%S')} up {days} days,  1 user,  load average: {load}\n")
        case ["systemctl", "is-active", unit]:
            state = sim.units.get(unit, "inactive")
            return SimResult(0 if state == "active" else 3, f"{state}\n")
        case ["df", "-h", "/"]:
            used, total = sim.disk.get("/", [0, 1])
            return SimResult(0, "Filesystem      Size  Used Avail Use% Mounted on\n"
                                f"/dev/sda1       {total // 1048576}G  {used // 1048576}G  "
                                f"{(total - used) // 1048576}G  {100 * used // max(total, 1)}% /\n")
    return None
