"""Which SSH errors are worth trying again."""

from __future__ import annotations

from labtui.ssh.api import CommandTimeout, HostUnreachable, SshConfigError, SshError


def is_transient(error: SshError) -> bool:
    """A drop or a slow host may pass; wrong SSH settings, keys or host keys will not fix themselves."""
    return isinstance(error, (HostUnreachable, CommandTimeout)) and not isinstance(error, SshConfigError)
