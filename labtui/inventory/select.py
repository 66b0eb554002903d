"""What an operator types to name hosts, resolved against the inventory: the one place that reads it.

Every CLI verb that takes hosts, `--targets`, and the TUI's `:` line go through here, so the forms below
mean the same everywhere (docs/inventory.md, "Naming hosts"):

- labtui's own: a host name `web1`, a profile `web1.system`, a glob `web*`, a tag `@prod` (a glob too:
  `@edge-*`), and Colmena's comma lists `web1,db1,@prod`;
- deploy-rs's (docs/deploy-rs-output.md §12): `.#web1`, `.#web1.system`, `./lab#"example.com".system`,
  `.#` or `.` (every host). The part before `#` is a flake reference: it selects the flake (`flake_for`),
  and once the inventory is loaded it must be that inventory's flake. The fragment is a Nix attribute path
  of one or two names, exactly as deploy-rs reads it (no globs, no tags).

Parsing is pure (`parse_target`); resolving needs only the Inventory. Every mistake is one UserError line
naming the token, with the nearest existing name when there is one.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from labtui.errors import UserError

if TYPE_CHECKING:
    from labtui.inventory.model import Host, Inventory

# Flake references that are not paths (nix's URL-like schemes); a host name never contains `:`.
_FLAKE_SCHEMES = ("path:", "git+", "github:", "gitlab:", "sourcehut:", "tarball+", "file+", "http:", "https:",
                  "flake:", "hg+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_'-]*")  # a Nix identifier, as rnix reads an attribute name
_GLOB = frozenset("*?[")


@dataclass(frozen=True)
class Target:
    """A host, and one of its deploy-rs profiles or None for the host as a whole."""

    host: str
    profile: str | None = None

    def pair(self) -> tuple[str, str | None]:
        return (self.host, self.profile)


@dataclass(frozen=True)
class TargetSpec:
    """One typed target, parsed but not yet resolved.

    `flake`: the flake reference before `#` (deploy-rs's syntax) or of a bare flake path, else None.
    `pattern`: a host name, glob or `@tag`; None means every host of the flake.
    `profile`: the profile after the host name, if any. `exact`: deploy-rs's syntax, where the name is
    literal (no glob, no tag).
    """

    text: str
    flake: str | None = None
    pattern: str | None = None
    profile: str | None = None
    exact: bool = False


def split_targets(line: str) -> list[str]:
    """Split a typed line (the TUI's `:` line) into targets at whitespace outside double quotes, keeping the
    quotes: `.#"example.com".system web1` -> ['.#"example.com".system', 'web1']."""
    words: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in line:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char.isspace() and not quoted:
            if current:
                words.append("".join(current))
                current = []
            continue
        current.append(char)
    if quoted:
        raise UserError(f"unbalanced `\"` in `{line.strip()}`; close the quote, e.g. `.#\"example.com\".system`")
    if current:
        words.append("".join(current))
    return words


def is_flake_path(text: str) -> bool:
    """A bare flake reference (`.`, `./lab`, `/srv/lab`, `~/lab`, `github:me/lab`), which deploy-rs reads as
    "every node of that flake". Never a host name: names cannot start with `.`, `/`, `~` or contain `:`."""
    return (text in (".", "..") or text.startswith(("./", "../", "/", "~")) or text.startswith(_FLAKE_SCHEMES))


def parse_target(text: str) -> list[TargetSpec]:
    """One typed word -> its specs (several for a comma list). Raises UserError for what cannot be a target."""
    if text.strip() == "":
        raise UserError("an empty target names no host; give a name, `web*`, `@tag` or `.#NODE`")
    if "#" in text:
        flake, fragment = text.split("#", 1)
        if flake == "":
            raise UserError(f"`{text}` has no flake before `#`; write `.#{fragment}` for the flake here")
        names = _attr_path(fragment, text)
        if not names:
            return [TargetSpec(text, flake=flake)]
        return [TargetSpec(text, flake=flake, pattern=names[0], profile=names[1] if len(names) > 1 else None,
                           exact=True)]
    if is_flake_path(text):
        return [TargetSpec(text, flake=text)]
    if text.startswith('"'):
        names = _attr_path(text, text)
        return [TargetSpec(text, pattern=names[0], profile=names[1] if len(names) > 1 else None, exact=True)]
    specs: list[TargetSpec] = []
    for word in text.split(","):
        if word == "":
            raise UserError(f"`{text}` has an empty name between commas; write `web1,db1`")
        specs.append(TargetSpec(word, pattern=word))
    return specs


def _attr_path(fragment: str, text: str) -> list[str]:
    """deploy-rs's fragment: a Nix attribute path of at most two names, identifiers or "quoted strings"."""
    names: list[str] = []
    i = 0
    while i < len(fragment):
        if fragment[i] == '"':
            j = i + 1
            name: list[str] = []
            while j < len(fragment) and fragment[j] != '"':
                if fragment[j] == "\\" and j + 1 < len(fragment):
                    j += 1
                elif fragment.startswith("${", j):
                    raise UserError(f"`{text}`: `${{` is not allowed in a quoted name; write the name itself")
                name.append(fragment[j])
                j += 1
            if j >= len(fragment):
                raise UserError(f"`{text}`: unbalanced `\"`; close the quote, e.g. `.#\"example.com\".system`")
            names.append("".join(name))
            i = j + 1
        else:
            match = _IDENT.match(fragment, i)
            if match is None:
                raise _not_an_attr_path(fragment, text)
            names.append(match.group())
            i = match.end()
        if i < len(fragment):
            if fragment[i] != ".":
                raise _not_an_attr_path(fragment, text)
            i += 1
            if i == len(fragment):
                raise UserError(f"`{text}` ends with `.`; name the profile (`.#web1.system`) or drop the dot")
    if len(names) > 2:
        raise UserError(f"`{text}` has {len(names)} parts, a target is at most NODE.PROFILE; "
                        "quote names with dots: `.#\"example.com\".system`")
    return names


def _not_an_attr_path(fragment: str, text: str) -> UserError:
    if any(c in fragment for c in "*?[@"):
        hint = " (globs and @tags are labtui's syntax: write them without `FLAKE#`, e.g. `web*`)"
    else:
        hint = "; quote a name that is not a Nix identifier: `.#\"example.com\".system`"
    return UserError(f"`{text}` is not NODE or NODE.PROFILE after `#`{hint}")


def parse_targets(tokens: Iterable[str]) -> list[TargetSpec]:
    return [spec for token in tokens for spec in parse_target(token)]


# ---- the flake the targets name ----------------------------------------------------------------------------


def _same_flake(a: str, b: str, cwd: str | os.PathLike[str] | None) -> bool:
    if a == b:
        return True
    from labtui.inventory.flakeref import resolve_flake

    ra, rb = resolve_flake(a, cwd), resolve_flake(b, cwd)
    if ra.local_dir is not None or rb.local_dir is not None:
        return ra.local_dir == rb.local_dir
    return ra.nix_ref == rb.nix_ref


def flake_for(tokens: Iterable[str], given: str | None, cwd: str | os.PathLike[str] | None = None) -> str | None:
    """The flake to load for these targets: the one their `FLAKE#` part names (`./lab#web1` -> ./lab), else
    `given` (--flake); None for the default (the current directory). UserError when they disagree: labtui
    reads one flake per command."""
    named: tuple[str, str] | None = None  # (flake, the token that named it)
    for spec in parse_targets(tokens):
        if spec.flake is None:
            continue
        if named is None:
            named = (spec.flake, spec.text)
        elif not _same_flake(named[0], spec.flake, cwd):
            raise UserError(f"`{named[1]}` and `{spec.text}` name two flakes; labtui works on one flake per "
                            "command: run it once per flake")
    if named is None:
        return given
    if given not in (None, "") and not _same_flake(given, named[0], cwd):
        raise UserError(f"`{named[1]}` names the flake `{named[0]}` but --flake says `{given}`; "
                        "drop one of them")
    return named[0]


def _check_flake(inventory: Inventory, spec: TargetSpec, cwd: str | os.PathLike[str] | None) -> None:
    if spec.flake is None:
        return
    from labtui.inventory.flakeref import resolve_flake

    try:
        ref = resolve_flake(spec.flake, cwd)
    except UserError as exc:
        raise UserError(f"`{spec.text}`: {exc.message}") from None
    if inventory.flake_dir is not None and ref.local_dir is not None:
        same = ref.local_dir == Path(inventory.flake_dir)
    else:
        same = spec.flake == inventory.flake or (ref.local_dir is None and ref.nix_ref == inventory.flake)
    if not same:
        shown = inventory.flake_dir or inventory.flake
        raise UserError(f"`{spec.text}` names the flake `{spec.flake}`, but the hosts here come from {shown}; "
                        f"name hosts of this flake (`.#NODE` or `NODE`), or open labtui on `{spec.flake}`")


# ---- resolving against the inventory -----------------------------------------------------------------------


def _hint(word: str, choices: Sequence[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean `{prefix}{close[0]}`?" if close else ""


def _listing(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _unknown_host(inventory: Inventory, spec: TargetSpec, name: str) -> UserError:
    where = f"`{spec.text}`: " if spec.text != name else ""
    hint = _hint(name, inventory.names()) or "run `labtui hosts` to list them"
    return UserError(f"{where}no host named `{name}` in {inventory.flake}; {hint}")


def _match_hosts(inventory: Inventory, spec: TargetSpec) -> list[Host]:
    pattern = spec.pattern
    if pattern is None:
        return list(inventory.hosts)
    if spec.exact:
        host = next((h for h in inventory.hosts if h.name == pattern), None)
        if host is None:
            raise _unknown_host(inventory, spec, pattern)
        return [host]
    if pattern.startswith("@"):
        tag = pattern[1:]
        if tag == "":
            raise UserError("`@` names no tag; write `@prod`")
        matched = [h for h in inventory.hosts if any(fnmatch.fnmatchcase(t, tag) for t in h.tags)]
        if not matched:
            tags = sorted({t for h in inventory.hosts for t in h.tags})
            if not tags:
                raise UserError(f"no host has the tag `{pattern}`: no host has any tag; set them in labtui.toml "
                                "(`tags = [\"prod\"]` under [hosts.NAME]) or, in a Colmena hive, deployment.tags")
            hint = _hint(tag, tags, "@")
            raise UserError(f"no host has the tag `{pattern}`; {hint + ' ' if hint else ''}"
                            f"(tags: {_listing(tags)})")
        return matched
    if _GLOB & set(pattern):
        matched = [h for h in inventory.hosts if fnmatch.fnmatchcase(h.name, pattern)]
        if not matched:
            raise UserError(f"`{pattern}` matches no host (hosts: {_listing(inventory.names())}); "
                            "run `labtui hosts` to list them")
        return matched
    host = next((h for h in inventory.hosts if h.name == pattern), None)
    if host is not None:
        return [host]
    raise _unknown_host(inventory, spec, pattern)


def _split_profile(inventory: Inventory, spec: TargetSpec) -> TargetSpec:
    """labtui's `web1.system`: a host name first (names may contain dots: `example.com`), then HOST.PROFILE."""
    pattern = spec.pattern
    if spec.exact or pattern is None or pattern.startswith("@") or _GLOB & set(pattern) or "." not in pattern:
        return spec
    names = set(inventory.names())
    if pattern in names:
        return spec
    dots = [i for i, c in enumerate(pattern) if c == "."]
    for i in reversed(dots):  # the longest host name first: `example.com.system`, then `web1.home.nix`
        if pattern[:i] in names:
            return TargetSpec(spec.text, flake=spec.flake, pattern=pattern[:i], profile=pattern[i + 1:])
    return spec


def _check_profile(inventory: Inventory, spec: TargetSpec, host: Host) -> None:
    assert spec.profile is not None
    names = [p.name for p in host.profiles]
    if spec.profile in names:
        return
    if not names:
        raise UserError(f"`{spec.text}`: host `{host.name}` has no profile `{spec.profile}`: it has no deploy-rs "
                        f"profiles ({host.method}); name the host alone: `{host.name}`")
    hint = _hint(spec.profile, names)
    raise UserError(f"`{spec.text}`: host `{host.name}` has no profile `{spec.profile}` (profiles: "
                    f"{', '.join(names)}){'; ' + hint if hint else ''}")


def select_targets(inventory: Inventory, tokens: Iterable[str], *,
                   cwd: str | os.PathLike[str] | None = None) -> list[Target]:
    """Typed targets -> (host, profile) in the order typed, without repeats; every host when none is typed.

    Raises UserError (one line: the token, what is wrong, the nearest name) for an unknown host, profile or
    tag, a glob that matches nothing, or a flake other than the inventory's."""
    specs = parse_targets(tokens)
    if not specs:
        return [Target(h.name) for h in inventory.hosts]
    chosen: list[Target] = []
    for raw in specs:
        _check_flake(inventory, raw, cwd)
        spec = _split_profile(inventory, raw)
        hosts = _match_hosts(inventory, spec)
        if spec.profile is not None:
            for host in hosts:
                _check_profile(inventory, spec, host)
        for host in hosts:
            target = Target(host.name, spec.profile)
            if target not in chosen:
                chosen.append(target)
    return chosen


def select_hosts(inventory: Inventory, tokens: Iterable[str], *,
                 cwd: str | os.PathLike[str] | None = None) -> list[Host]:
    """Like select_targets, for verbs that act on whole hosts (a profile, if typed, is checked and dropped)."""
    names: list[str] = []
    for target in select_targets(inventory, tokens, cwd=cwd):
        if target.host not in names:
            names.append(target.host)
    by_name = {h.name: h for h in inventory.hosts}
    return [by_name[n] for n in names]


def select_host(inventory: Inventory, token: str, *, cwd: str | os.PathLike[str] | None = None) -> Host:
    """Exactly one host (`labtui logs`, `generations`, `rollback`); UserError when the token names several."""
    hosts = select_hosts(inventory, [token], cwd=cwd)
    if len(hosts) != 1:
        raise UserError(f"`{token}` names {len(hosts)} hosts ({_listing([h.name for h in hosts])}); "
                        "this command takes one: name it")
    return hosts[0]
