"""StatusPoller: probes every host on its own interval and streams HostStatus updates.

One task per host, so a slow or dead host never delays the others. The flake side of drift is
evaluated in the background (at most two evaluations at once), cached, and merged into the host's
status when it arrives; the first status never waits for it. The TUI and `labtui status` both use it:

    poller = StatusPoller(inventory.hosts, SshPool(inventory.hosts), resolver)
    async for status in poller.stream():      # the current snapshot first, then every update
        ...
    await poller.close()
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import replace
from typing import Any, Protocol

from labtui.inventory.model import Host
from labtui.ssh.api import HostState, HostUnreachable, RemoteShell, SshError
from labtui.status.derive import FlakePaths, status_from_error, status_from_report, with_flake
from labtui.status.model import HostStatus
from labtui.status.parse import parse_probe
from labtui.status.probe import (
    FOLLOW_COMMAND,
    FOLLOW_REQUEST,
    FOLLOW_SCRIPT,
    MARKER,
    PROBE_COMMAND,
    PROBE_MAX_OUTPUT,
    PROBE_SCRIPT,
    REPORT_END,
)
from labtui.text import clip

# Above the keepalive detection time (at most 12 s), so a host that dies under a probe shows as "down"
# (connection lost) rather than as a probe timing out; a truly hung probe still ends here.
DEFAULT_PROBE_TIMEOUT = 20.0
FOLLOW_RETRY = 300.0  # seconds before a host whose following probe failed at its start is tried again
FLAKE_EVALUATIONS_AT_ONCE = 2  # nix evaluations are heavy; the poller never runs more than this
# Ask the resolver again this often: it answers from its cache unless the flake changed (new commit,
# edited files), so drift follows flake edits without a restart.
FLAKE_RECHECK_INTERVAL = 30.0


class FlakePathResolver(Protocol):
    """What the flake builds for a host (labtui.inventory.flake_paths.FlakePathResolver)."""

    async def system_paths(self, host: Host) -> FlakePaths | None: ...


class _Closed:
    """Sentinel put on subscriber queues when the poller closes."""


class StatusPoller:
    """Probes hosts over `shell` and keeps the latest HostStatus of each.

    hosts: the hosts to watch; each is probed every `Host.poll_interval` seconds (or
        `default_interval` when that is unset).
    shell: any RemoteShell (SshPool, SimShell, a fake).
    resolver: gives the flake's paths for a host (drift); None: drift stays "unknown".
    probe_timeout: a probe still running after this is abandoned (host shown degraded, connection kept).
    follow: keep one probe shell running per host and ask it for each report (needs a shell with
        `conversation`, like SshPool): a fraction of the packets, and of the CPU, of a new command per
        refresh. For the long-lived pollers (the TUI, `status --watch`).
    """

    def __init__(self, hosts: Iterable[Host], shell: RemoteShell, resolver: FlakePathResolver | None = None, *,
                 default_interval: float = 5.0, probe_timeout: float = DEFAULT_PROBE_TIMEOUT,
                 flake_recheck: float = FLAKE_RECHECK_INTERVAL, follow: bool = False) -> None:
        self.hosts = {h.name: h for h in hosts}
        self.shell = shell
        self.resolver = resolver
        self.default_interval = default_interval
        self.probe_timeout = probe_timeout
        self.flake_recheck = flake_recheck
        self.follow = follow
        self._conversations: dict[str, Any] = {}  # host -> its following probe (SshPool.conversation)
        self._no_follow: dict[str, float] = {}  # host -> time.monotonic() until which it is not followed
        now = time.time()
        self._status: dict[str, HostStatus] = {
            name: HostStatus(host=name, state=HostState.CONNECTING, observed_at=now) for name in self.hosts}
        self._wake = {name: asyncio.Event() for name in self.hosts}
        self._probing: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        # name -> (paths, why there are none, time.monotonic() of the answer)
        self._flake: dict[str, tuple[FlakePaths | None, str | None, float]] = {}
        self._flake_tasks: dict[str, asyncio.Task[None]] = {}
        self._flake_slots = asyncio.Semaphore(FLAKE_EVALUATIONS_AT_ONCE)
        self._subscribers: list[asyncio.Queue[HostStatus | _Closed]] = []
        self._unsubscribe_shell: Callable[[], None] | None = None
        self._started = False
        self._closed = False

    # ----- public API -----

    def start(self) -> None:
        """Start polling (stream() and refresh() start it too). Needs a running event loop."""
        if self._started or self._closed:
            return
        self._started = True
        loop = asyncio.get_running_loop()
        subscribe = getattr(self.shell, "subscribe", None)
        if callable(subscribe):
            self._unsubscribe_shell = subscribe(self._on_connection_change)
        self._tasks = [loop.create_task(self._poll_loop(name), name=f"status:{name}") for name in self.hosts]

    def snapshot(self) -> dict[str, HostStatus]:
        """The latest status of every host (CONNECTING until its first probe ends)."""
        return dict(self._status)

    def refresh(self, host: str | None = None) -> None:
        """Probe `host` (default: every host) now, skipping reconnect delays."""
        self.start()
        names = [host] if host is not None else list(self.hosts)
        for name in names:
            if name not in self.hosts:
                raise KeyError(name)
            retry_now = getattr(self.shell, "retry_now", None)
            if callable(retry_now):
                retry_now(name)
            self._wake[name].set()

    def reevaluate_flake(self, host: str | None = None) -> None:
        """Forget the flake's cached paths (after a deploy or a flake edit) and evaluate again."""
        for name in [host] if host is not None else list(self.hosts):
            self._flake.pop(name, None)
            task = self._flake_tasks.pop(name, None)
            if task is not None:
                task.cancel()
            if self._started:
                self._ensure_flake(name)

    async def stream(self) -> AsyncIterator[HostStatus]:
        """Every host's current status, then each update as it happens, until close()."""
        self.start()
        queue: asyncio.Queue[HostStatus | _Closed] = asyncio.Queue()
        self._subscribers.append(queue)
        try:
            for status in list(self._status.values()):
                yield status
            while True:
                item = await queue.get()
                if isinstance(item, _Closed):
                    return
                yield item
        finally:
            if queue in self._subscribers:
                self._subscribers.remove(queue)

    async def wait_all(self, timeout: float | None = None, *, with_flake: bool = False) -> dict[str, HostStatus]:
        """Wait until every host has been probed once (and, with_flake, its flake side evaluated)."""
        self.start()

        def settled(name: str) -> bool:
            status = self._status.get(name)
            if status is None or status.state is HostState.CONNECTING:
                return False
            return not (with_flake and self.resolver is not None and status.answered_at is not None
                        and name not in self._flake)

        # Only the host an update is about is looked at again (every change to a host's status or flake side
        # is published as that host's update): checking the whole fleet per update grew with its square.
        pending = {name for name in self.hosts if not settled(name)}

        async def wait() -> None:
            async for status in self.stream():
                if status.host in pending and settled(status.host):
                    pending.discard(status.host)
                if not pending:
                    return

        if pending:
            try:
                await asyncio.wait_for(wait(), timeout)
            except TimeoutError:
                pass
        return self.snapshot()

    async def close(self) -> None:
        """Stop polling and end every stream(). The shell is the caller's: it is not closed here."""
        self._closed = True
        if self._unsubscribe_shell is not None:
            try:
                self._unsubscribe_shell()
            except ValueError:
                pass
            self._unsubscribe_shell = None
        tasks = self._tasks + list(self._flake_tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for conversation in self._conversations.values():
            conversation.close()
        self._conversations.clear()
        for queue in self._subscribers:
            queue.put_nowait(_Closed())

    async def __aenter__(self) -> StatusPoller:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    # ----- internals -----

    async def _poll_loop(self, name: str) -> None:
        host = self.hosts[name]
        interval = host.poll_interval or self.default_interval
        wake = self._wake[name]
        while not self._closed:
            wake.clear()
            await self.probe_once(name)
            if self.closed:
                # close() cancelled this task, but a cancellation that lands as a connection or command
                # completes can be swallowed on the way (asyncio.wait_for in Python 3.11 does that).
                return
            # asyncio.timeout, not wait_for: on Python 3.11 a task cancelled inside wait_for can sit
            # until the timeout fires (close() then took a poll interval).
            try:
                async with asyncio.timeout(interval):
                    await wake.wait()
            except TimeoutError:
                pass

    async def probe_once(self, name: str) -> HostStatus:
        """Probe one host now and publish the result (the poll loop calls this every interval)."""
        self._probing.add(name)
        previous = self._status.get(name)
        try:
            status = await self._probe(name, previous)
        finally:
            self._probing.discard(name)
        self._publish(self._merge_flake(status))
        if status.answered_at is not None:
            self._ensure_flake(name)
        return self._status[name]

    async def _probe(self, name: str, previous: HostStatus | None) -> HostStatus:
        # Connect first (when the shell keeps connections), so the round trip below is the probe's own.
        connect = getattr(self.shell, "connection", None)
        try:
            if callable(connect):
                await connect(name)
            started = time.perf_counter()
            stdout, truncated = await self._follow(name) if self._can_follow(name) else (None, False)
            stderr = ""
            exit_status: int | None = 0
            if stdout is None:
                started = time.perf_counter()
                result = await self.shell.run(name, PROBE_COMMAND, input=PROBE_SCRIPT, timeout=self.probe_timeout,
                                              max_output=PROBE_MAX_OUTPUT)
                stdout, stderr, exit_status = result.stdout, result.stderr, result.exit_status
                truncated = result.truncated
        except SshError as exc:
            return status_from_error(name, exc, previous=previous)
        except Exception as exc:  # noqa: BLE001 - a broken shell must not kill this host's loop
            return status_from_error(name, HostUnreachable(name, f"probe failed: {exc}"), previous=previous)
        rtt_ms = (time.perf_counter() - started) * 1000.0
        report = parse_probe(stdout.splitlines())
        status = status_from_report(name, report, rtt_ms=rtt_ms)
        if truncated:
            status = replace(status, state=HostState.DEGRADED,
                             error=f"the probe answered more than {PROBE_MAX_OUTPUT // 1024} KB: read up to there "
                                   "(truncated), the rest ignored")
        elif report.version is None:
            detail = (stderr.strip().splitlines() or [f"exit status {exit_status}"])[-1]
            status = replace(status, error=f"the probe gave no readable output: {clip(detail, 200)}")
        return status

    def _can_follow(self, name: str) -> bool:
        return (self.follow and callable(getattr(self.shell, "conversation", None))
                and time.monotonic() >= self._no_follow.get(name, 0.0))

    async def _follow(self, name: str) -> tuple[str | None, bool]:
        """The next report of the host's following probe (one `sh` kept running per host, answering a
        report per request line: labtui.status.probe.FOLLOW_SCRIPT); None when the host cannot be
        followed (its answer was not a report: it is probed the one-shot way for a while); and whether the
        report was cut at PROBE_MAX_OUTPUT."""
        conversation = self._conversations.get(name)
        fresh = conversation is None or conversation.closed
        try:
            if conversation is None or conversation.closed:
                conversation = await self.shell.conversation(name, FOLLOW_COMMAND)  # type: ignore[attr-defined]
                self._conversations[name] = conversation
                conversation.send(FOLLOW_SCRIPT)  # the first report comes without asking
            else:
                conversation.send(FOLLOW_REQUEST)
            text: str = await conversation.answer(REPORT_END, timeout=self.probe_timeout,
                                                  max_chars=PROBE_MAX_OUTPUT)
        except SshError as exc:
            self._conversations.pop(name, None)
            if fresh and exc.state is not HostState.DOWN:
                self._no_follow[name] = time.monotonic() + FOLLOW_RETRY
                return None, False  # say it the one-shot way (which reports the error if there is one)
            raise
        if MARKER not in text:
            conversation.close()
            self._conversations.pop(name, None)
            self._no_follow[name] = time.monotonic() + FOLLOW_RETRY
            return None, False
        if conversation.truncated:
            self._conversations.pop(name, None)
        return text, conversation.truncated

    def _merge_flake(self, status: HostStatus) -> HostStatus:
        if self.resolver is None:
            return with_flake(status, None, "no flake evaluation available")
        if status.host not in self._flake:
            return with_flake(status, None, "the flake is being evaluated")
        paths, reason, _ = self._flake[status.host]
        return with_flake(status, paths, reason)

    def _ensure_flake(self, name: str) -> None:
        if self.resolver is None or name in self._flake_tasks or self._closed:
            return
        if name in self._flake and time.monotonic() - self._flake[name][2] < self.flake_recheck:
            return
        self._flake_tasks[name] = asyncio.get_running_loop().create_task(self._evaluate_flake(name))

    async def _evaluate_flake(self, name: str) -> None:
        assert self.resolver is not None
        try:
            async with self._flake_slots:
                paths = await self.resolver.system_paths(self.hosts[name])
            reason = None
            if paths is None:
                reasons = getattr(self.resolver, "reasons", None) or {}
                reason = reasons.get(name) or "the flake builds no system for this host"
            elif not getattr(paths, "profile_path", None) and not getattr(paths, "toplevel", None):
                reason = getattr(paths, "reason", None) or "the flake gave no store path for this host"
            self._flake[name] = (paths, reason, time.monotonic())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - shown as the drift reason, never fatal
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            self._flake[name] = (None, f"flake evaluation failed: {message}", time.monotonic())
        finally:
            self._flake_tasks.pop(name, None)
        current = self._status.get(name)
        if current is not None and not self._closed:
            self._publish(self._merge_flake(current))

    def _on_connection_change(self, name: str, state: HostState, error: SshError | None) -> None:
        """A connection dropped between probes: show it now, and try again at once."""
        if name not in self.hosts or self._closed or error is None or name in self._probing:
            return
        if self._status[name].state is not state:
            self._publish(self._merge_flake(status_from_error(name, error, previous=self._status[name])))
            self._wake[name].set()

    def _publish(self, status: HostStatus) -> None:
        self._status[status.host] = status
        for queue in self._subscribers:
            queue.put_nowait(status)
