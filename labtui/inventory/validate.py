"""Refuse names that could inject into a shell or an ssh argument.

Host names, users, node and profile names end up in ssh destinations, in `deploy` targets and in
remote commands. Quoting protects the shell, but a value starting with `-` still turns into an ssh
option (`-oProxyCommand=...`), so we accept a conservative character set and refuse the rest with
the offending value shown.
"""

from __future__ import annotations

import re

from labtui.errors import ConfigError

# Characters people actually use in node/profile names ("example.com", "home.nix", "web_1").
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]*")
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_DNS = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9._-]*[A-Za-z0-9_.])?")
_IPV6 = re.compile(r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(%[A-Za-z0-9_.-]+)?")

_DANGEROUS = [
    ("\n", "a newline"), ("\r", "a carriage return"), ("\t", "a tab"), (" ", "a space"),
    (";", "`;`"), ("`", "a backtick"), ("$", "`$`"), ("|", "`|`"), ("&", "`&`"), ("'", "a quote"),
    ('"', "a quote"), ("\\", "a backslash"), ("<", "`<`"), (">", "`>`"), ("(", "`(`"), (")", "`)`"),
    ("*", "`*`"), ("?", "`?`"), ("#", "`#`"), ("!", "`!`"), ("{", "`{`"), ("}", "`}`"), ("~", "`~`"),
]


def _why(value: str) -> str:
    if value == "":
        return "it is empty"
    if value.startswith("-"):
        return "it starts with `-` and would be read as an option"
    for char, label in _DANGEROUS:
        if char in value:
            return f"it contains {label}"
    bad = sorted({c for c in value if not (c.isascii() and (c.isalnum() or c in "._+-@:%[],"))})
    if bad:
        return "it contains " + ", ".join(repr(c) for c in bad)
    return "it is not a valid name"


def _refuse(kind: str, value: str, where: str, allowed: str) -> ConfigError:
    return ConfigError(f"refusing {kind} {value!r} {where}: {_why(value)}, which could inject into a shell or "
                       f"ssh argument; use only {allowed}")


def check_name(kind: str, value: object, where: str) -> str:
    """A node or profile name (may contain dots, like deploy-rs's `"example.com"` or `"home.nix"`)."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise _refuse(kind, str(value), where, "letters, digits and `._+-`, not starting with `-` or `.`")
    return value


def check_user(kind: str, value: object, where: str) -> str:
    if not isinstance(value, str) or not _USER.fullmatch(value):
        raise _refuse(kind, str(value), where, "letters, digits and `._-`, not starting with `-` or `.`")
    return value


# deploy-rs's `sudo`: a program (a name or an absolute path) and plain options, e.g. "sudo -u", "doas -u",
# "/run/wrappers/bin/sudo -E -u", "sudo --preserve-env=PATH -u". deploy-rs puts it in front of the user name in
# its remote commands, and so does labtui (ops/privilege.py), word by word, quoted.
_SUDO_PROGRAM = re.compile(r"/?[A-Za-z0-9_][A-Za-z0-9_./+-]*")
_SUDO_OPTION = re.compile(r"--?[A-Za-z0-9][A-Za-z0-9_./+=,:@-]*")


def sudo_problem(value: str) -> str | None:
    """Why `value` is refused as a sudo command ("it contains `;`"), or None when it is a program and plain options."""
    if not value.strip():
        return "it is empty"
    program, *words = value.split(" ")
    if "" in (program, *words):
        return "it has leading, trailing or double spaces"
    if program.startswith("-"):
        return "it starts with an option, not a program name"
    for token, pattern in ((program, _SUDO_PROGRAM), *((word, _SUDO_OPTION) for word in words)):
        if not pattern.fullmatch(token):
            return _characters(token) or f"{token!r} is not a plain option (`-u`, `--user=NAME`)"
    return None


def _characters(value: str) -> str | None:
    for char, label in _DANGEROUS:
        if char in value:
            return f"it contains {label}"
    bad = sorted({c for c in value if not (c.isascii() and c.isprintable())})
    return "it contains " + ", ".join(repr(c) for c in bad) if bad else None


def check_sudo(value: object, where: str) -> str:
    """A deploy-rs `sudo` value: a program name plus plain options (`sudo -u`, `doas -u`), nothing a shell reads.
    `where` names the host and where the value came from."""
    problem = sudo_problem(value) if isinstance(value, str) else "it is not a string"
    if problem is not None:
        raise ConfigError(f"refusing sudo {value!r} {where}: {problem}, which could inject into the remote "
                          "commands; use a program name and plain options, like \"sudo -u\" or \"doas -u\"")
    assert isinstance(value, str)
    return value


# Colmena's privilegeEscalationCommand: a list of words (a program, then options and their values), each put in
# remote commands quoted (ops/privilege.py), so plain words only and a program first.
_PRIVILEGE_WORD = re.compile(r"[A-Za-z0-9_./=+:@,-]+")


def check_privilege_command(words: object, where: str) -> tuple[str, ...]:
    """Colmena's `privilegeEscalationCommand` (e.g. `["sudo", "-H", "--"]`, `["doas"]`): a program, then plain words.
    `where` names the node and the option. An empty list is refused too: it would drop the privileges silently."""
    if not isinstance(words, list | tuple) or not words:
        raise ConfigError(f"refusing privilegeEscalationCommand {words!r} {where}: it must be a non-empty list of "
                          "words, a program first, like [\"sudo\" \"-H\" \"--\"] or [\"doas\"]")
    for i, word in enumerate(words):
        if not isinstance(word, str) or not _PRIVILEGE_WORD.fullmatch(word) or (i == 0 and word.startswith("-")):
            why = (_characters(word) if isinstance(word, str) else None) or "it is not a plain word"
            what = "a program name" if i == 0 else "a plain option or value"
            raise ConfigError(f"refusing {word!r} {where}[{i}]: {why}, which could inject into the remote commands "
                              f"labtui runs with it; use {what} (letters, digits and `-_./=+:@,`)")
    return tuple(words)


def is_hostname(value: str) -> bool:
    """A DNS name, an IPv4 address, or an IPv6 address (optionally in brackets, with a %zone)."""
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
        return bool(_IPV6.fullmatch(value))
    return bool(_DNS.fullmatch(value) or _IPV6.fullmatch(value))


def hostname_problem(value: str) -> str | None:
    """Why `value` is refused as a host name ("it contains `;`"), or None when it is one."""
    return None if is_hostname(value) else _why(value)


def check_hostname(kind: str, value: object, where: str) -> str:
    if not isinstance(value, str) or not is_hostname(value):
        raise _refuse(kind, str(value), where, "a DNS name or IP address (letters, digits, `.-_:`)")
    return value


def split_jump_host(spec: str) -> tuple[str | None, str, int | None]:
    """`[user@]host[:port]` (or `ssh://[user@]host[:port]`, IPv6 in brackets) -> (user, host, port).

    Raises ValueError on anything else; callers turn that into a located ConfigError.
    """
    rest = spec[len("ssh://"):] if spec.startswith("ssh://") else spec
    user = None
    if "@" in rest:
        user, rest = rest.rsplit("@", 1)
        if not _USER.fullmatch(user):
            raise ValueError(f"user {user!r}")
    port = None
    if rest.startswith("["):
        host, sep, tail = rest[1:].partition("]")
        if not sep or (tail and not tail.startswith(":")):
            raise ValueError(f"host {rest!r}")
        host = f"[{host}]"
        port_text = tail[1:] if tail else None
    elif rest.count(":") == 1:
        host, port_text = rest.split(":")
    else:
        host, port_text = rest, None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"port {port_text!r}")
        port = int(port_text)
    if not is_hostname(host):
        raise ValueError(f"host {host!r}")
    return user, host, port


def check_jump_hosts(value: object, where: str) -> tuple[str, ...]:
    """A ProxyJump value: one or more comma-separated `[user@]host[:port]`; returns the hops."""
    if not isinstance(value, str):
        raise ConfigError(f"jump host {where} must be a string like \"[user@]host[:port]\", got {value!r}")
    hops = tuple(value.split(","))
    for hop in hops:
        try:
            if hop.startswith("-") or any(c in hop for c, _ in _DANGEROUS):
                raise ValueError(hop)
            split_jump_host(hop)
        except ValueError:
            raise _refuse("jump host", value, where, "\"[user@]host[:port]\" (several separated by commas)") from None
    return hops
