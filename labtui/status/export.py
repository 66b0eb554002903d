"""HostStatus as JSON for scripts (`labtui status --json`; schema in docs/status.md) and as short text."""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Iterable
from typing import Any

from labtui.ssh.api import HostState
from labtui.status.derive import data_age
from labtui.status.model import HostStatus, SystemLink

SCHEMA = "labtui.status/1"


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return _dt.datetime.fromtimestamp(ts, tz=_dt.UTC).isoformat(timespec="seconds")


def _link(link: SystemLink | None) -> dict[str, str | None] | None:
    if link is None:
        return None
    return {"path": link.path, "kernel": link.kernel, "initrd": link.initrd, "kernel_modules": link.kernel_modules}


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def status_json(status: HostStatus, now: float | None = None) -> dict[str, Any]:
    """One host, as documented in docs/status.md (`hosts[]`)."""
    now = time.time() if now is None else now
    return {
        "host": status.host,
        "state": status.state.value,
        "ok": status.state is HostState.UP,
        "error": status.error,
        "hint": status.hint,
        "observed_at": _iso(status.observed_at),
        "answered_at": _iso(status.answered_at),
        "data_age_s": _round(data_age(status, now)),
        "rtt_ms": _round(status.rtt_ms),
        "hostname": status.hostname,
        "uptime_s": _round(status.uptime_s, 0),
        "load": list(status.load) if status.load else None,
        "cpus": status.cpus,
        "memory": {
            "total_bytes": status.mem_total_bytes,
            "available_bytes": status.mem_available_bytes,
            "used_percent": _round(status.mem_used_percent),
        },
        "disks": [{"mount": d.mount, "used_bytes": d.used_bytes, "total_bytes": d.total_bytes,
                   "used_percent": round(d.percent, 1)} for d in status.disks],
        "current_system": _link(status.current_system),
        "booted_system": _link(status.booted_system),
        "system_profile": status.system_profile,
        "generation": status.generation,
        "generation_date": status.generation_date,
        "nixos_version": status.nixos_version,
        "system_running": status.system_running,
        "failed_units": list(status.failed_units),
        "failed_units_more": status.failed_units_more,
        "boot_id": status.boot_id,
        "reboot_needed": status.reboot_needed,
        "drift": status.drift,
        "flake_path": status.flake_path,
        "missing": dict(sorted(status.missing.items())),
    }


def fleet_json(statuses: Iterable[HostStatus], now: float | None = None) -> dict[str, Any]:
    """The whole answer of `labtui status --json`."""
    now = time.time() if now is None else now
    hosts = [status_json(s, now) for s in statuses]
    counts: dict[str, int] = {}
    for h in hosts:
        counts[h["state"]] = counts.get(h["state"], 0) + 1
    return {
        "schema": SCHEMA,
        "generated_at": _iso(now),
        "ok": all(h["ok"] for h in hosts),
        "counts": counts,
        "hosts": hosts,
    }


def human_duration(seconds: float | None) -> str:
    """Compact: 45s, 12m, 5h, 3d."""
    if seconds is None:
        return "-"
    s = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"
