"""What SshPool connects with: a host's SshTarget over ssh_config over the pool's own defaults.

The host's settings from the flake (user, port, identity files, `-o` options, jump hosts) win over ~/.ssh/config
(or `-F`), which wins over the pool's defaults, like `ssh` itself. Pure functions of their inputs (asyncssh reads
ssh_config files), so SshPool only orchestrates.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labtui.inventory.model import SshTarget
from labtui.ssh.api import SshConfigError

if TYPE_CHECKING:
    import asyncssh

# A cut link is noticed at most interval x (count_max + 1) seconds after the last packet from the host: 12 s,
# within the ~15 s docs/status.md promises (asyncssh closes the connection on the third unanswered keepalive).
DEFAULT_KEEPALIVE_INTERVAL = 4.0
DEFAULT_KEEPALIVE_COUNT_MAX = 2
DEFAULT_CONNECT_TIMEOUT = 10.0


def polled_keepalive(interval: float, count_max: int, poll_interval: float) -> tuple[float, int]:
    """Keepalive settings for a host a status poller probes every `poll_interval` seconds: keepalives only where a
    connection stays silent longer than a poll (each answer resets asyncssh's timer, so a fleet of hundreds sends
    none), yet a cut link is still noticed within interval x (count_max + 1), as without polling (12 s by default:
    docs/status.md promises ~15 s). The promise wins: a slow poll gets keepalives between its probes."""
    budget = interval * (count_max + 1)
    quiet = max(interval, poll_interval + 1.0)
    count = max(1, int(budget // quiet) - 1)
    return min(quiet, budget / (count + 1)), count


# Ciphers in the order SshPool offers them when ssh_config names none: AES-GCM first. asyncssh's own first
# choice, chacha20-poly1305, costs three cipher set-ups per packet in Python (~10 us against ~2 us for one
# AES-GCM call with AES-NI): at a fleet of hundreds polled every 5 s that was a fifth of the poller's CPU.
# Both are OpenSSH defaults; a `Ciphers` line in ssh_config still decides.
PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")

# `-o` options SshPool maps onto asyncssh; anything else is listed by `SshPool.ignored_options`.
MAPPED_OPTIONS = frozenset(o.lower() for o in (
    "Port", "User", "IdentityFile", "UserKnownHostsFile", "GlobalKnownHostsFile", "ConnectTimeout",
    "ServerAliveInterval", "ServerAliveCountMax", "ProxyJump", "HostKeyAlias",
    # Accepted but never allowed to weaken host-key checking.
    "StrictHostKeyChecking",
))

# ssh_config files to read: () means the user's default (~/.ssh/config), None means none at all.
ConfigFiles = Sequence[str | os.PathLike[str]] | None


@dataclass(frozen=True)
class ClientSettings:
    """The pool-wide defaults (see SshPool for what each means)."""

    known_hosts_files: tuple[str, ...] = ()
    client_keys: tuple[str, ...] | None = None
    config: ConfigFiles = ()
    keepalive_interval: float = DEFAULT_KEEPALIVE_INTERVAL
    keepalive_count_max: int = DEFAULT_KEEPALIVE_COUNT_MAX
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT


def config_paths(settings: ClientSettings, target: SshTarget) -> list[str] | tuple[()] | None:
    """The ssh_config files for asyncssh: the host's `-F`, else the pool's, else () for the user's default."""
    if target.config_file:
        return [str(Path(target.config_file).expanduser())]
    if settings.config is None:
        return None
    return [str(Path(p).expanduser()) for p in settings.config] if settings.config else ()


def config_origin(target: SshTarget) -> str:
    """Where the user should look to fix this host's SSH settings."""
    if target.config_file:
        return target.config_file
    if target.identity_files or target.option("IdentityFile"):
        return "the host's sshOpts"
    return "your ssh_config (~/.ssh/config)"


def client_keys(settings: ClientSettings, target: SshTarget, name: str) -> list[str] | None:
    """The host's own identity files (which must exist), else the pool's; None: ssh_config, default keys, agent."""
    files = list(target.identity_files)
    files += [v for k, v in target.options if k.lower() == "identityfile"]
    if files:
        keys = [str(Path(f).expanduser()) for f in files]
        for k in keys:
            if not Path(k).exists():
                raise SshConfigError(name, f"identity file {k} does not exist (named in the host's sshOpts)",
                                     "fix the IdentityFile / -i in the flake's sshOpts or create the key")
        return keys
    return list(settings.client_keys) if settings.client_keys is not None else None


def preview_options(settings: ClientSettings, target: SshTarget, name: str) -> asyncssh.SSHClientConnectionOptions:
    """The connection options with ssh_config applied (HostName, Port, ProxyJump, files...). Reads files: run it
    in an executor."""
    import asyncssh

    port = target.port or to_int(target.option("Port"))
    user = target.user or target.option("User")
    kwargs: dict[str, Any] = {}
    keys = client_keys(settings, target, name)
    if keys is not None:
        kwargs["client_keys"] = keys
    if user:
        kwargs["username"] = user
    alias = target.option("HostKeyAlias")
    if alias:
        kwargs["host_key_alias"] = alias
    return asyncssh.SSHClientConnectionOptions(config=config_paths(settings, target), host=target.hostname,
                                               port=port if port else (), **kwargs)


def connect_kwargs(settings: ClientSettings, target: SshTarget, name: str,
                   preview: asyncssh.SSHClientConnectionOptions) -> dict[str, Any]:
    """asyncssh.connect's keyword arguments. Keepalive from sshOpts wins over the pool's default, ssh_config's
    does not: a dead host must always be noticed quickly."""
    timeout = to_float(target.option("ConnectTimeout")) or preview.connect_timeout or settings.connect_timeout
    kwargs: dict[str, Any] = {
        "username": preview.username,
        "keepalive_interval": to_float(target.option("ServerAliveInterval")) or settings.keepalive_interval,
        "keepalive_count_max": to_int(target.option("ServerAliveCountMax")) or settings.keepalive_count_max,
        "connect_timeout": timeout,
        "login_timeout": timeout,
    }
    keys = client_keys(settings, target, name)
    if keys is not None:
        kwargs["client_keys"] = keys
    if preview.host_key_alias:
        kwargs["host_key_alias"] = preview.host_key_alias
    ciphers = cipher_order(list(preview.encryption_algs))
    if ciphers is not None:
        kwargs["encryption_algs"] = ciphers
    return kwargs


def cipher_order(configured: list[bytes]) -> list[str] | None:
    """PREFERRED_CIPHERS first when ssh_config left the ciphers to asyncssh (None: keep what it names)."""
    from asyncssh.encryption import get_default_encryption_algs

    default = [c.decode("ascii") for c in get_default_encryption_algs()]
    if [c.decode("ascii") for c in configured] != default:
        return None
    preferred = [c for c in PREFERRED_CIPHERS if c in default]
    return preferred + [c for c in default if c not in preferred]


def known_hosts_paths(settings: ClientSettings, target: SshTarget,
                      preview: asyncssh.SSHClientConnectionOptions | None) -> list[str]:
    """Every known_hosts file that counts for this host, existing or not (the first is the user's own)."""
    paths: list[str] = []
    for key in ("UserKnownHostsFile", "GlobalKnownHostsFile"):
        value = target.option(key)
        if value and value.lower() != "none":
            paths += shlex.split(value)
    if preview is not None and isinstance(preview.known_hosts, list | tuple):
        paths += [str(p) for p in preview.known_hosts if isinstance(p, str | os.PathLike)]
    paths += settings.known_hosts_files
    paths += ["~/.ssh/known_hosts", "~/.ssh/known_hosts2", "/etc/ssh/ssh_known_hosts"]
    out: list[str] = []
    for p in paths:
        full = str(Path(p).expanduser())
        if full not in out and full != os.devnull:
            out.append(full)
    return out


def jump_chain(via: tuple[str, ...], target: SshTarget,
               preview: asyncssh.SSHClientConnectionOptions) -> tuple[str, ...]:
    """The jump hosts to go through, outermost first: the inventory's, else ProxyJump (sshOpts or ssh_config)."""
    hops: Sequence[str] = target.jump_hosts
    if not hops:
        spec = target.option("ProxyJump") or _config_proxy_jump(preview)
        if spec and spec.lower() != "none":
            hops = [h.strip() for h in spec.split(",") if h.strip()]
    return (*via, *hops)


def tunnel_name(via: tuple[str, ...], target: SshTarget, preview: asyncssh.SSHClientConnectionOptions) -> str:
    """The jump hosts as the user wrote them, for messages."""
    chain = [*via, *target.jump_hosts]
    if not chain:
        spec = target.option("ProxyJump") or _config_proxy_jump(preview) or ""
        chain = [spec] if spec else []
    return ",".join(chain) or "?"


def _config_proxy_jump(preview: asyncssh.SSHClientConnectionOptions) -> str | None:
    tunnel: object = preview.tunnel
    return tunnel if isinstance(tunnel, str) else None


def parse_destination(spec: str) -> tuple[str | None, str, int | None]:
    """`[user@]host[:port]` (or `ssh://[user@]host[:port]`) -> (user, host, port)."""
    spec = spec.removeprefix("ssh://")
    user, _, rest = spec.rpartition("@")
    host, port = rest, None
    if rest.startswith("["):  # [v6addr]:port
        inner, _, tail = rest[1:].partition("]")
        host = inner
        port = to_int(tail.lstrip(":")) if tail else None
    elif rest.count(":") == 1:
        host, _, p = rest.partition(":")
        port = to_int(p)
    return (user or None), host, port


def to_int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def to_float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
