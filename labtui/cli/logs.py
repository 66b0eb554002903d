"""`labtui logs HOST [-u UNIT] [-p PRIORITY] [-n N] [-f] [--since TIME] [--grep TEXT] [--timeout S] [--json]`.

Without -f, a host that sends nothing for `--timeout` seconds (default as `labtui status`) is given up on with one
line, exit 1: a journalctl that never answers must not hang the command. With -f, silence is normal (no new
entries): the timeout then bounds connecting only, and a dead link is noticed by SSH keepalives.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import AsyncIterator
from typing import IO, TYPE_CHECKING, TypeVar

from labtui.cli.common import DEFAULT_HOST_TIMEOUT, add_json_flag, check_timeout, paint, run_over_ssh, use_color
from labtui.cli.helptext import Examples, ExitStatus
from labtui.errors import EXIT_FAILED, EXIT_OK, UserError
from labtui.inventory.select import select_host
from labtui.text import harmless

if TYPE_CHECKING:
    from labtui.inventory.model import Inventory
    from labtui.ops.clock import Clock
    from labtui.ops.logs import LogEntry
    from labtui.ssh.api import RemoteShell

DEFAULT_LINES = 100
# Options whose value may start with `-` (`--since -1h`): labtui.cli.main hands them to argparse as `--since=-1h`.
DASH_VALUES = ("--since",)
T = TypeVar("T")
_PRIORITY_COLORS = {0: "red", 1: "red", 2: "red", 3: "red", 4: "yellow", 5: "bold", 7: "dim"}


EXAMPLES: Examples = (
    ("labtui logs web1", "the last entries of web1's journal"),
    ("labtui logs web1 -u nginx.service -p err --since -1h", "nginx's errors of the last hour"),
    ("labtui logs db1 -f", "follow db1's journal (reconnects when the host drops) until Ctrl-C"),
)
EXIT_STATUS: ExitStatus = {0: "the entries were shown (or none matched)", 1: "the host has no such unit or journal"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("host", metavar="HOST", help="the host: its name or a deploy-rs target (`.#web1`)")
    parser.add_argument("-u", "--unit", action="append", default=[], metavar="UNIT",
                        help="only this unit (repeatable; globs like 'nginx*' as journalctl takes them)")
    parser.add_argument("-p", "--priority", metavar="PRIORITY",
                        help="this priority and more important: 0..7 or emerg, alert, crit, err, warning, notice, "
                             "info, debug")
    parser.add_argument("-n", "--lines", type=int, metavar="N",
                        help=f"the last N entries (default {DEFAULT_LINES} unless --since is given)")
    parser.add_argument("-f", "--follow", action="store_true",
                        help="keep streaming new entries (reconnects and resumes if the host drops)")
    parser.add_argument("--since", metavar="TIME", help="as journalctl takes it: -1h, today, '2026-11-26 10:00'")
    parser.add_argument("--grep", metavar="TEXT", help="only entries whose message or unit contains TEXT")
    parser.add_argument("--timeout", type=float, default=DEFAULT_HOST_TIMEOUT, metavar="S",
                        help="give up when the host sends nothing for S seconds (with -f: when connecting takes "
                             f"longer) (default {DEFAULT_HOST_TIMEOUT:g})")
    add_json_flag(parser)


def run(args: argparse.Namespace) -> int:
    check_timeout(args.timeout)
    return run_over_ssh(args, execute, connect_timeout=min(10.0, args.timeout))


def format_entry(entry: LogEntry, *, color: bool) -> str:
    """`Nov 26 12:00:01 nginx.service: message`; anyone on the host can write the journal (`logger`), so unit and
    message are made harmless, and the lines of a multi-line message are indented as journalctl does."""
    stamp = time.strftime("%b %d %H:%M:%S", time.localtime(entry.ts))
    prefix = f"{stamp} {harmless(entry.unit)}: "
    message = harmless(entry.message.rstrip("\n"), keep_newlines=True).replace("\n", "\n" + " " * len(prefix))
    return paint(prefix + message, _PRIORITY_COLORS.get(entry.priority), color)


async def execute(args: argparse.Namespace, inventory: Inventory, shell: RemoteShell, *, clock: Clock | None = None,
                  out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    import json

    from labtui.ops.clock import REAL_CLOCK
    from labtui.ops.logs import LogEntry, LogQuery, parse_priority, read_journal, validate_query

    out, err = out or sys.stdout, err or sys.stderr
    host = select_host(inventory, args.host)
    lines = args.lines if args.lines is not None else (None if args.since else DEFAULT_LINES)
    query = validate_query(LogQuery(units=tuple(args.unit), priority=parse_priority(args.priority), lines=lines,
                                    since=args.since, follow=args.follow))
    color = use_color(out) and not args.json
    needle = (args.grep or "").lower()
    status = EXIT_OK
    shown = 0
    items = read_journal(shell, host.name, query, clock=clock or REAL_CLOCK, max_reconnects=None if args.follow else 3)
    idle = None if args.follow else getattr(args, "timeout", DEFAULT_HOST_TIMEOUT)
    async for item in _within(items, idle, host.name):
        if isinstance(item, LogEntry):
            if needle and needle not in item.message.lower() and needle not in item.unit.lower():
                continue
            out.write((json.dumps(item.to_dict()) if args.json else format_entry(item, color=color)) + "\n")
            out.flush()
            shown += 1
        elif item.kind == "missing":
            err.write(f"labtui: {host.name}: {item.message}\n")
            status = EXIT_FAILED
        else:
            message = harmless(item.message)  # journalctl's stderr, or a line that is no journal entry
            err.write(f"labtui: {message}\n" if item.kind != "stderr" else f"{host.name}: {message}\n")
    if not shown and status == EXIT_OK:
        err.write(f"labtui: {host.name}: no journal entries match\n")
    return status


async def _within(items: AsyncIterator[T], idle: float | None, host: str) -> AsyncIterator[T]:
    """`items`, given up on (the remote command ended) when none comes for `idle` seconds."""
    import asyncio

    iterator = aiter(items)
    try:
        while True:
            try:
                item = await asyncio.wait_for(anext(iterator), idle)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise UserError(f"{host} sent no journal entry for {idle:g} s; the host or its journalctl does not "
                                "answer: check it, or give it longer with --timeout S", exit_code=EXIT_FAILED) from None
            yield item
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()
