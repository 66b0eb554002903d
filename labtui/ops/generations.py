"""A host's system generations: list them, switch to one (rollback), diff two.

Listing is one POSIX sh command over the profile links (no nixos-rebuild needed on the host); the
switch is what `nixos-rebuild --rollback switch` does: move the profile, then run the generation's
`bin/switch-to-configuration switch`, with the host's sudo settings.
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
from labtui.ssh.api import MAX_OUTPUT, RemoteShell, SshError
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


def switch_command(number: int) -> str:
    """Move the profile to generation `number` and activate it (what `nixos-rebuild switch --rollback` runs)."""
    return (f"nix-env -p {PROFILE} --switch-generation {int(number)}"
            f" && {PROFILE}/bin/switch-to-configuration switch")


@dataclass(frozen=True)
class SwitchOutcome:
    host: str
    from_generation: int | None
    to_generation: int
    ok: bool
    output: str  # combined stdout/stderr of the switch, for the journal and the CLI

    @property
    def message(self) -> str:
        if self.ok:
            return f"switched from generation {self.from_generation} to {self.to_generation}"
        tail = self.output.strip().splitlines()[-1:] or ["no output"]
        return f"switch to generation {self.to_generation} failed: {tail[0]}"


async def switch_generation(shell: RemoteShell, host: Host, target: int, *, from_generation: int | None = None,
                            sudo_password: str | None = None, timeout: float = 600.0) -> SwitchOutcome:
    """Run the switch on `host` with its sudo settings. Never raises for a failed switch: see `ok`."""
    privilege = privilege_for(host)
    command = privilege.wrap(switch_command(target))
    try:
        result = await shell.run(host.name, command, timeout=timeout, input=privilege.stdin(sudo_password))
    except SshError as exc:
        return SwitchOutcome(host.name, from_generation, target, False, f"{exc.message}\n")
    return SwitchOutcome(host.name, from_generation, target, result.ok, result.stdout + result.stderr)


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


def generation_probe(shell: RemoteShell, *,
                     timeout: float = 15.0) -> Callable[[str], Awaitable[tuple[str | None, int | None]]]:
    """A deploy's generation probe (labtui.deploy.probe.Probe) over `shell`: the running system generation."""

    async def probe(node: str) -> tuple[str | None, int | None]:
        current = current_of(await list_generations(shell, node, timeout=timeout))
        return (current.path, current.number) if current else (None, None)

    return probe
