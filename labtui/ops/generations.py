"""A host's system generations: list them, switch to one (rollback), diff two.

Listing is one POSIX sh command over the profile links (no nixos-rebuild needed on the host); the
switch is what `nixos-rebuild --rollback switch` does: move the profile, then run the generation's
`bin/switch-to-configuration switch`, with the host's sudo settings, under systemd-run like nixos-rebuild
(docs/ops.md, "Rollback survives a dropped session").
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from labtui.errors import EXIT_FAILED, UserError
from labtui.inventory.model import Host
from labtui.ops.privilege import privilege_for
from labtui.runs.events import SystemState
from labtui.ssh.api import MAX_OUTPUT, CommandTimeout, HostUnreachable, RemoteShell, SshError
from labtui.text import clip

PROFILE = "/nix/var/nix/profiles/system"

# One line per fact, tab-separated, so the parser never guesses. `stat -c %Y` is the link's mtime:
# when the generation was created (what nix-env --list-generations shows too).
GENERATIONS_SCRIPT = r"""cd /nix/var/nix/profiles 2>/dev/null || {
  echo 'no /nix/var/nix/profiles: not a NixOS host' >&2; exit 3; }
printf 'current\t%s\n' "$(readlink /run/current-system)"
printf 'booted\t%s\n' "$(readlink /run/booted-system)"
printf 'profile\t%s\n' "$(readlink system)"
for l in system-*-link; do
  [ -L "$l" ] || continue
  n=${l#system-}; n=${n%-link}
  printf 'gen\t%s\t%s\t%s\t%s\t%s\n' "$n" "$(stat -c %Y "$l")" "$(readlink "$l")" \
    "$(cat "$l/nixos-version" 2>/dev/null)" "$(readlink "$l/kernel")"
done"""
# Under `/bin/sh -c` so a fish or zsh login shell never parses the script itself.
GENERATIONS_COMMAND = f"/bin/sh -c {shlex.quote(GENERATIONS_SCRIPT)}"


@dataclass(frozen=True)
class GenerationInfo:
    number: int
    date: str  # ISO 8601 UTC
    path: str  # toplevel store path
    nixos_version: str
    kernel: str  # kernel version from the kernel's store path name ("6.6.30"), "" when unknown
    current: bool  # /run/current-system
    booted: bool  # /run/booted-system
    default: bool  # what /nix/var/nix/profiles/system points to (next boot)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class ClosureChange:
    package: str
    change: str  # "1.2 → 1.3", "∅ → 2.0", "" when only the size changed
    size_delta: str  # "+12.3 KiB", "" when none printed

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


_KERNEL_RE = re.compile(r"/[a-z0-9]{32}-linux-([^/]+)/")  # <store>/<hash>-linux-6.6.30/bzImage


def parse_generations(stdout: str) -> list[GenerationInfo]:
    marks: dict[str, str] = {}
    rows: list[list[str]] = []
    for line in stdout.splitlines():
        fields = line.split("\t")
        if fields[0] in ("current", "booted", "profile") and len(fields) == 2:
            marks[fields[0]] = fields[1]
        elif fields[0] == "gen" and len(fields) == 6 and fields[1].isdigit():
            rows.append(fields[1:])
    default_link = marks.get("profile", "")
    gens = []
    for number, mtime, path, version, kernel_link in rows:
        try:
            date = datetime.fromtimestamp(int(mtime), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            date = ""
        match = _KERNEL_RE.search(kernel_link + "/")
        gens.append(GenerationInfo(
            number=int(number), date=date, path=path, nixos_version=version,
            kernel=match.group(1) if match else "",
            current=bool(path) and path == marks.get("current"),
            booted=bool(path) and path == marks.get("booted"),
            default=default_link == f"system-{number}-link",
        ))
    return sorted(gens, key=lambda g: g.number)


async def list_generations(shell: RemoteShell, host: str, *, timeout: float = 30.0) -> list[GenerationInfo]:
    """The system profile's generations, oldest first. UserError when the host is not NixOS or unreachable."""
    try:
        result = await shell.run(host, GENERATIONS_COMMAND, timeout=timeout)
    except SshError as exc:
        raise UserError(f"{host}: cannot list generations: {exc.message}", detail=exc.hint,
                        exit_code=EXIT_FAILED) from None
    if result.truncated:
        raise UserError(f"{host}: cannot list generations: the host answered more than {MAX_OUTPUT // 2**20} MB "
                        "(truncated); look at /nix/var/nix/profiles on the host", exit_code=EXIT_FAILED)
    if not result.ok:
        reason = result.stderr.strip().splitlines()[-1:] or [f"exit {result.exit_status}"]
        raise UserError(f"{host}: cannot list generations: {clip(reason[0], 300)}", exit_code=EXIT_FAILED)
    gens = parse_generations(result.stdout)
    if not gens:
        raise UserError(f"{host}: no system generations under {PROFILE}-*-link; is it a NixOS host?",
                        exit_code=EXIT_FAILED)
    return gens


def current_of(gens: Sequence[GenerationInfo]) -> GenerationInfo | None:
    return next((g for g in gens if g.current), None)


def rollback_target(gens: Sequence[GenerationInfo], to: int | None) -> GenerationInfo:
    """The generation to switch to: `to`, or the newest one older than the current (like --rollback)."""
    if to is not None:
        for g in gens:
            if g.number == to:
                return g
        have = ", ".join(str(g.number) for g in gens) or "none"
        raise UserError(f"generation {to} does not exist (have {have}); pick one from `labtui generations`")
    current = current_of(gens)
    if current is None:
        raise UserError("the running system is not one of the profile's generations; use --to N to pick one")
    older = [g for g in gens if g.number < current.number]
    if not older:
        raise UserError(f"generation {current.number} is the oldest one left; nothing to roll back to")
    return older[-1]


# The switch runs the way nixos-rebuild runs it (nixos-rebuild-ng's SWITCH_TO_CONFIGURATION_CMD_PREFIX, the bash
# script's systemd-run call): in a transient unit of the host's systemd, so an sshd or network restart during the
# switch, or a dropped SSH session, no longer kills it half-way (nixpkgs#39118). The unit name is nixos-rebuild's
# own, so labtui and a hand-run nixos-rebuild never switch the same host at once. `--wait` as the bash script has it.
SWITCH_UNIT = "nixos-rebuild-switch-to-configuration"
SYSTEMD_RUN = ("systemd-run", "-E", "LOCALE_ARCHIVE", "-E", "NIXOS_INSTALL_BOOTLOADER", "--collect",
               "--no-ask-password", "--pipe", "--quiet", "--service-type=exec", f"--unit={SWITCH_UNIT}", "--wait")
# First line of the switch's stderr, saying how it runs (the outcome and the CLI read them back).
DETACHED_NOTE = (f"labtui: running switch-to-configuration under systemd-run (unit {SWITCH_UNIT}): "
                 "a dropped connection does not stop it")
IN_SESSION_NOTE = ("labtui: no systemd-run on this host: running switch-to-configuration in this SSH session "
                   "(a dropped connection would interrupt it)")
# The unit writes the switch's exit status here, so it is known even when the session that started it is gone.
_STATUS_DIR = "/run"
STATUS_FILE_RE = re.compile(r"/run/labtui-switch-([0-9a-f]{16})\.status")
_TOKEN_RE = re.compile(r"[0-9a-f]{16}")


def new_switch_token() -> str:
    import secrets

    return secrets.token_hex(8)


def status_file(token: str) -> str:
    if not _TOKEN_RE.fullmatch(token):
        raise ValueError(f"bad switch token {token!r}")
    return f"{_STATUS_DIR}/labtui-switch-{token}.status"


def switch_script(number: int, token: str) -> str:
    """Move the profile to generation `number` and activate it (what `nixos-rebuild switch --rollback` does),
    under systemd-run when the host has it (/run/systemd/system, as nixos-rebuild-ng checks), else in the session.

    POSIX sh, run as root (labtui.ops.privilege wraps it). The unit runs `/bin/sh -c` around the switch only to
    write its exit status to `status_file(token)`."""
    link = f"{PROFILE}-{int(number)}-link"
    inside_unit = '"$0/bin/switch-to-configuration" switch; rc=$?; echo "$rc" > "$1"; exit "$rc"'
    return "\n".join([
        f"nix-env -p {PROFILE} --switch-generation {int(number)} || exit",
        "export NIXOS_INSTALL_BOOTLOADER=0",
        "if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1; then",
        f"  echo {shlex.quote(DETACHED_NOTE)} >&2",
        f"  exec {' '.join(SYSTEMD_RUN)} /bin/sh -c {shlex.quote(inside_unit)} {link} {status_file(token)}",
        "fi",
        f"echo {shlex.quote(IN_SESSION_NOTE)} >&2",
        f"exec {link}/bin/switch-to-configuration switch",
    ])


def switch_command(number: int, token: str | None = None) -> str:
    """The switch as one command line for a login shell of any kind: `/bin/sh -c '<switch_script>'`."""
    return f"/bin/sh -c {shlex.quote(switch_script(number, token or new_switch_token()))}"


def switch_state_command(token: str) -> str:
    """After a dropped session: the switch's exit status (and the file removed), `running` while the unit still
    runs, or `gone` when neither (it never ran under systemd-run, or the host rebooted)."""
    path = status_file(token)
    return (f"/bin/sh -c {shlex.quote(f'if [ -e {path} ]; then cat {path} && rm -f {path}; ')}"
            f"{shlex.quote(f'elif systemctl is-active --quiet {SWITCH_UNIT}.service 2>/dev/null; then echo running; ')}"
            f"{shlex.quote('else echo gone; fi')}")


def host_switch_command(host: Host, number: int, token: str) -> str:
    """The switch as labtui sends it to `host`: through its sudo settings, or `/bin/sh -c` for a root login."""
    privilege = privilege_for(host)
    return privilege.wrap(switch_script(number, token)) if privilege.prefix else switch_command(number, token)


@dataclass(frozen=True)
class SwitchOutcome:
    host: str
    from_generation: int | None
    to_generation: int
    ok: bool
    output: str  # combined stdout/stderr of the switch, for the journal and the CLI
    detached: bool | None = None  # ran under systemd-run (True), in the session (False), unknown (None)
    dropped: str | None = None  # why the session dropped during the switch, when it did

    @property
    def message(self) -> str:
        if self.ok:
            text = f"switched from generation {self.from_generation} to {self.to_generation}"
            return text + (" (the SSH session dropped meanwhile; the switch went on under systemd-run)"
                           if self.dropped else "")
        tail = self.output.strip().splitlines()[-1:] or ["no output"]
        return f"switch to generation {self.to_generation} failed: {tail[0]}"


def _how_it_ran(output: str) -> bool | None:
    if DETACHED_NOTE in output:
        return True
    if IN_SESSION_NOTE in output:
        return False
    return None


async def switch_generation(shell: RemoteShell, host: Host, target: int, *, from_generation: int | None = None,
                            sudo_password: str | None = None, timeout: float = 600.0,
                            poll_interval: float = 2.0, token: str | None = None) -> SwitchOutcome:
    """Run the switch on `host` with its sudo settings. Never raises for a failed switch: see `ok`.

    If the SSH session drops during the switch (an sshd or network restart it caused, a cut link), the switch
    goes on under systemd-run; this waits for it (reconnecting, every `poll_interval` s, within `timeout`) and
    reports its real exit status. Without systemd-run on the host, a drop interrupts it: that is what it says.
    `token` names the file the unit leaves its exit status in (new_switch_token(); given when the caller records
    the command first, see host_switch_command)."""
    import time

    privilege = privilege_for(host)
    token = token or new_switch_token()
    command = host_switch_command(host, target, token)
    started = time.monotonic()
    try:
        result = await shell.run(host.name, command, timeout=timeout, input=privilege.stdin(sudo_password))
    except HostUnreachable as exc:  # the session dropped (or never opened): the host knows how it went
        return await _after_drop(shell, host, target, token, from_generation, exc.message, sudo_password,
                                 deadline=started + timeout, poll_interval=poll_interval)
    except SshError as exc:  # a timeout, a refused login or host key: nothing to wait for
        return SwitchOutcome(host.name, from_generation, target, False, f"{exc.message}\n")
    output = result.stdout + result.stderr
    return SwitchOutcome(host.name, from_generation, target, result.ok, output, detached=_how_it_ran(output))


async def _after_drop(shell: RemoteShell, host: Host, target: int, token: str, from_generation: int | None,
                      why: str, sudo_password: str | None, *, deadline: float, poll_interval: float) -> SwitchOutcome:
    """The session dropped during the switch: ask the host (again and again while it is away) how it ended."""
    import asyncio
    import time

    privilege = privilege_for(host)
    probe = switch_state_command(token)
    command = privilege.wrap(probe) if privilege.prefix else probe
    lines = [f"labtui: the SSH session to {host.name} dropped during the switch ({why}); asking the host how "
             "it ended"]
    last_error = why
    while True:
        try:
            result = await shell.run(host.name, command, timeout=30.0, input=privilege.stdin(sudo_password))
            answer = result.stdout.strip()
        except (HostUnreachable, CommandTimeout) as exc:  # still away: sshd or the network is restarting
            answer, last_error = "", exc.message
        except SshError as exc:
            lines.append(f"labtui: cannot ask {host.name} how the switch ended: {exc.message}")
            return SwitchOutcome(host.name, from_generation, target, False, "\n".join(lines) + "\n",
                                 detached=None, dropped=why)
        if answer.isdigit():
            status = int(answer)
            lines.append(f"labtui: the switch went on under systemd-run and ended with exit status {status}")
            return SwitchOutcome(host.name, from_generation, target, status == 0, "\n".join(lines) + "\n",
                                 detached=True, dropped=why)
        if answer == "gone":
            return await _gone(shell, host, target, from_generation, lines, why)
        if time.monotonic() + poll_interval > deadline:
            lines.append(f"labtui: no answer about the switch within the timeout (last: {answer or last_error}); "
                         f"check {host.name} with `labtui generations {host.name}`")
            return SwitchOutcome(host.name, from_generation, target, False, "\n".join(lines) + "\n",
                                 detached=None, dropped=why)
        await asyncio.sleep(poll_interval)  # the host is restarting sshd or its network: ask again shortly


async def _gone(shell: RemoteShell, host: Host, target: int, from_generation: int | None, lines: list[str],
                why: str) -> SwitchOutcome:
    """No exit status and no unit: the switch did not run under systemd-run, so the drop interrupted it (or the
    host went down). Say what the host runs now; never call it a success."""
    try:
        gens = await list_generations(shell, host.name)
        current, default = current_of(gens), next((g for g in gens if g.default), None)
        running = (f"it runs generation {current.number if current else '?'} and its profile points to "
                   f"generation {default.number if default else '?'}")
    except UserError as exc:
        running = f"its generations cannot be read ({exc.message})"
    lines.append(f"labtui: the switch did not run under systemd-run, so the dropped session interrupted it (or it "
                 f"never started); {running}: check with `labtui generations {host.name}`, then "
                 f"`labtui rollback {host.name} --to N`")
    return SwitchOutcome(host.name, from_generation, target, False, "\n".join(lines) + "\n", detached=False,
                         dropped=why)


def diff_command(a: int, b: int) -> str:
    # nix-command is experimental before Nix 2.19; the extra flag is harmless afterwards.
    return ("nix --extra-experimental-features nix-command store diff-closures "
            + " ".join(shlex.quote(f"{PROFILE}-{int(n)}-link") for n in (a, b)))


_DIFF_RE = re.compile(r"^(?P<package>[^:]+):\s*(?P<rest>.*)$")
_SIZE_RE = re.compile(r"(?:^|,\s*)(?P<size>[+-]\d+(?:\.\d+)?\s*[KMGT]?i?B)\s*$")
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")


def parse_diff_closures(stdout: str) -> list[ClosureChange]:
    changes = []
    for raw in stdout.splitlines():
        line = _ANSI_RE.sub("", raw).strip()
        match = _DIFF_RE.match(line)
        if not match:
            continue
        rest = match.group("rest")
        size = _SIZE_RE.search(rest)
        change = rest[: size.start()].rstrip(", ") if size else rest
        changes.append(ClosureChange(match.group("package"), change, size.group("size") if size else ""))
    return changes


async def diff_generations(shell: RemoteShell, host: str, a: int, b: int, *,
                           timeout: float = 120.0) -> list[ClosureChange]:
    """What changed from generation `a` to `b` (`nix store diff-closures`, run on the host)."""
    gens = await list_generations(shell, host)
    for n in (a, b):
        rollback_target(gens, n)  # raises the "does not exist" error
    try:
        result = await shell.run(host, diff_command(a, b), timeout=timeout)
    except SshError as exc:
        raise UserError(f"{host}: diff failed: {exc.message}", exit_code=EXIT_FAILED) from None
    if not result.ok:
        reason = result.stderr.strip().splitlines()[-1:] or [f"exit {result.exit_status}"]
        raise UserError(f"{host}: `nix store diff-closures` failed: {reason[0]}", exit_code=EXIT_FAILED)
    return parse_diff_closures(result.stdout)


# What a deploy's probe asks a host (labtui.deploy.probe): what runs, which generation that is, what the system
# profile points to, and whether an activation still runs there. A generation runs when it is /run/current-system or
# (deploy-rs's activatable profiles wrap the system in a buildEnv of links) when its nixos-version is the running
# system's file. The activation test looks for deploy-rs's `activate-rs activate|revoke` processes (not `wait`, which
# changes nothing); the words are built from a variable so that this script's own command line never matches. Only
# processes in this script's mount namespace count (the activation runs in an ssh session, as this script does): a
# container or a testbed host shares its machine's process table, where the deploying side's own `ssh … activate-rs
# activate …` (or another host's activation) must not look like this host's. A namespace it may not read counts.
SYSTEM_STATE_SCRIPT = r"""cd /nix/var/nix/profiles 2>/dev/null || {
  echo 'no /nix/var/nix/profiles: not a NixOS host' >&2; exit 3; }
printf 'current\t%s\n' "$(readlink /run/current-system)"
printf 'profile\t%s\t%s\n' "$(readlink system)" "$(readlink -f system)"
for l in system-*-link; do
  [ -L "$l" ] || continue
  n=${l#system-}; n=${n%-link}
  if [ "$l/" -ef /run/current-system/ ] || { [ -e "$l/nixos-version" ] &&
      [ "$l/nixos-version" -ef /run/current-system/nixos-version ]; }; then printf 'running\t%s\n' "$n"; fi
done
w=activate; a=0; me=$(readlink /proc/$$/ns/mnt 2>/dev/null)
for f in $(grep -l "$w" /proc/[0-9]*/cmdline 2>/dev/null); do
  ns=$(readlink "${f%/cmdline}/ns/mnt" 2>/dev/null)
  [ -z "$ns" ] || [ -z "$me" ] || [ "$ns" = "$me" ] || continue
  tr '\000' ' ' 2>/dev/null < "$f" |
    grep -q -e "/$w $w " -e "/$w revoke " -e "/$w-rs $w " -e "/$w-rs revoke " && { a=1; break; }
done
printf 'activating\t%s\n' "$a"
"""
SYSTEM_STATE_COMMAND = f"/bin/sh -c {shlex.quote(SYSTEM_STATE_SCRIPT)}"


def parse_system_state(stdout: str) -> SystemState:
    marks: dict[str, list[str]] = {}
    running: list[int] = []
    for line in stdout.splitlines():
        fields = line.split("\t")
        if fields[0] == "running" and len(fields) == 2 and fields[1].isdigit():
            running.append(int(fields[1]))
        elif len(fields) >= 2:
            marks[fields[0]] = fields[1:]
    link = (marks.get("profile") or [""])[0]
    number = link.removeprefix("system-").removesuffix("-link")
    profile_generation = int(number) if number.isdigit() else None
    # Several generations can hold the same system (a redeploy): the profile's own one if it is among them.
    generation = profile_generation if profile_generation in running else (max(running) if running else None)
    profile_path = (marks.get("profile") or ["", ""])[1:2]
    return SystemState(path=(marks.get("current") or [""])[0] or None, generation=generation,
                       profile_generation=profile_generation, profile_path=profile_path[0] if profile_path else None,
                       activating=(marks.get("activating") or ["0"])[0] == "1")


def generation_probe(shell: RemoteShell, *, timeout: float = 15.0) -> Callable[[str], Awaitable[SystemState]]:
    """A deploy's probe (labtui.deploy.probe.Probe) over `shell`: the host's system state."""

    async def probe(node: str) -> SystemState:
        try:
            result = await shell.run(node, SYSTEM_STATE_COMMAND, timeout=timeout)
        except SshError as exc:
            raise UserError(f"{node}: cannot read its system: {exc.message}", exit_code=EXIT_FAILED) from None
        if not result.ok:
            reason = result.stderr.strip().splitlines()[-1:] or [f"exit {result.exit_status}"]
            raise UserError(f"{node}: cannot read its system: {reason[0]}", exit_code=EXIT_FAILED)
        return parse_system_state(result.stdout)

    return probe
