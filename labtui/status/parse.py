"""Read the probe's output (labtui.status.probe, format in docs/status.md) into typed fields.

Pure: lines in, a ProbeReport out. It never raises on bad input: every field it cannot fill gets a
reason in `missing`, keyed by the HostStatus field name ("disks:/nix" for one disk).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from labtui.status.model import DiskUsage, SystemLink
from labtui.status.probe import PROBE_VERSION
from labtui.text import clip

_T = TypeVar("_T")

# Probe key -> HostStatus field it fills (for reasons given by `missing` lines).
_MISSING_KEY = {
    "hostname": "hostname",
    "uptime": "uptime_s",
    "load": "load",
    "cpus": "cpus",
    "mem-total-kb": "mem_total_bytes",
    "mem-available-kb": "mem_available_bytes",
    "current-system": "current_system",
    "booted-system": "booted_system",
    "profile-link": "generation",
    "system-profile": "system_profile",
    "profile-mtime": "generation_date",
    "nixos-version": "nixos_version",
    "system-running": "system_running",
    "failed-units": "failed_units",
    "boot-id": "boot_id",
}
# Fields a report should have; absent ones get a reason at the end of parsing.
REPORTED_FIELDS = ("hostname", "uptime_s", "load", "cpus", "mem_total_bytes", "mem_available_bytes",
                   "current_system", "booted_system", "system_profile", "generation", "generation_date",
                   "nixos_version", "system_running", "failed_units", "boot_id")
DISK_MOUNTS = ("/", "/nix")
# Bounds on what one probe answer can make labtui keep (the host decides what it sends).
MAX_LINE = 4096  # characters of one `key<TAB>value` line; a longer value is not used, and says why
MAX_FAILED_UNITS = 100  # unit names kept; the rest are counted (`failed_units_more`)
MAX_UNIT_NAME = 256  # characters of one unit name (systemd allows 255)
_GENERATION_LINK = re.compile(r"(?:^|/)system-(\d+)-link$")


@dataclass
class ProbeReport:
    """What one probe said. Field names match HostStatus so the poller can copy them over."""

    version: int | None = None  # None: the marker line was not found
    complete: bool = False  # the `end` line arrived (the output was not cut short)
    hostname: str | None = None
    uptime_s: float | None = None
    load: tuple[float, float, float] | None = None
    cpus: int | None = None
    mem_total_bytes: int | None = None
    mem_available_bytes: int | None = None
    disks: tuple[DiskUsage, ...] = ()
    current_system: SystemLink | None = None
    booted_system: SystemLink | None = None
    system_profile: str | None = None
    generation: int | None = None
    generation_date: str | None = None
    nixos_version: str | None = None
    system_running: str | None = None
    failed_units: tuple[str, ...] = ()
    failed_units_more: int = 0  # failed units beyond the MAX_FAILED_UNITS names kept
    boot_id: str | None = None
    missing: dict[str, str] = field(default_factory=dict)
    ignored_lines: int = 0  # lines after the marker that were not understood

    def status_fields(self) -> dict[str, Any]:
        """The HostStatus keyword arguments this report provides."""
        return {name: getattr(self, name) for name in _STATUS_FIELDS}


_STATUS_FIELDS = tuple(f.name for f in fields(ProbeReport) if f.name not in {"version", "complete", "ignored_lines"})


class _Builder:
    """Collects raw key/values, then types them; keeps parse_probe itself short."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.failed_units: list[str] = []
        self.failed_units_more = 0
        self.failed_units_listed = False
        self.missing: dict[str, str] = {}
        self.too_long: dict[str, int] = {}  # key -> length of its line, past MAX_LINE


def parse_probe(lines: Iterable[str]) -> ProbeReport:
    """Parse probe output. Text before the marker (login banners, rc-file noise) is skipped."""
    report = ProbeReport()
    raw = _Builder()
    for line in lines:
        line = line.rstrip("\r\n")
        if report.version is None:
            if line.startswith("labtui-probe "):
                word = line.split(" ", 1)[1].strip()
                report.version = int(word) if word.isdigit() else -1
            continue
        if report.version != PROBE_VERSION:
            break
        if line == "end":
            report.complete = True
            break
        key, sep, value = line.partition("\t")
        if not sep or not key:
            report.ignored_lines += 1
        elif key == "failed-unit":
            if len(raw.failed_units) < MAX_FAILED_UNITS:
                raw.failed_units.append(clip(value, MAX_UNIT_NAME))
            else:
                raw.failed_units_more += 1
        elif len(line) > MAX_LINE:
            raw.too_long.setdefault(key[:64], len(line))
        elif key == "missing":
            name, _, reason = value.partition("\t")
            raw.missing[name] = reason or "not reported"
        elif key == "failed-units-more":
            raw.failed_units_more += int(value) if value.isdigit() and len(value) < 10 else 0
        elif key == "failed-units-listed":
            raw.failed_units_listed = True
        else:
            raw.values.setdefault(key, value)
    _fill(report, raw)
    return report


def _fill(report: ProbeReport, raw: _Builder) -> None:
    missing = report.missing
    if report.version is None:
        reason = "no probe output (its first line `labtui-probe 1` never came)"
        missing.update({name: reason for name in REPORTED_FIELDS})
        return
    if report.version != PROBE_VERSION:
        reason = f"probe output version {report.version} is not understood by this labtui (wants {PROBE_VERSION})"
        missing.update({name: reason for name in REPORTED_FIELDS})
        return
    for key, length in raw.too_long.items():
        raw.missing.setdefault(key, f"the host sent {length} characters for it (over {MAX_LINE}: not used)")
    for key, reason in raw.missing.items():
        if key.startswith("disk:"):
            missing[f"disks:{key[5:]}"] = reason
        elif key in _MISSING_KEY:
            missing[_MISSING_KEY[key]] = reason
            if key == "profile-link":
                missing["system_profile"] = reason
                missing["generation_date"] = reason
        else:
            missing[key] = reason
    v = raw.values

    def typed(name: str, key: str, convert: Callable[[str], _T]) -> _T | None:
        if key not in v:
            return None
        try:
            return convert(v[key])
        except (ValueError, IndexError):
            missing[name] = f"unreadable value {v[key]!r}"
            return None

    report.hostname = typed("hostname", "hostname", _text)
    report.uptime_s = typed("uptime_s", "uptime", float)
    report.load = typed("load", "load", _load)
    report.cpus = typed("cpus", "cpus", int)
    report.mem_total_bytes = typed("mem_total_bytes", "mem-total-kb", lambda s: int(s) * 1024)
    report.mem_available_bytes = typed("mem_available_bytes", "mem-available-kb", lambda s: int(s) * 1024)
    report.disks, on_root = _disks(v, missing)
    for which in ("current", "booted"):
        name = f"{which}_system"
        path = typed(name, f"{which}-system", _text)
        if path:
            setattr(report, name, SystemLink(
                path=path,
                kernel=v.get(f"{which}-kernel") or None,
                initrd=v.get(f"{which}-initrd") or None,
                kernel_modules=v.get(f"{which}-kernel-modules") or None,
            ))
    report.system_profile = typed("system_profile", "system-profile", _text)
    report.generation = typed("generation", "profile-link", _generation)
    report.generation_date = typed("generation_date", "profile-mtime", _iso_from_epoch)
    report.nixos_version = typed("nixos_version", "nixos-version", _text)
    report.system_running = typed("system_running", "system-running", _text)
    if raw.failed_units_listed:
        report.failed_units = tuple(raw.failed_units)
        report.failed_units_more = raw.failed_units_more
    report.boot_id = typed("boot_id", "boot-id", _text)

    absent = "not in the probe output (it was cut short)" if not report.complete else "not reported by the host"
    for name in REPORTED_FIELDS:
        if name == "failed_units":
            if not raw.failed_units_listed:
                missing.setdefault(name, absent)
        elif getattr(report, name) is None:
            missing.setdefault(name, absent)
    for mount in DISK_MOUNTS:
        if not any(d.mount == mount for d in report.disks) and f"disks:{mount}" not in missing:
            # /nix on the same file system as / is not missing, just not separate.
            if mount not in on_root:
                missing[f"disks:{mount}"] = absent


def _disks(v: dict[str, str], missing: dict[str, str]) -> tuple[tuple[DiskUsage, ...], set[str]]:
    """`/` and `/nix` (only when /nix is its own file system), in bytes; and the mounts found on `/`'s."""
    disks: list[DiskUsage] = []
    mounted_on: dict[str, str] = {}
    on_root: set[str] = set()
    for mount in DISK_MOUNTS:
        value = v.get(f"disk:{mount}")
        if value is None:
            continue
        parts = value.split(" ", 3)
        try:
            total_kb, used_kb = int(parts[0]), int(parts[1])
            on = parts[3] if len(parts) > 3 else mount
        except (ValueError, IndexError):
            missing[f"disks:{mount}"] = f"unreadable df answer {value!r}"
            continue
        mounted_on[mount] = on
        if mount != "/" and mounted_on.get("/") == on:
            on_root.add(mount)
            continue
        disks.append(DiskUsage(mount=mount, used_bytes=used_kb * 1024, total_bytes=total_kb * 1024))
    return tuple(disks), on_root


def _text(s: str) -> str:
    s = s.strip()
    if not s:
        raise ValueError("empty")
    return s


def _load(s: str) -> tuple[float, float, float]:
    a, b, c = (float(x) for x in s.split())
    return (a, b, c)


def _generation(link: str) -> int:
    m = _GENERATION_LINK.search(link.strip())
    if not m:
        raise ValueError(link)
    return int(m.group(1))


def _iso_from_epoch(s: str) -> str:
    when = _dt.datetime.fromtimestamp(int(s.strip()), tz=_dt.UTC)
    return when.isoformat(timespec="seconds")
