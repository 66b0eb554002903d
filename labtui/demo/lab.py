"""The hosts of the embedded demo lab: a small NixOS home lab with one of every interesting situation.

`create_demo_lab(root, now=...)` writes their state into a SimLab directory. The content is fully
determined by `now` (no randomness), so the TUI snapshot tests get the same lab every time.

The cast (what each host shows in the dashboard):
  sleeper-service  main server, healthy, in sync
  grey-area        media box, running an older generation than the flake builds (drift: outdated)
  reverse-proxy    the edge proxy, marked critical (deploying it asks for its name to be typed)
  little-rascal    laptop whose current generation has a new kernel it has not booted (reboot needed)
  nas              storage box with a failed unit (zfs-scrub) and a fuller disk
  printer-pi       Raspberry Pi whose next deploy breaks ssh: magic rollback after the confirm timeout
  old-thinkpad     switched off: unreachable
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from labtui.sim.state import Generation, SimHost, SimLab, fake_store_path

GiB_KB = 1024 * 1024
DAY = 86400.0


@dataclass(frozen=True)
class DemoHostSpec:
    """How a demo host is set up; the inventory (labtui.demo.inventory) reads tags/critical from here."""

    name: str
    description: str
    tags: tuple[str, ...]
    critical: bool = False
    arch: str = "x86_64-linux"
    cpus: int = 4
    mem_gib: int = 8
    mem_used: float = 0.3  # fraction of memory in use
    # mount -> (fraction used, GiB); "/" and "/nix", the mounts the status probe reports
    disks: dict[str, tuple[float, int]] = field(default_factory=dict)
    load: float = 0.2  # 1-minute load, as a fraction of cpus
    generations: int = 20  # how many generations exist
    uptime_days: float = 10.0
    kernel: str = "6.6.63"
    new_kernel: str | None = None  # the current generation has this kernel, the booted one the old
    drift: bool = False  # the flake builds something newer than the current generation
    units: tuple[str, ...] = ()
    failed_units: tuple[str, ...] = ()
    next_deploy: str = "ok"
    reachable: bool = True


BASE_UNITS = ("sshd.service", "systemd-networkd.service", "systemd-resolved.service", "nix-daemon.service",
              "prometheus-node-exporter.service", "tailscaled.service")

DEMO_HOSTS: tuple[DemoHostSpec, ...] = (
    DemoHostSpec("sleeper-service", "main server: git, CI runners, databases", ("server", "prod"),
                 cpus=16, mem_gib=64, mem_used=0.42, load=0.18, generations=142, uptime_days=38.2,
                 disks={"/": (0.31, 480), "/nix": (0.57, 1800)},
                 units=("postgresql.service", "forgejo.service", "gitea-actions-runner.service", "redis.service")),
    DemoHostSpec("grey-area", "media and home automation", ("server", "media"),
                 cpus=8, mem_gib=32, mem_used=0.61, load=0.35, generations=87, uptime_days=12.7,
                 disks={"/": (0.48, 240), "/nix": (0.83, 500)}, drift=True,
                 units=("jellyfin.service", "home-assistant.service", "mosquitto.service")),
    DemoHostSpec("reverse-proxy", "edge proxy: TLS for everything", ("edge", "prod"), critical=True,
                 cpus=2, mem_gib=4, mem_used=0.37, load=0.08, generations=211, uptime_days=64.1,
                 disks={"/": (0.22, 40)},
                 units=("nginx.service", "acme-lab.example.org.service", "fail2ban.service")),
    DemoHostSpec("little-rascal", "laptop", ("laptop", "desktop"),
                 cpus=8, mem_gib=16, mem_used=0.55, load=0.6, generations=63, uptime_days=3.4,
                 kernel="6.6.63", new_kernel="6.12.4", disks={"/": (0.66, 1000)},
                 units=("NetworkManager.service", "pipewire.service", "syncthing.service")),
    DemoHostSpec("nas", "ZFS storage and backups", ("server", "storage"),
                 cpus=4, mem_gib=32, mem_used=0.71, load=0.45, generations=54, uptime_days=21.9,
                 disks={"/": (0.41, 120), "/nix": (0.91, 200)},
                 units=("zfs-zed.service", "nfs-server.service", "restic-backups-offsite.service", "smartd.service"),
                 failed_units=("zfs-scrub.service",)),
    DemoHostSpec("printer-pi", "Raspberry Pi 4: CUPS and a label printer", ("pi", "edge"), arch="aarch64-linux",
                 cpus=4, mem_gib=4, mem_used=0.33, load=0.12, generations=29, uptime_days=7.5,
                 disks={"/": (0.52, 32)}, drift=True, next_deploy="breaks-ssh",
                 units=("cups.service", "avahi-daemon.service")),
    DemoHostSpec("old-thinkpad", "spare laptop, usually off", ("laptop",),
                 cpus=4, mem_gib=8, generations=12, uptime_days=0.0, disks={"/": (0.35, 256)},
                 units=("NetworkManager.service",), reachable=False),
)

SPECS = {spec.name: spec for spec in DEMO_HOSTS}
DEFAULT_HOST_COUNT = len(DEMO_HOSTS)

# Hosts beyond the cast (`labtui demo --hosts N`): a company fleet, mostly healthy, with now and then a
# host that needs attention, so every state shows up at any size.
_ROLES: tuple[tuple[str, tuple[str, ...], tuple[str, ...], str], ...] = (
    ("web", ("server", "web", "prod"), ("nginx.service", "app.service"), "x86_64-linux"),
    ("db", ("server", "db", "prod"), ("postgresql.service", "pgbackrest.service"), "x86_64-linux"),
    ("cache", ("server", "cache"), ("redis.service",), "x86_64-linux"),
    ("worker", ("server", "ci"), ("gitea-actions-runner.service", "nix-daemon.service"), "x86_64-linux"),
    ("edge", ("edge", "prod"), ("haproxy.service", "fail2ban.service"), "x86_64-linux"),
    ("store", ("server", "storage"), ("nfs-server.service", "smartd.service"), "x86_64-linux"),
    ("kiosk", ("pi", "kiosk"), ("cage.service",), "aarch64-linux"),
)


def _fraction(name: str, what: str) -> float:
    """A stable pseudo-random number in [0, 1) for a host and a property (no global randomness)."""
    return int(hashlib.sha256(f"{name}/{what}".encode()).hexdigest()[:8], 16) / 2**32


def generated_host(index: int) -> DemoHostSpec:
    """The index-th host after the cast (0-based)."""
    role, tags, units, arch = _ROLES[index % len(_ROLES)]
    name = f"{role}-{index // len(_ROLES) + 1:03d}"
    f = partial(_fraction, name)
    cpus = 2 if arch == "aarch64-linux" else (4, 8, 16, 32)[int(f("cpus") * 4)]
    return DemoHostSpec(
        name=name, description=f"{role} host", tags=tags, arch=arch, cpus=cpus,
        mem_gib=max(4, cpus * 4), mem_used=round(0.2 + 0.6 * f("mem"), 2), load=round(0.05 + 0.6 * f("load"), 2),
        disks={"/": (round(0.15 + 0.6 * f("disk"), 2), 100), "/nix": (round(0.3 + 0.55 * f("nix"), 2), 400)},
        generations=10 + int(f("gens") * 200), uptime_days=round(0.5 + 90 * f("up"), 1),
        new_kernel="6.12.4" if index % 13 == 5 else None, drift=index % 9 == 4, units=units,
        failed_units=("logrotate.service",) if index % 17 == 8 else (), reachable=index % 50 != 27)


def fleet_specs(count: int = DEFAULT_HOST_COUNT) -> tuple[DemoHostSpec, ...]:
    """The demo lab of `count` hosts: the cast first (as many as fit), then generated hosts."""
    if count < 1:
        raise ValueError("a demo lab has at least one host")
    return DEMO_HOSTS[:count] + tuple(generated_host(i) for i in range(max(0, count - len(DEMO_HOSTS))))

# NixOS release per generation age: older generations ran older releases.
_RELEASES = (("24.05", "20240915"), ("24.11", "20250118"), ("25.05", "20250704"), ("25.11", "20251120"))
_UNIT_LINES = {
    "sshd.service": "Accepted publickey for root from 192.168.1.10 port 51234 ssh2: ED25519 SHA256:Qm2...",
    "nginx.service": "192.168.1.23 - - \"GET /api/health HTTP/2.0\" 200 17",
    "postgresql.service": "checkpoint complete: wrote 412 buffers (2.5%); 0 WAL file(s) added",
    "forgejo.service": "router: completed GET /explore/repos for 192.168.1.10:0, 200 OK in 12.1ms",
    "jellyfin.service": "[INF] Playback stopped reported by app \"Jellyfin Web\" playing \"Episode 4\"",
    "home-assistant.service": "Setup of domain mqtt took 0.4 seconds",
    "zfs-zed.service": "eid=214 class=history_event pool='tank'",
    "cups.service": "Job 118 queued on \"label-printer\" by \"root\"",
    "tailscaled.service": "magicsock: endpoints changed: 192.168.1.44:41641 (stun)",
    "nix-daemon.service": "accepted connection from pid 2211, user root (trusted)",
    "prometheus-node-exporter.service": "level=info msg=\"TLS is disabled.\" http2=false",
    "restic-backups-offsite.service": "processed 48213 files, 212.771 GiB in 6:21",
    "zfs-scrub.service": "cannot open 'tank/backup': dataset is busy",
}


def _stable_uuid(*parts: str) -> str:
    return str(uuid.UUID(hashlib.md5("/".join(parts).encode()).hexdigest()))


def _version_for(index: int, total: int) -> tuple[str, str]:
    """NixOS version string of the index-th (0-based) of `total` generations."""
    release, date = _RELEASES[min(len(_RELEASES) - 1, index * len(_RELEASES) // max(total, 1))]
    rev = hashlib.sha1(f"{release}{index}".encode()).hexdigest()[:7]
    return release, f"{release}.{date}.{rev}"


def _generations(spec: DemoHostSpec, now: float) -> list[Generation]:
    gens = []
    # Keep the last 12 (a real lab garbage-collects the rest); numbers keep counting.
    first = max(1, spec.generations - 11)
    for number in range(first, spec.generations + 1):
        age_days = (spec.generations - number) * 4.5 + 1.3
        release, version = _version_for(number - 1, spec.generations)
        kernel = spec.new_kernel if (spec.new_kernel and number == spec.generations) else spec.kernel
        gens.append(Generation(
            number=number,
            date=_iso(now - age_days * DAY),
            path=fake_store_path(f"nixos-system-{spec.name}-{version}", salt=str(number)),
            nixos_version=version,
            kernel=kernel,
        ))
    return gens


def _iso(ts: float) -> str:
    import datetime as _dt

    return _dt.datetime.fromtimestamp(ts, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_host(spec: DemoHostSpec, now: float) -> SimHost:
    gens = _generations(spec, now)
    current = gens[-1].number
    booted = gens[-2].number if spec.new_kernel else current
    if spec.drift:
        _, version = _version_for(spec.generations, spec.generations)
        flake_path = fake_store_path(f"nixos-system-{spec.name}-{version}", salt="flake")
    else:
        flake_path = gens[-1].path
    units = {u: "active" for u in BASE_UNITS + spec.units}
    units.update({u: "failed" for u in spec.failed_units})
    units["nixos-upgrade.service"] = "inactive"
    cpu_load = round(spec.load * spec.cpus, 2)
    host = SimHost(
        name=spec.name,
        generations=gens,
        current=current,
        booted=booted,
        flake_path=flake_path,
        units=units,
        cpus=spec.cpus,
        load=[cpu_load, round(cpu_load * 0.9, 2), round(cpu_load * 0.8, 2)],
        mem_total_kb=spec.mem_gib * GiB_KB,
        mem_available_kb=int(spec.mem_gib * GiB_KB * (1 - spec.mem_used)),
        disk={mount: [int(size * GiB_KB * used), size * GiB_KB] for mount, (used, size) in spec.disks.items()},
        boot_time=now - spec.uptime_days * DAY,
        boot_id=_stable_uuid(spec.name, "boot"),
        next_deploy=spec.next_deploy,
        reachable=spec.reachable,
    )
    _seed_journal(host, spec, now)
    return host


def _seed_journal(host: SimHost, spec: DemoHostSpec, now: float) -> None:
    units = list(BASE_UNITS + spec.units + spec.failed_units)
    for i in range(40):
        unit = units[i % len(units)]
        failed = unit in spec.failed_units
        message = _UNIT_LINES.get(unit, f"{unit.removesuffix('.service')}: ok")
        host.log(unit, message, priority=3 if failed else 6)
        host.journal[-1].ts = now - (40 - i) * 37.0
    for unit in spec.failed_units:
        host.log(unit, f"{unit}: Main process exited, code=exited, status=1/FAILURE", priority=3)
        host.journal[-1].ts = now - 300
        host.log(unit, f"{unit}: Failed with result 'exit-code'.", priority=3)
        host.journal[-1].ts = now - 299


def unit_line(unit: str) -> str:
    """A plausible journal message for `unit` (the ticker uses it for fresh lines)."""
    return _UNIT_LINES.get(unit, f"{unit.removesuffix('.service')}: ok")


def create_demo_lab(root: str | Path, *, now: float, specs: tuple[DemoHostSpec, ...] = DEMO_HOSTS) -> SimLab:
    lab = SimLab(root)
    Path(root).mkdir(parents=True, exist_ok=True)
    for spec in specs:
        lab.save(build_host(spec, now))
    return lab
