"""How the simulated hosts answer the ops commands: journalctl (with -f and cursors), systemctl
is-active / failed units / is-system-running, the generations listing, generation switches,
diff-closures, reboot (the host really goes away and comes back), and the resource commands.

Reboot timing and "never comes back" are per-host settings (`configure_host`), kept next to the lab
state in `<lab>/.ops/<host>.json` so the demo servers and the tests see the same values.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shlex
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from labtui.ops import checks, generations, logs, reboot
from labtui.sim.handlers import Answer, SimResult
from labtui.sim.state import Generation, JournalEntry, SimHost, SimLab, fake_store_path
from labtui.ssh.api import HostUnreachable

# How often a `journalctl -f` stream looks for new entries in the lab state (simulation only).
FOLLOW_POLL = 0.05


@dataclass
class SimOpsConfig:
    systemd_run: bool = True  # the host has systemd-run (a NixOS host does; a container or chroot may not)
    switch_seconds: float = 0.0  # how long switch-to-configuration takes (a dropped session can land meanwhile)
    switch_drops_network: float = 0.0  # the switch restarts the network: SSH is gone this long from its start
    reboot_down_after: float = 0.3  # seconds between the reboot command and SSH going away
    reboot_back_after: float = 2.0  # seconds the host stays down
    startup: float = 1.0  # seconds `systemctl is-system-running` says "starting" after boot
    comes_back: bool = True  # False: a host that never comes back from a reboot


def configure_host(lab: SimLab, host: str, **settings: object) -> SimOpsConfig:
    config = load_config(lab, host)
    for key, value in settings.items():
        if not hasattr(config, key):
            raise TypeError(f"unknown sim ops setting {key}")
        setattr(config, key, value)
    path = lab.root / ".ops" / f"{host}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(config)))
    return config


def load_config(lab: SimLab, host: str) -> SimOpsConfig:
    path = lab.root / ".ops" / f"{host}.json"
    if path.exists():
        return SimOpsConfig(**json.loads(path.read_text()))
    return SimOpsConfig()


# ---------------------------------------------------------------------------------------------


def handle(lab: SimLab, host: str, command: str) -> Answer | None:
    command = _unwrap_sudo(command)
    if command == generations.GENERATIONS_COMMAND:
        return _generations(lab.load(host))
    if command == generations.SYSTEM_STATE_COMMAND:
        return _system_state(lab.load(host))
    if command == checks.MEMORY_COMMAND:
        return _meminfo(lab.load(host))
    if command == checks.LOAD_COMMAND:
        sim = lab.load(host)
        return SimResult(0, f"{' '.join(f'{x:.2f}' for x in sim.load)} 1/200 4242\n{sim.cpus}\n")
    if command == checks.FAILED_UNITS_COMMAND:
        sim = lab.load(host)
        return SimResult(0, "".join(f"{u} loaded failed failed {u}\n" for u, s in sorted(sim.units.items())
                                    if s == "failed"))
    if command == reboot.BOOT_ID_COMMAND:
        return SimResult(0, lab.load(host).boot_id + "\n")
    if command == reboot.SYSTEM_RUNNING_COMMAND:
        return _system_running(lab, lab.load(host))
    if command == reboot.REBOOT_NEEDED_COMMAND:
        return _reboot_needed(lab.load(host))
    if command == reboot.REBOOT_COMMAND:
        return _reboot(lab, host)
    try:
        argv = shlex.split(command)
    except ValueError:
        return None
    if not argv:
        return None
    if argv[:2] == ["/bin/sh", "-c"] and len(argv) == 3 and argv[2].startswith(logs.JOURNALCTL_PREFIX):
        # labtui.ops.logs wraps journalctl in a guard for hosts without it, with stderr merged.
        answer = _journalctl(lab, host, shlex.split(argv[2][len(logs.JOURNALCTL_PREFIX):].removesuffix(" 2>&1"))[1:])
        if isinstance(answer, SimResult):
            return SimResult(answer.exit_status, answer.stdout + answer.stderr)
        return answer
    if argv[0] == "journalctl":
        return _journalctl(lab, host, argv[1:])
    if argv[:3] == ["systemctl", "is-active", "--"] and len(argv) == 4:
        state = lab.load(host).units.get(argv[3], "inactive")
        return SimResult(0 if state == "active" else 3, state + "\n")
    if argv[:3] == ["df", "-Pk", "--"] and len(argv) == 4:
        return _df(lab.load(host), argv[3])
    script = argv[2] if argv[:2] == ["/bin/sh", "-c"] and len(argv) == 3 else command
    if script.startswith(_SWITCH_START):
        return _switch(lab, host, script)
    if script.startswith(_SWITCH_STATE_START):
        return _switch_state(lab, host, script)
    if argv[0] == "nix" and "diff-closures" in argv:
        return _diff(lab.load(host), argv[-2:])
    return _simple_command(argv)


def _unwrap_sudo(command: str) -> str:
    """`sudo -u root /bin/sh -c '<cmd>'` (privilege.wrap) → `<cmd>`: the simulated hosts run everything as root."""
    if not command.startswith("sudo "):
        return command
    try:
        argv = shlex.split(command)
    except ValueError:
        return command
    for i in range(len(argv) - 2):
        if argv[i : i + 2] == ["/bin/sh", "-c"]:
            return argv[i + 2]
    return shlex.join(argv[1:])


def _simple_command(argv: list[str]) -> SimResult | None:
    """A few shell builtins so `command` checks in the demo can pass or fail."""
    if argv == ["true"]:
        return SimResult(0)
    if argv == ["false"]:
        return SimResult(1)
    if argv[0] == "exit" and len(argv) == 2 and argv[1].isdigit():
        return SimResult(int(argv[1]))
    if argv[0] == "curl":
        return SimResult(0, "ok\n")
    return None


def _epoch(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def _kernel_path(version: str) -> str:
    return f"{fake_store_path('linux-' + version)}/bzImage"


def _generations(sim: SimHost) -> SimResult:
    out = [f"current\t{sim.generation(sim.current).path}", f"booted\t{sim.generation(sim.booted).path}",
           f"profile\tsystem-{sim.profile if sim.profile is not None else sim.current}-link"]
    for g in sorted(sim.generations, key=lambda g: str(g.number)):  # the shell glob sorts as text
        out.append(f"gen\t{g.number}\t{_epoch(g.date)}\t{g.path}\t{g.nixos_version}\t{_kernel_path(g.kernel)}")
    return SimResult(0, "\n".join(out) + "\n")


def _system_state(sim: SimHost) -> SimResult:
    """labtui.ops.generations.SYSTEM_STATE_SCRIPT: a simulated host never has an activation still running."""
    profile = sim.profile if sim.profile is not None else sim.current
    return SimResult(0, f"current\t{sim.generation(sim.current).path}\n"
                        f"profile\tsystem-{profile}-link\t{sim.generation(profile).path}\n"
                        f"running\t{sim.current}\nactivating\t0\n")


def _meminfo(sim: SimHost) -> SimResult:
    free = sim.mem_available_kb // 2
    return SimResult(0, f"MemTotal:       {sim.mem_total_kb} kB\nMemFree:        {free} kB\n"
                        f"MemAvailable:   {sim.mem_available_kb} kB\n")


def _df(sim: SimHost, mount: str) -> SimResult:
    disks = sim.disk or {"/": [40 * 1024 * 1024, 100 * 1024 * 1024]}
    if mount not in disks:
        return SimResult(1, "", f"df: {mount}: No such file or directory\n")
    used, total = disks[mount]
    pct = -(-100 * used // total) if total else 0
    return SimResult(0, "Filesystem     1024-blocks      Used Available Capacity Mounted on\n"
                        f"/dev/sda1       {total} {used} {total - used} {pct}% {mount}\n")


def _system_running(lab: SimLab, sim: SimHost) -> SimResult:
    if time.time() - sim.boot_time < load_config(lab, sim.name).startup:
        return SimResult(1, "starting\n")
    if any(state == "failed" for state in sim.units.values()):
        return SimResult(1, "degraded\n")
    return SimResult(0, "running\n")


def _reboot_needed(sim: SimHost) -> SimResult:
    booted, current = sim.generation(sim.booted).kernel, sim.generation(sim.current).kernel
    lines = []
    for link in ("kernel", "initrd", "kernel-modules"):
        lines.append(f"{link}\t{fake_store_path(f'{link}-{booted}')}\t{fake_store_path(f'{link}-{current}')}")
    return SimResult(0, "\n".join(lines) + "\n")


_SWITCH_START = f"nix-env -p {generations.PROFILE} --switch-generation "
_SWITCH_STATE_START = "if [ -e /run/labtui-switch-"
_SWITCH_UNIT = f"{generations.SWITCH_UNIT}.service"
_SWITCH_OUTPUT = ("activating the configuration...\nsetting up /etc...\nreloading user units for root...\n"
                  "restarting sysinit-reactivation.target\n")


def _switch(lab: SimLab, host: str, script: str) -> SimResult | Awaitable[SimResult]:
    """labtui.ops.generations.switch_script: move the profile, then activate under systemd-run (or, on a host set up
    without it, in the session). With `switch_seconds`, a session that drops meanwhile stops an in-session switch
    half-way (profile moved, system not switched) but not one under systemd-run, which ends and leaves its status."""
    match = re.match(re.escape(_SWITCH_START) + r"(\d+)", script)
    status = generations.STATUS_FILE_RE.search(script)
    if match is None or status is None:
        return SimResult(1, "", "error: unsupported switch in the simulated lab\n")
    number = int(match.group(1))
    config = load_config(lab, host)
    with lab.update(host) as sim:
        try:
            sim.generation(number)
        except KeyError:
            return SimResult(1, "", f"error: generation {number} does not exist\n")
        previous = sim.profile if sim.profile is not None else sim.current
        sim.profile = number
        if config.systemd_run:
            sim.units[_SWITCH_UNIT] = "active"
    note = generations.DETACHED_NOTE if config.systemd_run else generations.IN_SESSION_NOTE
    err = f"switching profile from version {previous} to {number}\n{note}\n{_SWITCH_OUTPUT}"
    status_path = status.group(0) if config.systemd_run else None
    if config.switch_seconds <= 0:
        _activate(lab, host, number, status_path)
        return SimResult(0, "", err)
    if config.switch_drops_network > 0:  # like a switch that restarts sshd or the network: every session drops
        _set_reachable(lab, host, False)
        _later(config.switch_drops_network, lambda: _set_reachable(lab, host, True))
    return _slow_switch(lab, host, number, status_path, config.switch_seconds, err)


def _set_reachable(lab: SimLab, host: str, reachable: bool) -> None:
    with lab.update(host) as sim:
        sim.reachable = reachable


async def _slow_switch(lab: SimLab, host: str, number: int, status_path: str | None, seconds: float,
                       err: str) -> SimResult:
    started = time.monotonic()
    try:
        await asyncio.sleep(seconds)  # the simulated switch-to-configuration at work
    except asyncio.CancelledError:
        if status_path is not None:  # under systemd-run: the unit does not care that its client went away
            _later(max(0.0, seconds - (time.monotonic() - started)), lambda: _activate(lab, host, number, status_path))
        raise
    _activate(lab, host, number, status_path)
    return SimResult(0, "", err)


def _activate(lab: SimLab, host: str, number: int, status_path: str | None) -> None:
    with lab.update(host) as sim:
        gen = sim.generation(number)
        sim.current = number
        sim.profile = None
        sim.log("nixos-activation", f"switching to system configuration {gen.path}")
        # A switch restarts what the bad generation broke: failed units come back up.
        for unit, state in sim.units.items():
            if state == "failed":
                sim.units[unit] = "active"
                sim.log(unit, f"Started {unit}.")
        sim.units.pop(_SWITCH_UNIT, None)  # --collect: the transient unit is gone once it ended
        if status_path is not None:
            sim.run_files[status_path] = "0\n"


def _switch_state(lab: SimLab, host: str, script: str) -> SimResult:
    """labtui.ops.generations.switch_state_command: the status file (then removed), else whether the unit runs."""
    status = generations.STATUS_FILE_RE.search(script)
    if status is None:
        return SimResult(1, "", "error: unsupported switch state query in the simulated lab\n")
    with lab.update(host) as sim:
        text = sim.run_files.pop(status.group(0), None)
        running = sim.units.get(_SWITCH_UNIT) == "active"
    if text is not None:
        return SimResult(0, text)
    return SimResult(0, "running\n" if running else "gone\n")


def _diff(sim: SimHost, links: list[str]) -> SimResult:
    found: list[Generation] = []
    for link in links:
        match = re.search(r"system-(\d+)-link$", link)
        try:
            generation = sim.generation(int(match.group(1))) if match else None
        except KeyError:
            generation = None
        if generation is None:
            return SimResult(1, "", f"error: path '{link}' does not exist\n")
        found.append(generation)
    a, b = found
    lines = []
    if a.nixos_version != b.nixos_version:
        lines.append(f"nixos-system-{sim.name}: {a.nixos_version} → {b.nixos_version}")
    if a.kernel != b.kernel:
        lines.append(f"linux: {a.kernel} → {b.kernel}, +{(len(b.kernel) % 7) + 1}.2 MiB")
    # A few plausible package changes, stable for a pair of generations.
    seed = hashlib.sha256(f"{a.path}{b.path}".encode()).digest()
    packages = {"openssl": "3.3", "nginx": "1.26", "systemd": "256", "glibc": "2.40", "curl": "8.11",
                "python3": "3.12", "sqlite": "3.46", "tailscale": "1.76"}
    for i, (name, base) in enumerate(packages.items()):
        if seed[i] % 3 == 0 and a.path != b.path:
            old, new = f"{base}.{seed[i + 8] % 5}", f"{base}.{seed[i + 8] % 5 + 1}"
            sign = "+" if seed[i + 16] % 2 else "-"
            lines.append(f"{name}: {old} → {new}, {sign}{seed[i + 24] % 90 + 1}.{seed[i] % 10} KiB")
    return SimResult(0, "".join(line + "\n" for line in lines))


# ---------------------------------------------------------------------------------------------
# Reboot: the command returns at once (like systemd-run --on-active), then the host goes away and,
# unless configured not to, comes back with a new boot id, booted = current, failed units cleared.


def _reboot(lab: SimLab, host: str) -> SimResult:
    config = load_config(lab, host)
    with lab.update(host) as sim:
        sim.log("systemd", "Reboot scheduled by labtui.")
    _later(config.reboot_down_after, lambda: _go_down(lab, host))
    if config.comes_back:
        _later(config.reboot_down_after + config.reboot_back_after, lambda: _come_back(lab, host))
    return SimResult(0, "", "Running timer as unit: run-r0ebd6f.timer\nWill run service as unit: run-r0ebd6f.service\n")


def _later(delay: float, action: Callable[[], object]) -> None:
    try:
        asyncio.get_running_loop().call_later(delay, action)
    except RuntimeError:  # called outside an event loop (a synchronous caller)
        timer = threading.Timer(delay, action)
        timer.daemon = True
        timer.start()


def _go_down(lab: SimLab, host: str) -> None:
    with lab.update(host) as sim:
        sim.log("systemd", "Reached target System Reboot.", priority=5)
        sim.reachable = False


def _come_back(lab: SimLab, host: str) -> None:
    with lab.update(host) as sim:
        sim.reachable = True
        sim.boot_id = str(uuid.uuid4())
        sim.boot_time = time.time()
        sim.booted = sim.current
        for unit in sim.units:
            if sim.units[unit] == "failed":
                sim.units[unit] = "active"
        sim.log("kernel", f"Linux version {sim.generation(sim.current).kernel} (nixbld@localhost)", priority=5)
        sim.log("systemd", "Startup finished.")


# ---------------------------------------------------------------------------------------------
# journalctl -o json [-u UNIT]... [-p PRIO] [-n N] [--since T] [--after-cursor C] [-f]

_PRIORITIES = {"emerg": 0, "alert": 1, "crit": 2, "err": 3, "warning": 4, "notice": 5, "info": 6, "debug": 7}


def cursor_of(entry: JournalEntry) -> str:
    return f"s=sim;i={entry.cursor:x}"


def _cursor_number(cursor: str) -> int | None:
    match = re.search(r"i=([0-9a-f]+)", cursor)
    return int(match.group(1), 16) if match else None


def _since(value: str) -> float | None:
    now = time.time()
    if value in ("today", "yesterday"):
        midnight = datetime.now().replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        return midnight - (86400 if value == "yesterday" else 0)
    if value == "now":
        return now
    match = re.fullmatch(r"-(\d+)\s*(s|sec|m|min|h|d)", value)
    if match:
        return now - int(match.group(1)) * {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}[match.group(2)]
    if value.startswith("@") and value[1:].replace(".", "", 1).isdigit():
        return float(value[1:])
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def _journal_json(sim: SimHost, entry: JournalEntry) -> str:
    return json.dumps({
        "__CURSOR": cursor_of(entry), "__REALTIME_TIMESTAMP": str(int(entry.ts * 1_000_000)),
        "_HOSTNAME": sim.name, "PRIORITY": str(entry.priority), "_SYSTEMD_UNIT": entry.unit,
        "SYSLOG_IDENTIFIER": entry.unit.removesuffix(".service"), "MESSAGE": entry.message,
    })


def _journalctl(lab: SimLab, host: str, args: list[str]) -> SimResult | AsyncIterator[str]:
    units: list[str] = []
    priority, lines, since, after, follow, json_out = 7, None, None, None, False, False
    split: list[str] = []
    for arg in args:  # --opt=value → --opt value
        if arg.startswith("--") and "=" in arg:
            split.extend(arg.split("=", 1))
        else:
            split.append(arg)
    it = iter(split)
    for arg in it:
        try:
            if arg in ("-u", "--unit"):
                units.append(next(it))
            elif arg in ("-p", "--priority"):
                value = next(it)
                priority = int(value) if value.isdigit() else _PRIORITIES.get(value, -1)
                if priority < 0:
                    return SimResult(1, "", f"Failed to parse priority value: {value}\n")
            elif arg in ("-n", "--lines"):
                value = next(it)
                lines = None if value == "all" else int(value)
            elif arg in ("-S", "--since"):
                value = next(it)
                since = _since(value)
                if since is None:
                    return SimResult(1, "", f'Failed to parse timestamp: {value}\n')
            elif arg == "--after-cursor":
                after = _cursor_number(next(it))
            elif arg in ("-f", "--follow"):
                follow = True
            elif arg in ("-o", "--output"):
                json_out = next(it) == "json"
            elif arg in ("--no-pager", "-q", "--quiet", "--no-tail"):
                pass
            else:
                return SimResult(1, "", f"journalctl: unrecognized option '{arg}'\n")
        except (StopIteration, ValueError):
            return SimResult(1, "", f"journalctl: option '{arg}' requires a valid argument\n")

    def matches(entry: JournalEntry) -> bool:
        return ((not units or entry.unit in units) and entry.priority <= priority
                and (since is None or entry.ts >= since) and (after is None or entry.cursor > after))

    sim = lab.load(host)

    def render(entry: JournalEntry) -> str:
        if json_out:
            return _journal_json(sim, entry)
        stamp = datetime.fromtimestamp(entry.ts, UTC).strftime("%b %d %H:%M:%S")
        return f"{stamp} {sim.name} {entry.unit.removesuffix('.service')}: {entry.message}"

    selected = [e for e in sim.journal if matches(e)]
    if lines is None and follow and after is None:
        lines = 10  # journalctl -f shows the last 10 lines first
    if lines is not None:
        selected = selected[-lines:] if lines else []
    if not follow:
        return SimResult(0, "".join(render(e) + "\n" for e in selected))
    last = sim.journal[-1].cursor if sim.journal else 0

    async def stream() -> AsyncIterator[str]:
        nonlocal last
        for entry in selected:
            yield render(entry)
        while True:
            await asyncio.sleep(FOLLOW_POLL)
            current = lab.load(host)
            if not current.reachable:
                raise HostUnreachable(host, "connection lost (simulated host went down)")
            for entry in current.journal:
                if entry.cursor > last:
                    last = entry.cursor
                    if matches(entry):
                        yield render(entry)

    return stream()
