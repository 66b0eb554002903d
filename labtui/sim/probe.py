"""Simulated hosts answer the status probe (labtui.status.probe) from their SimHost state.

The answer uses the real probe format, so the parser, the poller and the TUI see the same text over
the tests' SimShell, over the demo's SSH server and from a real NixOS host.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import time

from labtui.sim.handlers import SimResult
from labtui.sim.state import SimHost, SimLab, fake_store_path
from labtui.status.probe import MARKER, is_probe_command


def kernel_targets(kernel: str) -> dict[str, str]:
    """Store paths a system closure's kernel, initrd and kernel-modules links point to.

    They depend on the kernel version only, so booted and current differ exactly when
    SimHost.reboot_needed says so.
    """
    return {
        "kernel": f"{fake_store_path(f'linux-{kernel}')}/bzImage",
        "initrd": f"{fake_store_path(f'initrd-linux-{kernel}')}/initrd",
        "kernel-modules": fake_store_path(f"linux-{kernel}-modules"),
    }


def _epoch(iso: str) -> int:
    when = _dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if when.tzinfo is None:
        return calendar.timegm(when.timetuple())
    return int(when.timestamp())


def probe_output(host: SimHost, now: float | None = None) -> str:
    """The probe's output as a NixOS host in `host`'s state would print it."""
    now = time.time() if now is None else now
    lines = [MARKER]

    def kv(key: str, value: object) -> None:
        lines.append(f"{key}\t{value}")

    kv("hostname", host.name)
    kv("uptime", f"{max(0.0, now - host.boot_time):.2f}")
    kv("load", " ".join(f"{x:.2f}" for x in host.load))
    kv("cpus", host.cpus)
    kv("mem-total-kb", host.mem_total_kb)
    kv("mem-available-kb", host.mem_available_kb)
    for mount in ("/", "/nix"):
        if mount in host.disk:
            used_kb, total_kb = host.disk[mount]
            kv(f"disk:{mount}", f"{total_kb} {used_kb} {max(0, total_kb - used_kb)} {mount}")
        elif mount == "/nix" and "/" in host.disk:
            used_kb, total_kb = host.disk["/"]
            kv("disk:/nix", f"{total_kb} {used_kb} {max(0, total_kb - used_kb)} /")  # on the root fs
        else:
            lines.append(f"missing\tdisk:{mount}\tno {mount} file system in the simulation")
    for which, number in (("current", host.current), ("booted", host.booted)):
        gen = host.generation(number)
        kv(f"{which}-system", gen.path)
        for name, target in kernel_targets(gen.kernel).items():
            kv(f"{which}-{name}", target)
    current = host.generation(host.current)
    kv("profile-link", f"system-{current.number}-link")
    kv("system-profile", current.path)
    kv("profile-mtime", _epoch(current.date))
    kv("nixos-version", current.nixos_version)
    failed = sorted(unit for unit, state in host.units.items() if state == "failed")
    kv("system-running", "degraded" if failed else "running")
    kv("failed-units-listed", "yes")
    for unit in failed:
        kv("failed-unit", unit)
    kv("boot-id", host.boot_id)
    lines.append("end")
    return "".join(f"{line}\n" for line in lines)


def handle(lab: SimLab, host: str, command: str) -> SimResult | None:
    """The probe's answer for `host`, or None when `command` is not the probe."""
    if not is_probe_command(command):
        return None
    return SimResult(0, probe_output(lab.load(host)))
