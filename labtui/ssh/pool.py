"""SshPool: one persistent asyncssh connection per host, shared by every probe, log stream and check.

What it guarantees:
  * host keys are ALWAYS verified against known_hosts (~/.ssh/known_hosts, /etc/ssh/ssh_known_hosts,
    UserKnownHostsFile from ~/.ssh/config or sshOpts, plus the pool's own files). No setting turns
    it off: `StrictHostKeyChecking=no` and `UserKnownHostsFile=/dev/null` only stop adding files.
    An unknown key raises HostKeyUnknown with the command that would add it; a changed key raises
    HostKeyChanged and the host is not contacted again until a known_hosts file changes;
  * `~/.ssh/config` (or `-F` from sshOpts) and the ssh-agent are honoured through asyncssh;
    the host's SshTarget (user, port, identity files, `-o` options, jump hosts) wins over the config;
  * jump hosts: labtui opens one connection per jump host itself (with the same key checking)
    and tunnels every host behind it through it; a jump host that is in the inventory reuses
    that host's own connection;
  * keepalive (4 s x 2 by default) notices a cut link within 12 s (docs/status.md promises ~15 s),
    also under a running command; reconnects use exponential backoff with jitter, so a down host
    is not hammered;
  * at most 8 channels at once per connection (OpenSSH's MaxSessions is 10), of which long-lived
    streams (journalctl -f) may hold 6, so probes and checks always find a free channel.

asyncssh is imported lazily: `labtui --help` must not pay for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from labtui.commandlog import COMMAND_LOG, CommandLog
from labtui.inventory.model import Host, SshTarget
from labtui.ssh import options
from labtui.ssh.api import (
    MAX_LINE,
    MAX_OUTPUT,
    AuthFailed,
    CommandResult,
    CommandTimeout,
    HostState,
    HostUnreachable,
    LineSink,
    OutputStream,
    SshConfigError,
    SshError,
)
from labtui.ssh.hostkeys import FilesFingerprint, files_fingerprint, host_key_error, read_known_hosts
from labtui.ssh.lines import LineSplitter
from labtui.ssh.options import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_KEEPALIVE_COUNT_MAX,
    DEFAULT_KEEPALIVE_INTERVAL,
    MAPPED_OPTIONS,
    ClientSettings,
    ConfigFiles,
    parse_destination,
)
from labtui.text import LineCutter

if TYPE_CHECKING:
    import asyncssh

MAX_CHANNELS = 8  # below OpenSSH's default MaxSessions (10): room for an interactive `ssh` too
RESERVED_FOR_COMMANDS = 2  # channels streams can never take
CONNECTS_AT_ONCE = 32  # SSH handshakes under way together (a large fleet connects in waves)
# A channel that fails this soon after being asked for met a connection that died between uses: one retry on a
# fresh connection. Later, the connection died under the command (keepalive timeout, a cut link): retrying would
# add a whole connect timeout before the host shows as down (issue 11: `status --watch` said `up` for 25 s).
STALE_RETRY_WINDOW = 1.0
READ_CHUNK = 65536  # characters read from a channel at a time


class ChannelFailed(SshError):
    """The connection is up but the server refused a new channel (too many sessions?)."""

    state = HostState.DEGRADED


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays: base * 2**(failures-1), capped, times a random factor in [1-jitter, 1]."""

    base: float = 1.0
    cap: float = 30.0
    jitter: float = 0.5

    def delay(self, failures: int, rng: random.Random) -> float:
        raw = min(self.cap, self.base * (2.0 ** max(0, failures - 1)))
        return raw * (1.0 - self.jitter * rng.random())


@dataclass
class _Slot:
    """One connection (a host's, or a jump host's) and what the pool knows about it."""

    key: str
    target: SshTarget
    name: str  # the name shown in errors: inventory name, or the jump host spec
    via: tuple[str, ...] = ()  # jump chain, outermost first (from the inventory; config adds its own)
    conn: asyncssh.SSHClientConnection | None = None  # while connected
    # The asyncssh callbacks (_new_client) of the last connection opened, which know why it closed.
    client: tuple[asyncssh.SSHClientConnection, object] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    channels: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_CHANNELS))
    streams: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(MAX_CHANNELS - RESERVED_FOR_COMMANDS))
    state: HostState = HostState.CONNECTING
    last_error: SshError | None = None
    failures: int = 0
    next_attempt: float = 0.0
    blocked_on: tuple[list[str], FilesFingerprint] | None = None  # (paths, fingerprint): a changed host key was seen
    watcher: asyncio.Task[None] | None = None
    connected_at: float | None = None
    connect_ms: float | None = None


class Conversation:
    """A command kept running on a host (SshPool.conversation): write to it, read its answers up to a
    line of your choosing. Any failure closes it; SSH errors come as labtui's SshError subclasses."""

    def __init__(self, pool: SshPool, slot: _Slot, conn: asyncssh.SSHClientConnection,
                 process: asyncssh.SSHClientProcess[str], command: str) -> None:
        self._pool = pool
        self._slot = slot
        self._conn = conn
        self._process = process
        self._command = command
        self.closed = False
        self.truncated = False

    @property
    def ended(self) -> bool:
        """The command is no longer running: closed here, ended on the host, or its connection dropped."""
        return self.closed or self._conn.is_closed() or self._process.exit_status is not None

    def send(self, text: str) -> None:
        if self.closed:
            raise HostUnreachable(self._slot.name, "the conversation is closed", "start a new one")
        self._process.stdin.write(text)

    async def answer(self, end_line: str, *, timeout: float, max_chars: int) -> str:
        """Everything up to and including the next line that reads `end_line`, within `timeout` seconds
        (else CommandTimeout, or another SshError; either closes this). An answer longer than `max_chars`
        is cut there, closes this and sets `truncated`."""
        import asyncssh

        separator = f"\n{end_line}\n"
        try:
            async with asyncio.timeout(timeout):
                text = await self._process.stdout.readuntil(separator)
        except TimeoutError:
            self.close()
            raise CommandTimeout(self._slot.name, f"`{_short(self._command)}` gave no answer within {timeout:g} s",
                                 "the connection is kept; the host may be overloaded") from None
        except asyncio.IncompleteReadError:
            self.close()
            await asyncio.sleep(0)  # let asyncssh finish marking the connection closed
            if self._conn.is_closed():
                self._pool._dropped(self._slot, self._conn, None)
                raise HostUnreachable(self._slot.name, "connection lost", "labtui reconnects by itself") from None
            raise HostUnreachable(self._slot.name, f"`{_short(self._command)}` ended",
                                  "it is started again on the next refresh") from None
        except (asyncssh.Error, OSError, EOFError) as exc:
            self.close()
            self._pool._dropped(self._slot, self._conn, exc)
            raise HostUnreachable(self._slot.name, f"connection lost: {_why(exc)}",
                                  "labtui reconnects by itself") from None
        if len(text) > max_chars:
            self.close()
            self.truncated = True
            return text[:max_chars]
        return text

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._process.close()
        self._slot.channels.release()
        self._slot.streams.release()


class SshPool:
    """RemoteShell over asyncssh with one persistent connection per host.

    hosts: the inventory's hosts (commands address them by `Host.name`).
    known_hosts: extra known_hosts files, checked with the user's own (tests, the demo).
    client_keys: private key files used when a host names no IdentityFile (tests, the demo);
        default: ~/.ssh/config's IdentityFile, the default keys and the ssh-agent, like `ssh`.
    config: ssh_config files to read instead of ~/.ssh/config (a host's `-F` wins); None: none.
    keepalive_interval/keepalive_count_max: dead-connection detection (ServerAliveInterval/CountMax
        in sshOpts win; ~/.ssh/config's values do not, so a dead host is always noticed quickly).
    connect_timeout: TCP + handshake + auth (ConnectTimeout in sshOpts or ~/.ssh/config wins).
    backoff, clock, rng: reconnect policy and its time/randomness sources (injectable for tests).
    keepalive_between_polls_only: the hosts are probed every `Host.poll_interval` by a status poller
        (the TUI, `status --watch`): keepalives are only sent when a connection stays silent longer.
    """

    def __init__(self, hosts: Iterable[Host], *, known_hosts: Sequence[str | os.PathLike[str]] = (),
                 client_keys: Sequence[str | os.PathLike[str]] | None = None,
                 config: ConfigFiles = (),
                 keepalive_interval: float = DEFAULT_KEEPALIVE_INTERVAL,
                 keepalive_count_max: int = DEFAULT_KEEPALIVE_COUNT_MAX,
                 connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                 max_channels: int = MAX_CHANNELS, backoff: Backoff = Backoff(),
                 clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None,
                 command_log: CommandLog = COMMAND_LOG, keepalive_between_polls_only: bool = False) -> None:
        self.hosts = {h.name: h for h in hosts}
        self.keepalive_between_polls_only = keepalive_between_polls_only
        self.settings = ClientSettings(
            known_hosts_files=tuple(str(Path(p).expanduser()) for p in known_hosts),
            client_keys=tuple(str(Path(p).expanduser()) for p in client_keys) if client_keys else None,
            config=config, keepalive_interval=keepalive_interval, keepalive_count_max=keepalive_count_max,
            connect_timeout=connect_timeout)
        self.max_channels = max_channels
        self.backoff = backoff
        self.clock = clock
        self.rng = rng or random.Random()
        self.command_log = command_log
        self._slots: dict[str, _Slot] = {}
        self._connecting = asyncio.Semaphore(CONNECTS_AT_ONCE)
        self._known_hosts_cache: dict[FilesFingerprint, asyncio.Future[asyncssh.SSHKnownHosts]] = {}
        self._listeners: list[Callable[[str, HostState, SshError | None], None]] = []
        self._closed = False
        for h in self.hosts.values():
            self._slots[h.name] = self._new_slot(h.name, h.ssh, h.name)

    def _new_slot(self, key: str, target: SshTarget, name: str, via: tuple[str, ...] = ()) -> _Slot:
        streams = max(1, self.max_channels - RESERVED_FOR_COMMANDS)
        return _Slot(key=key, target=target, name=name, via=via, channels=asyncio.Semaphore(self.max_channels),
                     streams=asyncio.Semaphore(streams))

    # ----- what others read -----

    def state(self, host: str) -> HostState:
        return self._slot(host).state

    def last_error(self, host: str) -> SshError | None:
        return self._slot(host).last_error

    def connect_ms(self, host: str) -> float | None:
        """How long the current connection took to open (connect + auth), in milliseconds."""
        return self._slot(host).connect_ms

    def subscribe(self, listener: Callable[[str, HostState, SshError | None], None]) -> Callable[[], None]:
        """Call `listener(host, state, error)` when a host's connection opens, fails or drops."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def ignored_options(self, host: str) -> list[str]:
        """The host's `-o` options labtui's SSH client does not apply (deploy-rs still gets them)."""
        return [f"{k}={v}" for k, v in self._slot(host).target.options if k.lower() not in MAPPED_OPTIONS]

    # ----- RemoteShell -----

    async def run(self, host: str, command: str, *, timeout: float | None = None,
                  input: str | None = None, max_output: int = MAX_OUTPUT) -> CommandResult:
        """Run `command` over the host's connection. Raises SshError subclasses, never asyncssh's.

        Output past `max_output` characters (stdout or stderr) stops the command: the result is `truncated`."""
        import asyncssh

        slot = self._slot(host)
        self.command_log.remote(host, command)
        deadline = None if timeout is None else time.monotonic() + timeout
        for attempt in (1, 2):
            conn = await self._connection(slot)
            await self._acquire_channel(slot, command, timeout, deadline)
            opened = time.monotonic()
            try:
                try:
                    left = None if deadline is None else max(0.001, deadline - time.monotonic())
                    result = await asyncio.wait_for(_run_capped(conn, command, input, max_output), left)
                except TimeoutError:
                    raise CommandTimeout(host, f"`{_short(command)}` did not finish within {timeout:g} s",
                                         "the connection is kept; the host may be overloaded") from None
                except asyncssh.ChannelOpenError as exc:
                    if conn.is_closed() and attempt == 1 and time.monotonic() - opened < STALE_RETRY_WINDOW:
                        self._dropped(slot, conn, exc)
                        continue  # the connection died between uses: one fresh connection, then give up
                    raise self._channel_error(slot, conn, exc) from None
                except (asyncssh.Error, OSError, EOFError) as exc:
                    self._dropped(slot, conn, exc)
                    raise HostUnreachable(host, f"connection lost while running `{_short(command)}`: {_why(exc)}",
                                          "labtui reconnects by itself") from None
            finally:
                slot.channels.release()
            if result.exit_status is None and result.exit_signal is None and not result.truncated:
                # The channel closed without an exit status: asyncssh returns instead of raising when
                # the connection went away under a running command.
                await asyncio.sleep(0)  # let asyncssh finish marking the connection closed
                if conn.is_closed() or slot.conn is not conn:
                    self._dropped(slot, conn, None)
                    raise HostUnreachable(host, f"connection lost while running `{_short(command)}`",
                                          "labtui reconnects by itself")
            status = None if result.exit_signal or result.exit_status in (None, -1) else result.exit_status
            return CommandResult(status, result.stdout, result.stderr, truncated=result.truncated)
        raise AssertionError("unreachable")  # pragma: no cover

    async def run_lines(self, host: str, command: str, on_line: LineSink, *, timeout: float | None = None,
                        input: str | None = None) -> int | None:
        """Run `command`, handing each stdout/stderr line to `on_line` as it arrives (labtui.ssh.api.LineShell)."""
        import asyncssh

        slot = self._slot(host)
        self.command_log.remote(host, command)
        deadline = None if timeout is None else time.monotonic() + timeout
        conn = await self._connection(slot)
        await self._acquire_channel(slot, command, timeout, deadline)
        try:
            try:
                proc = await conn.create_process(command, stdin=asyncssh.PIPE if input else asyncssh.DEVNULL,
                                                 encoding=None)
            except asyncssh.ChannelOpenError as exc:
                raise self._channel_error(slot, conn, exc) from None
            except (asyncssh.Error, OSError, EOFError) as exc:
                self._dropped(slot, conn, exc)
                raise HostUnreachable(host, f"connection lost while starting `{_short(command)}`: {_why(exc)}",
                                      "labtui reconnects by itself") from None
            try:
                if input:
                    proc.stdin.write(input.encode())
                    proc.stdin.write_eof()

                async def pump(reader: asyncssh.SSHReader[bytes], name: OutputStream) -> None:
                    splitter = LineSplitter()
                    while chunk := await reader.read(65536):
                        for line in splitter.feed(chunk):
                            on_line(name, line)
                    for line in splitter.finish():
                        on_line(name, line)

                async def whole() -> None:
                    await asyncio.gather(pump(proc.stdout, "stdout"), pump(proc.stderr, "stderr"))
                    await proc.wait()

                left = None if deadline is None else max(0.001, deadline - time.monotonic())
                try:
                    await asyncio.wait_for(whole(), left)
                except TimeoutError:
                    with contextlib.suppress(Exception):  # best effort: OpenSSH passes the signal on (7.9+)
                        proc.send_signal("KILL")
                    raise CommandTimeout(host, f"`{_short(command)}` did not finish within {timeout:g} s",
                                         "the command was ended; the connection is kept") from None
            except (asyncssh.Error, OSError, EOFError) as exc:
                self._dropped(slot, conn, exc)
                raise HostUnreachable(host, f"connection lost while running `{_short(command)}`: {_why(exc)}",
                                      "labtui reconnects by itself") from None
            finally:
                proc.close()
        finally:
            slot.channels.release()
        if proc.exit_status is None and proc.exit_signal is None:
            await asyncio.sleep(0)  # let asyncssh finish marking the connection closed
            if conn.is_closed() or slot.conn is not conn:
                self._dropped(slot, conn, None)
                raise HostUnreachable(host, f"connection lost while running `{_short(command)}`",
                                      "labtui reconnects by itself")
        return None if proc.exit_signal or proc.exit_status in (None, -1) else proc.exit_status

    async def stream(self, host: str, command: str) -> AsyncIterator[str]:
        """Stdout lines as they arrive, without newlines. Closing the iterator ends the remote command."""
        import asyncssh

        slot = self._slot(host)
        self.command_log.remote(host, command)
        conn = await self._connection(slot)
        async with slot.streams, slot.channels:
            try:
                async with conn.create_process(command, stdin=asyncssh.DEVNULL, encoding="utf-8",
                                               errors="replace") as proc:
                    lines = LineCutter(MAX_LINE)  # a host may send a line of any length: never keep more
                    while chunk := await proc.stdout.read(READ_CHUNK):
                        for line in lines.feed(chunk):
                            yield line
                    if lines.has_pending:
                        yield lines.take_pending()
                    await proc.wait()
                    if proc.exit_status is None and proc.exit_signal is None:
                        await asyncio.sleep(0)  # let asyncssh finish marking the connection closed
                        if conn.is_closed() or slot.conn is not conn:
                            # Output ended because the connection went away, not because the command did.
                            raise asyncssh.ConnectionLost("the connection closed")
            except asyncssh.ChannelOpenError as exc:
                raise self._channel_error(slot, conn, exc) from None
            except (asyncssh.Error, OSError, EOFError) as exc:
                self._dropped(slot, conn, exc)
                raise HostUnreachable(host, f"connection lost while streaming `{_short(command)}`: {_why(exc)}",
                                      "labtui reconnects by itself") from None

    async def conversation(self, host: str, command: str) -> Conversation:
        """A long-lived command on the host's connection, talked to through its stdin and stdout (the
        status poller's following probe). It holds one channel until `close()`."""
        import asyncssh

        slot = self._slot(host)
        self.command_log.remote(host, command)
        conn = await self._connection(slot)
        await slot.streams.acquire()
        await slot.channels.acquire()
        try:
            process = await conn.create_process(command, encoding="utf-8", errors="replace")
        except BaseException as exc:
            slot.channels.release()
            slot.streams.release()
            if isinstance(exc, asyncssh.ChannelOpenError):
                raise self._channel_error(slot, conn, exc) from None
            if isinstance(exc, asyncssh.Error | OSError | EOFError):
                self._dropped(slot, conn, exc)
                raise HostUnreachable(host, f"connection lost while starting `{_short(command)}`: {_why(exc)}",
                                      "labtui reconnects by itself") from None
            raise
        return Conversation(self, slot, conn, process, command)

    async def _acquire_channel(self, slot: _Slot, command: str, timeout: float | None,
                               deadline: float | None) -> None:
        """Wait for a free channel on the slot's connection, within the command's timeout."""
        if deadline is None:
            await slot.channels.acquire()
            return
        try:
            await asyncio.wait_for(slot.channels.acquire(), max(0.001, deadline - time.monotonic()))
        except TimeoutError:
            raise CommandTimeout(slot.name, f"`{_short(command)}` found no free SSH channel within {timeout:g} s "
                                 f"({self.max_channels} in use)", "too many commands or streams at once") from None

    # ----- connections -----

    async def connect_all(self, hosts: Iterable[str] | None = None) -> dict[str, SshError | None]:
        """Open the connections of `hosts` (default: all) concurrently; the error per host, or None."""
        names = list(hosts) if hosts is not None else list(self.hosts)

        async def one(name: str) -> SshError | None:
            try:
                await self._connection(self._slot(name))
            except SshError as exc:
                return exc
            return None

        results = await asyncio.gather(*(one(n) for n in names))
        return dict(zip(names, results, strict=True))

    async def connection(self, host: str) -> asyncssh.SSHClientConnection:
        """The host's open asyncssh connection (opening it if needed), for callers needing more than run()."""
        return await self._connection(self._slot(host))

    def retry_now(self, host: str) -> None:
        """Forget the reconnect delay (a user asked to refresh). A changed host key stays blocked."""
        slot = self._slot(host)
        slot.next_attempt = 0.0

    async def close(self) -> None:
        self._closed = True
        conns = [s.conn for s in self._slots.values() if s.conn is not None]
        for s in self._slots.values():
            if s.watcher is not None:
                s.watcher.cancel()
            s.conn = None
        for c in conns:
            c.close()
        for c in conns:
            try:
                await asyncio.wait_for(c.wait_closed(), 2)
            except (TimeoutError, OSError):
                pass

    async def __aenter__(self) -> SshPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _known_hosts(self, paths: list[str]) -> asyncssh.SSHKnownHosts:
        """The parsed known_hosts files, shared by every connection that names the same files while they do
        not change: a fleet's known_hosts holds every host, and parsing it per connection made memory and
        start-up grow with the square of the fleet."""
        loop = asyncio.get_running_loop()
        fingerprint = await loop.run_in_executor(None, files_fingerprint, paths)
        parsed = self._known_hosts_cache.get(fingerprint)
        if parsed is None:  # one parse, however many connections start at once
            if len(self._known_hosts_cache) > 16:  # files changed many times: keep the newest only
                self._known_hosts_cache.clear()
            parsed = loop.run_in_executor(None, read_known_hosts, paths)
            self._known_hosts_cache[fingerprint] = parsed
        try:
            return await asyncio.shield(parsed)
        except OSError:
            self._known_hosts_cache.pop(fingerprint, None)
            raise

    def _slot(self, host: str) -> _Slot:
        try:
            return self._slots[host]
        except KeyError:
            raise HostUnreachable(host, "not a host of this inventory", "run `labtui hosts` to list them") from None

    async def _connection(self, slot: _Slot) -> asyncssh.SSHClientConnection:
        """The slot's live connection, connecting when needed (respecting backoff and key blocks)."""
        if slot.conn is not None and not slot.conn.is_closed():
            return slot.conn
        async with slot.lock:
            if slot.conn is not None and not slot.conn.is_closed():
                return slot.conn
            if self._closed:
                raise HostUnreachable(slot.name, "the SSH pool is closed")
            if slot.blocked_on is not None:
                paths, fingerprint = slot.blocked_on
                if fingerprint == files_fingerprint(paths):
                    assert slot.last_error is not None
                    raise slot.last_error
                slot.blocked_on = None  # known_hosts changed: the user may have fixed it, try again
            if slot.last_error is not None and self.clock() < slot.next_attempt:
                raise slot.last_error
            started = time.perf_counter()
            try:
                try:
                    # A fleet connecting at once would start hundreds of handshakes together and time them
                    # all out; at most CONNECTS_AT_ONCE are under way, each timed from its own start.
                    async with self._connecting:
                        conn = await self._open(slot)
                except SshError:
                    raise
                except Exception as exc:  # noqa: BLE001 - callers only ever see SshError
                    raise HostUnreachable(slot.name, f"cannot connect: {_why(exc)}",
                                          "check the host's SSH settings; try `ssh` by hand") from exc
            except SshError as exc:
                slot.failures += 1
                slot.next_attempt = self.clock() + self.backoff.delay(slot.failures, self.rng)
                self._set_state(slot, exc.state, exc)
                raise
            slot.connect_ms = (time.perf_counter() - started) * 1000.0
            slot.conn, slot.failures, slot.next_attempt = conn, 0, 0.0
            slot.client = (conn, conn.get_owner())  # asyncssh forgets the owner once the connection closes
            slot.connected_at = time.time()
            slot.watcher = asyncio.get_running_loop().create_task(self._watch(slot, conn))
            self._set_state(slot, HostState.UP, None)
            return conn

    async def _watch(self, slot: _Slot, conn: asyncssh.SSHClientConnection) -> None:
        """Notice a connection closing (keepalive timeout, server gone) as soon as asyncssh does."""
        try:
            await conn.wait_closed()
        except asyncio.CancelledError:
            return
        except Exception:  # noqa: BLE001 - any close reason means the same here
            pass
        if slot.conn is conn and not self._closed:
            self._dropped(slot, conn, None)

    def _dropped(self, slot: _Slot, conn: asyncssh.SSHClientConnection, exc: BaseException | None) -> None:
        if slot.conn is not conn:
            return
        slot.conn = None
        if not conn.is_closed():
            conn.close()
        exc = _lost_reason(slot, conn) or exc
        error = HostUnreachable(slot.name, f"connection lost{': ' + _why(exc) if exc else ''}",
                                "labtui reconnects by itself")
        # A drop is not a failed attempt: reconnect at once, backoff applies if that fails.
        slot.next_attempt = 0.0
        self._set_state(slot, HostState.DOWN, error)

    def _channel_error(self, slot: _Slot, conn: asyncssh.SSHClientConnection, exc: BaseException) -> SshError:
        if conn.is_closed():
            why = _why(_lost_reason(slot, conn) or exc)
            self._dropped(slot, conn, exc)
            return HostUnreachable(slot.name, f"connection lost: {why}", "labtui reconnects by itself")
        return ChannelFailed(slot.name, f"the server refused a new channel: {_why(exc)}",
                             "too many sessions open? (sshd MaxSessions)")

    def _set_state(self, slot: _Slot, state: HostState, error: SshError | None) -> None:
        slot.state, slot.last_error = state, error
        if slot.key in self.hosts:
            for listener in list(self._listeners):
                listener(slot.key, state, error)

    # ----- opening one connection -----

    async def _open(self, slot: _Slot) -> asyncssh.SSHClientConnection:
        import asyncssh

        target, settings = slot.target, self.settings
        loop = asyncio.get_running_loop()
        try:
            preview = await loop.run_in_executor(None, options.preview_options, settings, target, slot.name)
        except FileNotFoundError as exc:
            raise SshConfigError(slot.name, f"identity file {exc.filename} does not exist (named in "
                                 f"{options.config_origin(target)})",
                                 "fix IdentityFile or create the key") from None
        except (asyncssh.KeyImportError, ValueError, OSError) as exc:
            raise SshConfigError(slot.name, f"cannot use the SSH settings: {exc}",
                                 f"check {options.config_origin(target)}") from None
        host, port = preview.host, preview.port
        known_paths = options.known_hosts_paths(settings, target, preview)
        known_hosts = await self._known_hosts(known_paths)
        tunnel = await self._tunnel_for(slot, preview)
        kwargs = options.connect_kwargs(settings, target, slot.name, preview)
        polled = self.hosts.get(slot.key) if self.keepalive_between_polls_only else None
        if polled is not None and not target.option("ServerAliveInterval") \
                and not target.option("ServerAliveCountMax"):
            # A host the status poller probes every poll_interval needs no keepalive in between: each answer
            # resets asyncssh's keepalive timer (keepalives just after each probe cost a fleet of hundreds a tenth
            # of a core). Fewer, later keepalives, but a cut link is noticed as soon as without polling.
            kwargs["keepalive_interval"], kwargs["keepalive_count_max"] = options.polled_keepalive(
                kwargs["keepalive_interval"], kwargs["keepalive_count_max"], polled.poll_interval)
        try:
            # The name as given (not preview.host): asyncssh matches ssh_config `Host` blocks on it.
            return await asyncssh.connect(target.hostname, port, tunnel=tunnel, known_hosts=known_hosts,
                                          config=options.config_paths(settings, target), client_factory=_new_client,
                                          **kwargs)
        except asyncssh.HostKeyNotVerifiable:
            jump = options.tunnel_name(slot.via, target, preview)
            error, blocked = await host_key_error(slot.name, preview, known_paths, known_hosts, tunnel, jump)
            if blocked is not None:
                slot.blocked_on = (known_paths, blocked)
            raise error from None
        except asyncssh.PermissionDenied as exc:
            user = kwargs.get("username") or preview.username
            raise AuthFailed(slot.name, f"{user}@{host} refused every key offered ({exc.reason})",
                             f"check the user and that your key is authorised there or loaded "
                             f"(`ssh-add -l`); try `ssh -v -p {port} {user}@{host}`") from None
        except ConnectionRefusedError:
            raise HostUnreachable(slot.name, f"connection refused by {host} port {port}",
                                  f"is sshd running there, and is the port right? try `ssh -p {port} {host}`") from None
        except TimeoutError:
            raise HostUnreachable(slot.name, f"no SSH answer from {host} port {port} within "
                                  f"{kwargs['connect_timeout']:g} s",
                                  f"is the host up and reachable from here? try `ssh -p {port} {host}`") from None
        except FileNotFoundError as exc:
            raise SshConfigError(slot.name, f"identity file {exc.filename} does not exist",
                                 f"fix IdentityFile in {options.config_origin(target)}") from None
        except ValueError as exc:  # asyncssh.KeyImportError and bad option values
            raise SshConfigError(slot.name, f"cannot use the SSH settings: {exc}",
                                 f"check {options.config_origin(target)}") from None
        except asyncssh.ChannelOpenError as exc:
            via = options.tunnel_name(slot.via, target, preview)
            raise HostUnreachable(slot.name, f"jump host {via} could not reach {host} port {port}: {_why(exc)}",
                                  "is the host up, and may the jump host forward to it (AllowTcpForwarding)?") from None
        except (asyncssh.Error, OSError) as exc:
            raise HostUnreachable(slot.name, f"cannot connect to {host} port {port}: {_why(exc)}",
                                  f"check the host name and the network; try `ssh -p {port} {host}`") from None

    async def _tunnel_for(self, slot: _Slot,
                          preview: asyncssh.SSHClientConnectionOptions) -> asyncssh.SSHClientConnection | None:
        """The connection to tunnel through, or None: labtui opens jump hosts itself, never as strings."""
        chain = options.jump_chain(slot.via, slot.target, preview)
        if not chain:
            return None
        jump = self._jump_slot(chain, slot.target)
        try:
            return await self._connection(jump)
        except SshError as exc:
            raise type(exc)(slot.name, f"via jump host {jump.name}: {exc.message}", exc.hint) from None

    def _jump_slot(self, chain: tuple[str, ...], behind: SshTarget) -> _Slot:
        """The shared slot for the last hop of `chain`, reached through the hops before it.

        A jump host that is not in the inventory is looked up in the same ssh_config as the host
        behind it (`-F`), like OpenSSH does for ProxyJump.
        """
        spec, via = chain[-1], chain[:-1]
        if not via and spec in self.hosts:
            return self._slots[spec]  # the jump host is in the inventory: share its connection
        key = "jump:" + ">".join(chain)
        slot = self._slots.get(key)
        if slot is None:
            user, host, port = parse_destination(spec)
            inventory = next((h for h in self.hosts.values() if h.name == host or h.hostname == host), None)
            if inventory is not None and not via:
                target = SshTarget(hostname=inventory.ssh.hostname, user=user or inventory.ssh.user,
                                   port=port or inventory.ssh.port, identity_files=inventory.ssh.identity_files,
                                   config_file=inventory.ssh.config_file, options=inventory.ssh.options)
            else:
                target = SshTarget(hostname=host, user=user, port=port, config_file=behind.config_file)
            slot = self._new_slot(key, target, spec, via)
            self._slots[key] = slot
        return slot


# ----- helpers -----


@dataclass(frozen=True)
class _Ran:
    exit_status: int | None
    exit_signal: object
    stdout: str
    stderr: str
    truncated: bool


async def _run_capped(conn: asyncssh.SSHClientConnection, command: str, input: str | None, cap: int) -> _Ran:
    """`conn.run`, keeping at most `cap` characters of each stream: past that the channel is closed (asyncssh's
    flow control then stops the host from sending more) and the result says so."""
    import asyncssh

    # No input: stdin is at EOF at once, so a command reading stdin cannot hang.
    async with conn.create_process(command, stdin=asyncssh.PIPE if input else asyncssh.DEVNULL, encoding="utf-8",
                                   errors="replace") as proc:
        if input:
            proc.stdin.write(input)
            proc.stdin.write_eof()
        cut = False

        async def read(stream: asyncssh.SSHReader[str]) -> str:
            nonlocal cut
            parts: list[str] = []
            size = 0
            while chunk := await stream.read(READ_CHUNK):
                if size + len(chunk) > cap:
                    parts.append(chunk[:cap - size])
                    cut = True
                    proc.close()  # ends the other stream's read too
                    break
                parts.append(chunk)
                size += len(chunk)
            return "".join(parts)

        stdout, stderr = await asyncio.gather(read(proc.stdout), read(proc.stderr))
        if cut:
            return _Ran(None, None, stdout, stderr, True)
        await proc.wait()
        return _Ran(proc.exit_status, proc.exit_signal, stdout, stderr, False)


_client_class: type[asyncssh.SSHClient] | None = None


def _new_client() -> asyncssh.SSHClient:
    """asyncssh's client callbacks, keeping why the connection closed (e.g. "not responding to keepalive")."""
    global _client_class
    if _client_class is None:  # defined on first use: asyncssh is imported lazily
        import asyncssh

        class Client(asyncssh.SSHClient):
            lost: Exception | None = None

            def connection_lost(self, exc: Exception | None) -> None:
                self.lost = exc

        _client_class = Client
    return _client_class()


def _lost_reason(slot: _Slot, conn: asyncssh.SSHClientConnection) -> Exception | None:
    """Why `conn` closed, when asyncssh told its client (a keepalive timeout, the server's disconnect)."""
    if slot.client is None or slot.client[0] is not conn:
        return None
    lost = getattr(slot.client[1], "lost", None)
    return lost if isinstance(lost, Exception) else None


def _short(command: str, limit: int = 60) -> str:
    command = " ".join(command.split())
    return command if len(command) <= limit else command[: limit - 3] + "..."


def _why(exc: BaseException | None) -> str:
    if exc is None:
        return "closed"
    reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    return " ".join(str(reason).split())
