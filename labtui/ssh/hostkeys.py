"""Host keys: reading every known_hosts file that counts, and the one-line error that says how to trust a new key
or why a changed one is refused.

labtui never turns host-key checking off; these errors are how a user gets past an unknown key (with the command
that adds it) and learns that a changed one blocks the host until a known_hosts file changes.

The commands printed are meant to be pasted into a shell as they are: a path under the home directory starts
with an unquoted `~/` (a quoted `'~/.ssh/known_hosts'` is not expanded), and a host with a HostKeyAlias is named
by that alias alone, as OpenSSH stores it (not `[alias]:port`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from labtui.ssh.api import HostKeyChanged, HostKeyUnknown, SshError

if TYPE_CHECKING:
    import asyncssh

# What a changed host key is checked against: each known_hosts file's (path, mtime, size), so the block is lifted as
# soon as the user edits one of them.
FilesFingerprint = tuple[tuple[str, int | None, int | None], ...]


def read_known_hosts(paths: list[str]) -> asyncssh.SSHKnownHosts:
    """One SSHKnownHosts from every readable file; an empty one (trust nothing) when there are none."""
    import asyncssh

    text = []
    for p in paths:
        try:
            text.append(Path(p).read_text(errors="replace"))
        except OSError:
            continue
    return asyncssh.import_known_hosts("\n".join(text))


def files_fingerprint(paths: list[str]) -> FilesFingerprint:
    out: list[tuple[str, int | None, int | None]] = []
    for p in paths:
        try:
            st = os.stat(p)
            out.append((p, st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((p, None, None))
    return tuple(out)


async def host_key_error(name: str, preview: asyncssh.SSHClientConnectionOptions, known_paths: list[str],
                         known_hosts: asyncssh.SSHKnownHosts, tunnel: asyncssh.SSHClientConnection | None,
                         jump: str) -> tuple[SshError, FilesFingerprint | None]:
    """The error for a host key that did not verify, and the known_hosts fingerprint to block the host on (a changed
    key) or None (an unknown key: the next attempt may find it added). `jump` names the jump hosts, if any."""
    import asyncssh

    host, port = preview.host, preview.port
    alias = preview.host_key_alias
    lookup = alias or host
    presented = await _server_key(host, port, tunnel)
    fp = presented.get_fingerprint() if presented is not None else None
    algo = presented.get_algorithm() if presented is not None else None
    kind = _keyscan_type(algo)
    entry = known_hosts_name(host, port, alias)
    addr = lookup if _looks_like_ip(lookup) else ""
    trusted = asyncssh.match_known_hosts(known_hosts, lookup, addr, port)[0]
    if trusted:
        found = _file_with_entry(known_paths, lookup, addr, port)
        where = _tilde(found) if found else "your known_hosts"
        if found and alias and port != 22 and _names_in(found, f"[{alias}]:{port}"):
            entry = f"[{alias}]:{port}"  # written so by hand: asyncssh (and labtui) find that form first
        remove = f"ssh-keygen -R {shlex.quote(entry)}" + (f" -f {shell_path(found)}" if found else "")
        seen = f"; it now presents {kind or 'a'} key {fp}" if fp else ""
        changed = HostKeyChanged(
            name, f"HOST KEY CHANGED for {entry}: it does not match {where}{seen}. labtui will not "
            "connect (possible man-in-the-middle attack)",
            f"if the host was reinstalled, check the new fingerprint on its console, then run "
            f"`{remove}` and add the new key")
        return changed, files_fingerprint(known_paths)
    user_file = shell_path(known_paths[0]) if known_paths else "~/.ssh/known_hosts"
    if tunnel is not None:
        as_alias = f" -o HostKeyAlias={shlex.quote(alias)}" if alias else ""
        add = (f"ssh -J {shlex.quote(jump)}{as_alias} -p {port} {shlex.quote(host)} true  "
               f"(check the fingerprint, answer yes)")
    else:
        t = f" -t {kind}" if kind else ""
        p = f" -p {port}" if port != 22 else ""
        # ssh-keyscan names the key by host and port; under a HostKeyAlias OpenSSH looks it up by the alias.
        rename = f" | sed {shlex.quote('s/^[^ ]*/' + _sed_escape(alias) + '/')}" if alias else ""
        add = f"ssh-keyscan{p}{t} {shlex.quote(host)}{rename} >> {user_file}"
    seen = f" (it presents {kind or ''} key {fp})".replace("  ", " ") if fp else ""
    return HostKeyUnknown(name, f"host key of {entry} is not in known_hosts{seen}",
                          f"check the fingerprint, then: {add}"), None


def known_hosts_name(host: str, port: int, alias: str | None) -> str:
    """The name of a host's known_hosts entry as OpenSSH writes it: the HostKeyAlias verbatim, else `host` on port
    22 and `[host]:port` on any other."""
    if alias:
        return alias
    return f"[{host}]:{port}" if port != 22 else host


def shell_path(path: str) -> str:
    """`path` as a shell word that works when pasted: under the home directory as `~/` (unquoted, so the shell
    expands it) followed by the quoted rest; elsewhere quoted."""
    home = str(Path.home()).rstrip("/")
    if path.startswith(home + "/"):
        return "~/" + shlex.quote(path[len(home) + 1:])
    return shlex.quote(path)


def _names_in(path: str, name: str) -> bool:
    """Whether a line of the known_hosts file at `path` names `name` in clear (hashed names cannot be read)."""
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return False
    for line in lines:
        fields = line.split()
        if fields and fields[0].startswith("@") and len(fields) > 1:
            fields = fields[1:]  # @cert-authority / @revoked
        if fields and name in fields[0].split(","):
            return True
    return False


def _sed_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("/", "\\/").replace("&", "\\&")


def _file_with_entry(paths: list[str], host: str, addr: str, port: int) -> str | None:
    import asyncssh

    for p in paths:
        try:
            if asyncssh.match_known_hosts(asyncssh.import_known_hosts(Path(p).read_text()), host, addr, port)[0]:
                return p
        except (OSError, ValueError):
            continue
    return None


async def _server_key(host: str, port: int, tunnel: asyncssh.SSHClientConnection | None) -> asyncssh.SSHKey | None:
    """The key the server presents (for the fix hint), or None when it cannot be fetched quickly."""
    import asyncssh

    try:
        return await asyncio.wait_for(asyncssh.get_server_host_key(host, port, tunnel=tunnel, config=None), 5)
    except (TimeoutError, asyncssh.Error, OSError):
        return None


def _keyscan_type(algorithm: str | None) -> str | None:
    if not algorithm:
        return None
    for prefix, kind in (("ssh-ed25519", "ed25519"), ("ecdsa-", "ecdsa"), ("ssh-rsa", "rsa"), ("rsa-", "rsa")):
        if algorithm.startswith(prefix):
            return kind
    return None


def _looks_like_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _tilde(path: str) -> str:
    home = str(Path.home())
    return "~" + path[len(home):] if path.startswith(home + "/") else path
