"""What one probe tells about one host, plus what labtui derives from it.

Every probed field may be None; `missing[field]` then says why ("command not found", "no such file",
"not NixOS", "probe timed out", ...), so faces can show the reason instead of a blank.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from labtui.ssh.api import HostState

Drift = Literal["in sync", "outdated", "unknown"]


@dataclass(frozen=True)
class DiskUsage:
    mount: str
    used_bytes: int
    total_bytes: int

    @property
    def percent(self) -> float:
        return 100.0 * self.used_bytes / self.total_bytes if self.total_bytes else 0.0


@dataclass(frozen=True)
class SystemLink:
    """A system closure (/run/current-system, /run/booted-system) and the targets that decide reboots."""

    path: str
    kernel: str | None = None
    initrd: str | None = None
    kernel_modules: str | None = None


@dataclass(frozen=True)
class HostStatus:
    host: str  # inventory name
    state: HostState
    observed_at: float  # time.time() when the probe answered (or failed)
    error: str | None = None  # why the host is not up (one line), with `hint` how to fix
    hint: str | None = None
    rtt_ms: float | None = None
    hostname: str | None = None
    uptime_s: float | None = None
    load: tuple[float, float, float] | None = None
    cpus: int | None = None
    mem_total_bytes: int | None = None
    mem_available_bytes: int | None = None
    disks: tuple[DiskUsage, ...] = ()  # "/" and "/nix" when they are separate
    current_system: SystemLink | None = None
    booted_system: SystemLink | None = None
    system_profile: str | None = None  # resolved target of /nix/var/nix/profiles/system
    generation: int | None = None
    generation_date: str | None = None  # ISO 8601
    nixos_version: str | None = None
    system_running: str | None = None  # `systemctl is-system-running`: running, degraded, starting, ...
    failed_units: tuple[str, ...] = ()  # at most labtui.status.parse.MAX_FAILED_UNITS names
    failed_units_more: int = 0  # how many more units failed than are named above
    boot_id: str | None = None
    reboot_needed: bool | None = None  # None: unknown
    drift: Drift = "unknown"
    flake_path: str | None = None  # what the flake builds for this host, when evaluated
    missing: dict[str, str] = field(default_factory=dict)
    # time.time() of the last probe that answered; the probed fields above are that old. None: never.
    # (On a failed probe labtui keeps the last known values; observed_at is then the failure's time.)
    answered_at: float | None = None

    @property
    def failed_units_count(self) -> int:
        return len(self.failed_units) + self.failed_units_more

    @property
    def mem_used_percent(self) -> float | None:
        if self.mem_total_bytes and self.mem_available_bytes is not None:
            return 100.0 * (self.mem_total_bytes - self.mem_available_bytes) / self.mem_total_bytes
        return None

    def disk(self, mount: str) -> DiskUsage | None:
        for d in self.disks:
            if d.mount == mount:
                return d
        return None
