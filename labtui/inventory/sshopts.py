"""Parse deploy-rs `sshOpts` (an ssh argv fragment) into the fields of an SshTarget.

deploy-rs passes sshOpts verbatim after the destination, so we read them the way OpenSSH's getopt
does: short flags combine (`-At`), a flag's value may be glued on (`-p2222`, `-oPort=22`) or be the
next item, and for single-valued settings the first occurrence wins.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from labtui.errors import ConfigError

# OpenSSH client flags that take a value (ssh(1) synopsis); all others are boolean.
_WITH_VALUE = set("BbcDEeFIiJLlmOoPpQRSWw")
_BOOLEAN = set("46AaCfGgKkMNnqsTtVvXxYy")


@dataclass
class ParsedSshOpts:
    user: str | None = None  # -l / -o User
    port: int | None = None  # -p / -o Port
    identity_files: list[str] = field(default_factory=list)  # -i / -o IdentityFile (all of them)
    jump_hosts: list[str] = field(default_factory=list)  # -J / -o ProxyJump, split on commas
    config_file: str | None = None  # -F
    options: list[tuple[str, str]] = field(default_factory=list)  # every -o, in order
    other: list[str] = field(default_factory=list)  # flags we pass through without interpreting


_OPTION = re.compile(r"\s*([^\s=]+)(?:\s*=\s*|\s+)(.*?)\s*")


def split_option(text: str) -> tuple[str, str]:
    """`Key=Value`, `Key Value` or `Key = Value` -> (Key, Value), as ssh_config(5) reads a line."""
    match = _OPTION.fullmatch(text)
    return (match.group(1), match.group(2)) if match else (text.strip(), "")


def _port(value: str, where: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ConfigError(f"bad ssh port {value!r} in sshOpts {where}; use a number from 1 to 65535")
    return int(value)


def parse_ssh_opts(opts: Sequence[str], where: str = "") -> ParsedSshOpts:
    """Interpret an sshOpts list; raises ConfigError (naming `where`) for a flag missing its value."""
    parsed = ParsedSshOpts()
    items = list(opts)
    i = 0
    while i < len(items):
        item = items[i]
        i += 1
        if not item.startswith("-") or item == "-":
            parsed.other.append(item)  # ssh would take it as part of the remote command
            continue
        j = 1
        while j < len(item):
            flag = item[j]
            if flag in _WITH_VALUE:
                value = item[j + 1:]
                if not value:
                    if i >= len(items):
                        raise ConfigError(f"ssh option `-{flag}` has no value in sshOpts {where}; "
                                          f"write it as [\"-{flag}\" \"VALUE\"]")
                    value = items[i]
                    i += 1
                _apply(parsed, flag, value, where)
                break
            if flag not in _BOOLEAN:
                raise ConfigError(f"unknown ssh option `-{flag}` in sshOpts {where} ({item!r}); see ssh(1)")
            parsed.other.append(f"-{flag}")
            j += 1
    return parsed


def _apply(parsed: ParsedSshOpts, flag: str, value: str, where: str) -> None:
    if flag == "o":
        key, val = split_option(value)
        if not key or not val:
            raise ConfigError(f"ssh option `-o {value}` in sshOpts {where} is not Key=Value")
        parsed.options.append((key, val))
        low = key.lower()
        if low == "port" and parsed.port is None:
            parsed.port = _port(val, where)
        elif low == "user" and parsed.user is None:
            parsed.user = val
        elif low == "identityfile":
            parsed.identity_files.append(val)
        elif low == "proxyjump" and not parsed.jump_hosts and val.lower() != "none":
            parsed.jump_hosts.extend(val.split(","))
    elif flag == "p":
        if parsed.port is None:
            parsed.port = _port(value, where)
    elif flag == "l":
        if parsed.user is None:
            parsed.user = value
    elif flag == "i":
        parsed.identity_files.append(value)
    elif flag == "J":
        if not parsed.jump_hosts and value.lower() != "none":
            parsed.jump_hosts.extend(value.split(","))
    elif flag == "F":
        if parsed.config_file is None:
            parsed.config_file = value
    else:
        parsed.other.extend([f"-{flag}", value])
