"""The small interface the rest of labtui uses to run commands on hosts.

`labtui.ssh.pool.SshPool` implements it over asyncssh; tests and the TUI may inject fakes.
Commands are strings for a POSIX shell on the host, built with `shlex.quote` from validated values.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol


class HostState(StrEnum):
    """What labtui knows about reaching a host (issue: live status)."""

    CONNECTING = "connecting"
    UP = "up"
    DEGRADED = "degraded"  # reachable, but systemd is degraded / units failed / probe partly failed
    DOWN = "down"
    AUTH_FAILED = "auth failed"
    HOST_KEY_UNKNOWN = "host key unknown"
    HOST_KEY_CHANGED = "HOST KEY CHANGED"


# A host decides how much it answers: what one command may return is capped, so a hostile or broken host cannot
# fill the jump host's memory (issue 11: a 100 MB probe answer took 257 MB).
MAX_OUTPUT = 4 * 1024 * 1024  # characters of stdout, and of stderr, one `run` keeps
MAX_LINE = 64 * 1024  # characters of one line from `stream` (a longer one is cut, saying so)


@dataclass(frozen=True)
class CommandResult:
    exit_status: int | None  # None: killed by a signal, the channel closed without a status, or truncated
    stdout: str
    stderr: str
    truncated: bool = False  # the output went past `max_output`: the command was stopped, its output cut there

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


class SshError(Exception):
    """Reaching or using a host failed. `state` says how the host should be shown, `hint` how to fix."""

    state: HostState = HostState.DOWN

    def __init__(self, host: str, message: str, hint: str = "") -> None:
        super().__init__(f"{host}: {message}")
        self.host = host
        self.message = message
        self.hint = hint


class HostUnreachable(SshError):
    state = HostState.DOWN


class AuthFailed(SshError):
    state = HostState.AUTH_FAILED


class HostKeyUnknown(SshError):
    state = HostState.HOST_KEY_UNKNOWN


class HostKeyChanged(SshError):
    state = HostState.HOST_KEY_CHANGED


class SshConfigError(SshError):
    """The SSH settings for the host are wrong (IdentityFile missing, unreadable key, bad option).

    Nothing was sent to the host; the hint says which setting to fix.
    """

    state = HostState.DOWN


class CommandTimeout(SshError):
    """The command did not finish in time; the connection stays usable."""

    state = HostState.DEGRADED


class RemoteShell(Protocol):
    async def run(self, host: str, command: str, *, timeout: float | None = None,
                  input: str | None = None, max_output: int = MAX_OUTPUT) -> CommandResult:
        """Run `command` on `host` over its pooled connection. Raises SshError subclasses.

        At most `max_output` characters of stdout (and of stderr) are kept: past that, the command is stopped and
        the result says `truncated`."""
        ...

    def stream(self, host: str, command: str) -> AsyncIterator[str]:
        """Lines of stdout as they come (without the newline), each cut at MAX_LINE characters (saying so).
        Raises SshError subclasses."""
        ...


OutputStream = Literal["stdout", "stderr"]
# Receives each line of a command's output as it arrives: (which stream, the line without its newline).
LineSink = Callable[[OutputStream, str], None]


class LineShell(Protocol):
    """A RemoteShell that can also hand over a command's stdout and stderr line by line as they come
    (`labtui exec --stream`, the TUI's exec view). `labtui.ssh.pool.SshPool` has it."""

    async def run_lines(self, host: str, command: str, on_line: LineSink, *, timeout: float | None = None,
                        input: str | None = None) -> int | None:
        """Run `command`, calling `on_line` for every line of stdout and stderr; the exit status (None: killed
        by a signal). Raises SshError subclasses (CommandTimeout when `timeout` passed: the command is ended)."""
        ...
