"""What labtui concludes from a probe: host state, reboot needed, drift against the flake.

Pure functions over ProbeReport / HostStatus values, shared by the poller, the CLI and the TUI.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Protocol

from labtui.ssh.api import HostState, SshError
from labtui.status.model import Drift, HostStatus, SystemLink
from labtui.status.parse import ProbeReport

# `systemctl is-system-running` answers that mean "something needs a look".
DEGRADED_SYSTEM_STATES = frozenset({"degraded", "maintenance"})
UNITS_NAMED = 10  # failed units named in the one-line reason; the rest are counted


class FlakePaths(Protocol):
    """What the flake builds for a host (labtui.inventory.flake_paths.FlakePaths)."""

    @property
    def profile_path(self) -> str | None: ...

    @property
    def toplevel(self) -> str | None: ...


def host_state(report: ProbeReport) -> tuple[HostState, str | None]:
    """UP or DEGRADED for a host that answered the probe, with the reason when degraded."""
    if report.version is None or report.version < 0:
        return HostState.DEGRADED, "the probe gave no readable output"
    if not report.complete:
        return HostState.DEGRADED, "the probe output was cut short"
    if report.failed_units:
        n = len(report.failed_units) + report.failed_units_more
        names = ", ".join(report.failed_units[:UNITS_NAMED])
        if n > UNITS_NAMED:
            names += f" and {n - UNITS_NAMED} more"
        return HostState.DEGRADED, f"{n} failed unit{'s' if n != 1 else ''}: {names}"
    if report.system_running in DEGRADED_SYSTEM_STATES:
        return HostState.DEGRADED, f"systemd says the system is {report.system_running}"
    return HostState.UP, None


def reboot_needed(current: SystemLink | None, booted: SystemLink | None) -> bool | None:
    """True when the running kernel, initrd or kernel modules differ from the current system's.

    None when it cannot be told (not NixOS, or the links could not be read).
    """
    if current is None or booted is None:
        return None
    if current.path == booted.path:
        return False
    compared = False
    for attr in ("kernel", "initrd", "kernel_modules"):
        a, b = getattr(current, attr), getattr(booted, attr)
        if a is None or b is None:
            continue
        compared = True
        if a != b:
            return True
    return False if compared else None


def drift(status: HostStatus, flake: FlakePaths | None) -> Drift:
    """Does the host run what the flake builds for it?

    In sync when the flake's profile path is the host's system profile target, or its toplevel is
    /run/current-system; outdated when the host's side is known and neither matches; unknown when
    the flake has not been evaluated yet or the host did not say what it runs.
    """
    if flake is None:
        return "unknown"
    host_profile = status.system_profile
    host_current = status.current_system.path if status.current_system else None
    flake_profile = getattr(flake, "profile_path", None)
    flake_toplevel = getattr(flake, "toplevel", None)
    if flake_profile and host_profile and flake_profile == host_profile:
        return "in sync"
    if flake_toplevel and host_current and flake_toplevel == host_current:
        return "in sync"
    if (host_profile or host_current) and (flake_profile or flake_toplevel):
        return "outdated"
    return "unknown"


def with_flake(status: HostStatus, flake: FlakePaths | None, reason: str | None = None) -> HostStatus:
    """`status` with drift and flake_path set from the flake's answer (None: not known yet/failed)."""
    missing = dict(status.missing)
    if flake is None:
        missing["drift"] = reason or "the flake has not been evaluated yet"
        return replace(status, drift="unknown", flake_path=None, missing=missing)
    missing.pop("drift", None)
    path = getattr(flake, "toplevel", None) or getattr(flake, "profile_path", None)
    result = drift(status, flake)
    if result == "unknown":
        if not (getattr(flake, "profile_path", None) or getattr(flake, "toplevel", None)):
            missing["drift"] = reason or getattr(flake, "reason", None) or "the flake gave no store path"
        else:
            missing["drift"] = "the host did not report what it runs (not NixOS?)"
    return replace(status, drift=result, flake_path=path, missing=missing)


def status_from_report(host: str, report: ProbeReport, *, observed_at: float | None = None,
                       rtt_ms: float | None = None) -> HostStatus:
    """A HostStatus for a host that answered the probe (drift is left unknown; see with_flake)."""
    state, why = host_state(report)
    now = time.time() if observed_at is None else observed_at
    values = report.status_fields()
    reboot = reboot_needed(report.current_system, report.booted_system)
    missing = dict(report.missing)
    if reboot is None:
        missing.setdefault("reboot_needed", missing.get("booted_system") or missing.get("current_system")
                           or "kernel links could not be compared")
    values["missing"] = missing
    # One HostStatus made (a fleet of 500 polled every 5 s makes a hundred a second).
    return HostStatus(host=host, state=state, observed_at=now, answered_at=now, error=why, rtt_ms=rtt_ms,
                      reboot_needed=reboot, **values)


def status_from_error(host: str, error: SshError, *, observed_at: float | None = None,
                      previous: HostStatus | None = None) -> HostStatus:
    """A HostStatus for a host labtui could not probe: the error's state, message and hint.

    The last known values (load, generation...) are kept from `previous` so the screen does not go
    blank on a blip; `answered_at` (and `data_age`) tell how old they are.
    """
    now = time.time() if observed_at is None else observed_at
    if previous is not None and previous.answered_at is not None:
        return replace(previous, state=error.state, observed_at=now, error=error.message,
                       hint=error.hint or None, rtt_ms=None)
    return HostStatus(host=host, state=error.state, observed_at=now, error=error.message,
                      hint=error.hint or None,
                      missing={"probe": error.message})


def data_age(status: HostStatus, now: float | None = None) -> float | None:
    """Seconds since the host last answered the probe; None when it never did."""
    if status.answered_at is None:
        return None
    return max(0.0, (time.time() if now is None else now) - status.answered_at)
