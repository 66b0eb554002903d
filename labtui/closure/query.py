"""The two sides of a closure diff: the host's running system (over its SSH connection) and the new one (here).

The host is asked with one POSIX sh script: what /run/current-system is, the system inside it when it is a
deploy-rs profile, the kernel/initrd/modules it and the booted system use, its NixOS version, and every path of
its closure with its NAR size (`nix-store -qR`, `nix-store -q --size`: no experimental features, any Nix). Its
closure is never copied here. After the build, a second question asks which of the new paths the host lacks
(`nix-store --check-validity --print-invalid`, the paths on stdin): what a deploy will copy.

The new side is read from the local store with one `nix path-info --json -r` for every host (the reference
graph with NAR sizes; closures are walked here), and the links.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from labtui.closure.diff import BOOT_LINKS, Closure, system_of
from labtui.closure.names import STORE_DIR
from labtui.commandlog import COMMAND_LOG, CommandLog
from labtui.errors import EXIT_FAILED, UserError
from labtui.inventory.nix import NIX_FLAGS
from labtui.ssh.api import RemoteShell, SshError

STORE_PATH = re.compile(r"/nix/store/[0-9a-z]{32}-[^/\s]+")

# Tab-separated facts, one per line, so the parser never guesses. Under `/bin/sh -c` whatever the login shell.
HOST_SCRIPT = r"""cur=$(readlink -f /run/current-system 2>/dev/null)
[ -n "$cur" ] && [ -d "$cur" ] || { echo 'no /run/current-system: not a NixOS host' >&2; exit 3; }
printf 'current\t%s\n' "$cur"
sys=$cur
case ${cur##*/} in
  *-activatable-*)
    want=${cur##*/}; want=${want#*-activatable-}
    for r in $(nix-store -q --references "$cur"); do case ${r##*/} in *-"$want") sys=$r;; esac; done;;
esac
printf 'system\t%s\n' "$sys"
for l in kernel initrd kernel-modules; do
  printf 'link\tcurrent-%s\t%s\n' "$l" "$(readlink -f "$cur/$l")"
  printf 'link\tbooted-%s\t%s\n' "$l" "$(readlink -f "/run/booted-system/$l")"
done
printf 'version\t%s\n' "$(cat "$sys/nixos-version" 2>/dev/null)"
paths=$(nix-store -qR "$sys") || exit 4
sizes=$(nix-store -q --size $paths) || exit 4
printf 'path\t%s\n' $paths
printf 'size\t%s\n' $sizes"""
HOST_COMMAND = f"/bin/sh -c {shlex.quote(HOST_SCRIPT)}"
# The new paths the host lacks (paths on stdin: no argument list to outgrow).
MISSING_COMMAND = "xargs -r nix-store --check-validity --print-invalid"


@dataclass(frozen=True)
class HostSystem:
    """What a host runs: /run/current-system, the system in it, its closure and boot facts."""

    host: str
    current: str  # /run/current-system, resolved
    closure: Closure  # of the system (inside a deploy-rs profile, when current is one)
    booted: dict[str, str] = field(default_factory=dict)  # booted kernel/initrd/kernel-modules


class QueryError(Exception):
    """A side of the diff could not be read (one line for the operator)."""


def parse_host_report(host: str, stdout: str) -> HostSystem:
    """HOST_SCRIPT's answer. QueryError when it is not complete."""
    current = system = version = ""
    links: dict[str, str] = {}
    paths: list[str] = []
    sizes: list[str] = []
    for line in stdout.splitlines():
        fields = line.split("\t")
        if fields[0] == "current" and len(fields) == 2:
            current = fields[1]
        elif fields[0] == "system" and len(fields) == 2:
            system = fields[1]
        elif fields[0] == "link" and len(fields) == 3:
            links[fields[1]] = fields[2]
        elif fields[0] == "version" and len(fields) == 2:
            version = fields[1]
        elif fields[0] == "path" and len(fields) == 2 and STORE_PATH.fullmatch(fields[1]):
            paths.append(fields[1])
        elif fields[0] == "size" and len(fields) == 2:
            sizes.append(fields[1])
    if not current or not system or not paths:
        raise QueryError(f"{host}: the host did not say what it runs")
    sized: dict[str, int | None] = {p: int(s) if s.isdigit() else None
                                    for p, s in zip(paths, sizes + [""] * (len(paths) - len(sizes)), strict=True)}
    current_links = {k.removeprefix("current-"): v for k, v in links.items() if k.startswith("current-") and v}
    booted = {k.removeprefix("booted-"): v for k, v in links.items() if k.startswith("booted-") and v}
    return HostSystem(host, current, Closure(system, sized, current_links, version), booted)


async def host_system(shell: RemoteShell, host: str, *, timeout: float = 60.0) -> HostSystem:
    """The host's running system over its pooled connection. UserError (one line) when it cannot be read."""
    try:
        result = await shell.run(host, HOST_COMMAND, timeout=timeout)
    except SshError as exc:
        raise UserError(f"{host}: cannot read what it runs: {exc.message}", detail=exc.hint,
                        exit_code=EXIT_FAILED) from None
    if not result.ok:
        reason = result.stderr.strip().splitlines()[-1:] or [f"exit {result.exit_status}"]
        raise UserError(f"{host}: cannot read what it runs: {reason[0]}", exit_code=EXIT_FAILED)
    try:
        return parse_host_report(host, result.stdout)
    except QueryError as exc:
        raise UserError(str(exc), exit_code=EXIT_FAILED) from None


async def missing_on_host(shell: RemoteShell, host: str, paths: Iterable[str], *,
                          timeout: float = 60.0) -> set[str] | None:
    """The `paths` the host's store lacks; None when it cannot be asked (the diff then has no copy size)."""
    wanted = sorted(p for p in set(paths) if STORE_PATH.fullmatch(p))
    if not wanted:
        return set()
    try:
        result = await shell.run(host, MISSING_COMMAND, timeout=timeout, input="".join(f"{p}\n" for p in wanted))
    except SshError:
        return None
    if not result.ok:
        return None
    return {line.strip() for line in result.stdout.splitlines() if line.strip() in wanted}


# ---- the new side, in the local store ----------------------------------------------------------------


async def _local(argv: Sequence[str], log: CommandLog) -> str:
    log.local(argv)
    try:
        proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    except FileNotFoundError:
        raise QueryError(f"`{argv[0]}` is not installed here") from None
    out, err = await proc.communicate()
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        raise QueryError(f"`{' '.join(argv[:2])}` failed: {tail[0]}")
    return out.decode(errors="replace")


def parse_path_info(text: str) -> dict[str, tuple[int | None, list[str]]]:
    """`nix path-info --json -r` → {path: (NAR size, references)}: Nix 2.8's list of objects or the object keyed
    by path of newer Nix (whose references may be base names)."""
    data = json.loads(text)
    items = data.items() if isinstance(data, dict) else ((d.get("path", ""), d) for d in data if isinstance(d, dict))
    found: dict[str, tuple[int | None, list[str]]] = {}
    for path, info in items:
        if not isinstance(path, str) or not isinstance(info, dict) or not path:
            continue
        size = info.get("narSize")
        refs = [r if r.startswith(STORE_DIR) else STORE_DIR + r for r in info.get("references") or []
                if isinstance(r, str)]
        found[path] = (size if isinstance(size, int) else None, refs)
    return found


def closure_of(root: str, graph: Mapping[str, tuple[int | None, list[str]]]) -> dict[str, int | None]:
    """Every path `root` references, directly or not (itself included), with its size."""
    seen: dict[str, int | None] = {}
    stack = [root]
    while stack:
        path = stack.pop()
        if path in seen or path not in graph:
            continue
        size, refs = graph[path]
        seen[path] = size
        stack.extend(refs)
    return seen


@dataclass(frozen=True)
class NewSystem:
    """What the flake would deploy to a host, read from the local store after the build."""

    out: str  # what the deploy tool deploys (a deploy-rs profile, or the system)
    closure: Closure  # of the system in it
    full: dict[str, int | None]  # every path a deploy copies (the profile's closure)


async def new_systems(outs: Sequence[str], *, log: CommandLog = COMMAND_LOG) -> dict[str, NewSystem]:
    """Each built output's system, closure, sizes and boot facts: one `nix path-info --json -r` for all of them
    (the reference graph), the rest computed here."""
    unique = list(dict.fromkeys(outs))
    if not unique:
        return {}
    text = await _local(["nix", *NIX_FLAGS, "path-info", "--json", "-r", *unique], log)
    try:
        graph = parse_path_info(text)
    except ValueError:
        raise QueryError("`nix path-info --json` printed something that is not JSON") from None
    found = {}
    for out in unique:
        if out not in graph:
            raise QueryError(f"{out} is not in the local store")
        system = system_of(out, graph[out][1])
        links = {link: os.path.realpath(os.path.join(out, link)) for link in BOOT_LINKS
                 if os.path.lexists(os.path.join(out, link))}
        try:
            with open(os.path.join(system, "nixos-version"), encoding="utf-8", errors="replace") as f:
                version = f.read().strip()
        except OSError:
            version = ""
        found[out] = NewSystem(out, Closure(system, closure_of(system, graph), links, version),
                               closure_of(out, graph))
    return found
