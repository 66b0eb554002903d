"""A host's journal, streamed over its pooled SSH connection.

`journalctl -o json` gives each entry its `__CURSOR`; when the connection drops mid-stream, the stream
is reopened with `--after-cursor=<last>`, so nothing is lost or shown twice. `LogStream` keeps a
bounded buffer for the TUI's log view (follow, pause, filter by unit/priority/text, switch unit).
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, replace
from typing import Literal

from labtui.errors import UserError
from labtui.ops.clock import REAL_CLOCK, Clock
from labtui.ops.retry import is_transient
from labtui.ssh.api import MAX_LINE, RemoteShell, SshError
from labtui.text import clip, was_truncated

# Per field of an entry (a line is at most MAX_LINE already): a message is shown whole up to here.
MAX_MESSAGE = 16 * 1024
MAX_FIELD = 512  # unit, host name, cursor
PRIORITY_NAMES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
_UNIT_RE = re.compile(r"^[A-Za-z0-9:_.@\\*?\[\]-]+$")
_SINCE_RE = re.compile(r"^[A-Za-z0-9 :.+@-]+$")
# journalctl may be absent (a non-systemd host): say so instead of printing nothing.
NO_JOURNALCTL = "labtui: journalctl not found on this host"
JOURNALCTL_PREFIX = (f"command -v journalctl >/dev/null 2>&1 || {{ echo {shlex.quote(NO_JOURNALCTL)}; exit 127; }}; "
                     "exec ")


@dataclass(frozen=True)
class LogQuery:
    units: tuple[str, ...] = ()
    priority: int | None = None  # show this priority and more important ones (0 emerg .. 7 debug)
    lines: int | None = None  # the last N entries first (journalctl -n)
    since: str | None = None  # anything journalctl --since takes ("-1h", "today", "2026-11-26 10:00")
    follow: bool = False


@dataclass(frozen=True)
class LogEntry:
    cursor: str
    ts: float  # seconds since the epoch
    unit: str  # systemd unit, else the syslog identifier
    priority: int
    message: str
    hostname: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class LogNotice:
    """Something about the stream itself, shown between entries."""

    kind: Literal["reconnecting", "resumed", "stderr", "missing", "ended"]
    message: str


LogItem = LogEntry | LogNotice


def parse_priority(value: str | int | None) -> int | None:
    """`-p` as journalctl takes it: 0..7 or a name (err, warning...). UserError otherwise."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text.isdigit() and 0 <= int(text) <= 7:
        return int(text)
    if text in PRIORITY_NAMES:
        return PRIORITY_NAMES.index(text)
    raise UserError(f"priority `{value}` is not one of 0..7 or {', '.join(PRIORITY_NAMES)}")


def validate_query(query: LogQuery) -> LogQuery:
    for unit in query.units:
        if not _UNIT_RE.match(unit) or unit.startswith("-"):
            raise UserError(f"`{unit}` is not a unit name; use e.g. `-u nginx.service` or `-u 'nginx*'`")
    if query.since is not None and not _SINCE_RE.match(query.since):
        raise UserError(f"--since `{query.since}` is not a time journalctl understands; "
                        "use e.g. `-1h`, `today` or `2026-11-26 10:00`")
    if query.lines is not None and query.lines < 0:
        raise UserError("-n must be 0 or more")
    return query


def journalctl_command(query: LogQuery, after_cursor: str | None = None) -> str:
    """The remote command; options in `--opt=value` form so no value can be read as an option."""
    argv = ["journalctl", "-o", "json", "--no-pager"]
    argv += [f"--unit={u}" for u in query.units]
    if query.priority is not None:
        argv.append(f"--priority={int(query.priority)}")
    if after_cursor is not None:
        argv += [f"--after-cursor={after_cursor}", "--no-tail"]  # resume: everything after the cursor
    else:
        if query.lines is not None:
            argv.append(f"--lines={int(query.lines)}")
        if query.since is not None:
            argv.append(f"--since={query.since}")
    if query.follow:
        argv.append("--follow")
    script = JOURNALCTL_PREFIX + shlex.join(argv) + " 2>&1"
    return f"/bin/sh -c {shlex.quote(script)}"


def _text(value: object) -> str:
    if isinstance(value, list):  # journald sends non-UTF-8 fields as byte arrays
        return bytes(v for v in value if isinstance(v, int) and 0 <= v < 256).decode("utf-8", "replace")
    return "" if value is None else str(value)


def parse_journal_line(line: str) -> LogItem | None:
    """One line of `journalctl -o json` (or, since stderr is merged, a message from journalctl)."""
    line = line.strip()
    if not line:
        return None
    if line == NO_JOURNALCTL:
        return LogNotice("missing", "journalctl is not installed on this host (no systemd journal to read)")
    if line.startswith("{"):
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            data = None
            if was_truncated(line):
                return LogNotice("stderr", f"a journal entry of more than {MAX_LINE} characters was skipped "
                                           f"(truncated: {clip(line, 80)})")
        if isinstance(data, dict) and "__CURSOR" in data:
            try:
                ts = int(data.get("__REALTIME_TIMESTAMP", 0)) / 1_000_000
            except (TypeError, ValueError):
                ts = 0.0
            try:
                priority = int(data.get("PRIORITY", 6))
            except (TypeError, ValueError):
                priority = 6
            unit = _text(data.get("_SYSTEMD_UNIT") or data.get("SYSLOG_IDENTIFIER") or data.get("_COMM") or "")
            return LogEntry(cursor=clip(str(data["__CURSOR"]), MAX_FIELD), ts=ts, unit=clip(unit, MAX_FIELD),
                            priority=priority, message=clip(_text(data.get("MESSAGE")), MAX_MESSAGE),
                            hostname=clip(_text(data.get("_HOSTNAME")), MAX_FIELD))
    return LogNotice("stderr", clip(line, MAX_MESSAGE))


async def read_journal(shell: RemoteShell, host: str, query: LogQuery, *, clock: Clock = REAL_CLOCK,
                       reconnect_delay: float = 1.0, max_reconnect_delay: float = 30.0,
                       max_reconnects: int | None = None) -> AsyncIterator[LogItem]:
    """Entries (and notices) from the host's journal. A dropped connection is retried with back-off and
    resumed after the last cursor; `max_reconnects=None` keeps trying for as long as the caller reads."""
    last_cursor: str | None = None
    recent: deque[str] = deque(maxlen=512)  # cursors already yielded: a resumed stream never repeats one
    seen = set()
    failures = 0
    delay = reconnect_delay
    while True:
        try:
            async for line in shell.stream(host, journalctl_command(query, last_cursor)):
                item = parse_journal_line(line)
                if item is None:
                    continue
                if isinstance(item, LogEntry):
                    if item.cursor in seen:
                        continue
                    if len(recent) == recent.maxlen:
                        seen.discard(recent[0])
                    recent.append(item.cursor)
                    seen.add(item.cursor)
                    last_cursor = item.cursor
                    if failures:
                        yield LogNotice("resumed", f"{host}: reconnected, resumed after the last entry shown")
                        failures, delay = 0, reconnect_delay
                yield item
                if isinstance(item, LogNotice) and item.kind == "missing":
                    return
        except SshError as exc:
            failures += 1
            if not is_transient(exc) or (max_reconnects is not None and failures > max_reconnects):
                raise
            yield LogNotice("reconnecting", f"{host}: {exc.message}; reconnecting in {delay:g} s")
            await clock.sleep(delay)
            delay = min(delay * 2, max_reconnect_delay)
            continue
        if failures:
            # Reconnected and journalctl ended without new entries (not following): done all the same.
            yield LogNotice("resumed", f"{host}: reconnected, no new entries")
        if not query.follow:
            return
        # A follow stream that ends on its own: the remote journalctl exited; treat it like a drop.
        failures += 1
        if max_reconnects is not None and failures > max_reconnects:
            yield LogNotice("ended", f"{host}: journalctl stopped")
            return
        yield LogNotice("reconnecting", f"{host}: journalctl stopped; restarting in {delay:g} s")
        await clock.sleep(delay)
        delay = min(delay * 2, max_reconnect_delay)


class LogStream:
    """A host's journal for the TUI: a bounded buffer fed in the background, with view controls.

    `visible()` is what the view shows: entries passing the text/priority filters, frozen at the
    moment `pause()` was called (new entries keep arriving into the buffer, counted by `pending`).
    Listeners get every new item as it arrives (call `visible()` again to redraw).
    """

    def __init__(self, shell: RemoteShell, host: str, query: LogQuery | None = None, *, capacity: int = 5000,
                 clock: Clock = REAL_CLOCK, reconnect_delay: float = 1.0) -> None:
        self.shell, self.host, self.clock = shell, host, clock
        self.query = validate_query(query or LogQuery(lines=200, follow=True))
        self.reconnect_delay = reconnect_delay
        self.capacity = capacity
        self._entries: deque[tuple[int, LogEntry]] = deque(maxlen=capacity)
        self.notices: deque[LogNotice] = deque(maxlen=100)
        self._seq = 0
        self._pause_mark: int | None = None
        self.text_filter = ""
        self.min_priority: int | None = None  # client-side: show entries at or above this priority
        self._listeners: list[Callable[[LogItem], None]] = []
        self._task: asyncio.Task[None] | None = None
        self.ended = asyncio.Event()

    # -- lifecycle
    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self.ended.clear()
            self._task = asyncio.ensure_future(self._run())
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        try:
            async for item in read_journal(self.shell, self.host, self.query, clock=self.clock,
                                           reconnect_delay=self.reconnect_delay):
                self._add(item)
        except SshError as exc:  # wrong settings or keys: reconnecting cannot help
            self._add(LogNotice("ended", f"{self.host}: {exc.message}" + (f" ({exc.hint})" if exc.hint else "")))
        finally:
            self.ended.set()

    def _add(self, item: LogItem) -> None:
        if isinstance(item, LogEntry):
            self._seq += 1
            self._entries.append((self._seq, item))
        else:
            self.notices.append(item)
        for listener in list(self._listeners):
            listener(item)

    def subscribe(self, listener: Callable[[LogItem], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # -- view controls
    @property
    def paused(self) -> bool:
        return self._pause_mark is not None

    def pause(self) -> None:
        if self._pause_mark is None:
            self._pause_mark = self._seq

    def resume(self) -> None:
        self._pause_mark = None

    @property
    def pending(self) -> int:
        """Entries that arrived since pause()."""
        return self._seq - self._pause_mark if self._pause_mark is not None else 0

    def set_filter(self, *, text: str | None = None, priority: int | str | None = None) -> None:
        """Client-side filters over the buffer (instant, no new remote command)."""
        if text is not None:
            self.text_filter = text
        if priority is not None:
            self.min_priority = parse_priority(priority)

    def clear_filters(self) -> None:
        self.text_filter, self.min_priority = "", None

    async def switch_unit(self, unit: str | None) -> None:
        """Follow another unit (None: the whole journal): restarts the remote stream with a fresh buffer."""
        query = replace(self.query, units=(unit,) if unit else ())
        validate_query(query)
        await self.stop()
        self.query = query
        self._entries.clear()
        self._pause_mark = None
        self.start()

    def visible(self) -> list[LogEntry]:
        needle = self.text_filter.lower()
        out = []
        for seq, entry in self._entries:
            if self._pause_mark is not None and seq > self._pause_mark:
                break
            if self.min_priority is not None and entry.priority > self.min_priority:
                continue
            if needle and needle not in entry.message.lower() and needle not in entry.unit.lower():
                continue
            out.append(entry)
        return out

    def __len__(self) -> int:
        return len(self._entries)
