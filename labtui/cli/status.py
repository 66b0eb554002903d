"""`labtui status [HOST...] [--json] [--watch] [--timeout S] [--no-drift]`: the fleet at a glance.

Exit status: 0 when every selected host is up, 1 when any is degraded, down or unreachable for
another reason (auth, host key), 2 for usage errors. JSON schema: docs/status.md.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from collections.abc import Iterable, Sequence
from typing import IO, TYPE_CHECKING, Any

from labtui.cli.common import (
    DEFAULT_HOST_TIMEOUT,
    add_json_flag,
    add_target_arguments,
    check_timeout,
    load_inventory,
    print_json,
    render_table,
    target_tokens,
    use_color,
)
from labtui.cli.helptext import Examples, ExitStatus
from labtui.errors import EXIT_FAILED, EXIT_OK
from labtui.inventory.select import select_hosts
from labtui.text import harmless

if TYPE_CHECKING:
    from labtui.inventory.flake_paths import FlakePathResolver
    from labtui.inventory.model import Host
    from labtui.runs.lost import FoundRecorder
    from labtui.status.model import HostStatus
    from labtui.status.poller import StatusPoller

DEFAULT_TIMEOUT = DEFAULT_HOST_TIMEOUT
WATCH_REDRAW_EVERY = 0.25  # at most 4 redraws a second, however many hosts report

STATE_COLORS = {"up": "green", "degraded": "yellow", "connecting": "dim"}


EXAMPLES: Examples = (
    ("labtui status", "one table: reachable, load, memory, disk, failed units, drift, reboot needed"),
    ("labtui status @prod --watch", "keep the prod hosts' table up to date until Ctrl-C"),
    ("labtui status web1 --json", "web1's status as JSON (schema: docs/status.md)"),
)
EXIT_STATUS: ExitStatus = {0: "every host shown is up", 1: "a host is down or did not answer in time"}


def configure(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser, "hosts to show (default: all)")
    add_json_flag(parser)
    parser.add_argument("--watch", action="store_true",
                        help="keep polling and redraw on every change until Ctrl-C "
                             "(with --json: one JSON object per host update, one per line)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                        help="give up on hosts (and on evaluating the flake) after S seconds "
                        f"(default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--no-drift", action="store_true",
                        help="do not evaluate the flake, so drift shows as unknown (faster)")


def run(args: argparse.Namespace) -> int:
    import asyncio

    check_timeout(args.timeout)
    inventory = load_inventory(args)
    hosts = select_hosts(inventory, target_tokens(args))
    if args.no_drift:
        resolver = None
    else:
        from labtui.inventory.flake_paths import FlakePathResolver

        resolver = FlakePathResolver.for_inventory(inventory)
    return asyncio.run(_main(args, hosts, resolver))


async def _main(args: argparse.Namespace, hosts: list[Host], resolver: FlakePathResolver | None) -> int:
    from labtui.runs.lost import FoundRecorder
    from labtui.ssh.pool import SshPool
    from labtui.status.poller import StatusPoller

    pool = SshPool(hosts, connect_timeout=min(10.0, args.timeout), keepalive_between_polls_only=True)
    poller = StatusPoller(hosts, pool, resolver, probe_timeout=args.timeout, follow=args.watch)
    try:
        if args.watch:
            await _watch(args, poller, [h.name for h in hosts])
            return EXIT_OK  # not reached: --watch ends with Ctrl-C
        found = FoundRecorder()  # before probing: what the probes find settles what lost runs left unknown
        snapshot = await poller.wait_all(timeout=args.timeout, with_flake=resolver is not None)
        statuses = [_timed_out(snapshot[h.name], args.timeout) for h in hosts]
        note_found(found, statuses)
        if args.json:
            from labtui.status.export import fleet_json

            print_json(fleet_json(statuses))
        else:
            print(render_fleet(statuses, color=use_color()))
        return exit_code(statuses)
    finally:
        await poller.close()
        await pool.close()


def exit_code(statuses: Iterable[HostStatus]) -> int:
    from labtui.ssh.api import HostState

    return EXIT_OK if all(s.state is HostState.UP for s in statuses) else EXIT_FAILED


def note_found(found: FoundRecorder, statuses: Iterable[HostStatus]) -> None:
    """What the hosts run now settles what a lost run left unknown on them (labtui.runs.lost, in the journal)."""
    for s in statuses:
        if s.answered_at is None:
            continue
        path = s.current_system.path if s.current_system else s.system_profile
        generation = s.generation if s.system_profile and s.system_profile == path else None
        found.see(s.host, path, generation, s.answered_at)


def _timed_out(status: HostStatus, timeout: float) -> HostStatus:
    """A host that never answered within --timeout is down, with that as the reason."""
    from dataclasses import replace

    from labtui.ssh.api import HostState

    if status.state is HostState.CONNECTING:
        return replace(status, state=HostState.DOWN, error=f"no answer within {timeout:g} s",
                       hint="raise --timeout, or check the host and the network")
    return status


async def _watch(args: argparse.Namespace, poller: StatusPoller, names: Sequence[str]) -> None:
    import asyncio

    out = sys.stdout
    if args.json:
        from labtui.status.export import status_json

        async for status in poller.stream():
            print_json_line(status_json(status), out)
        return
    color = use_color(out)
    tty = hasattr(out, "isatty") and out.isatty()
    stream = poller.stream()
    pending: asyncio.Future[HostStatus] | None = None
    last_draw = 0.0
    while True:
        if pending is None:
            pending = asyncio.ensure_future(stream.__anext__())
        wait = max(0.0, last_draw + WATCH_REDRAW_EVERY - time.monotonic())
        done, _ = await asyncio.wait({pending}, timeout=wait if last_draw else None)
        if pending in done:
            try:
                pending.result()
            except StopAsyncIteration:
                return
            pending = None
            if time.monotonic() - last_draw < WATCH_REDRAW_EVERY:
                continue  # more updates may follow at once: draw them together
        snapshot = poller.snapshot()
        table = render_fleet([snapshot[n] for n in names], color=color)
        stamp = time.strftime("%H:%M:%S")
        header = f"labtui status  {stamp}  (Ctrl-C to quit)"
        if tty:
            out.write("\x1b[H\x1b[2J")  # home + clear: redraw in place
        out.write(f"{header}\n{table}\n" + ("" if tty else "\n"))
        out.flush()
        last_draw = time.monotonic()


def print_json_line(obj: Any, out: IO[str]) -> None:
    import json

    out.write(json.dumps(obj, default=str) + "\n")
    out.flush()


def render_fleet(statuses: Iterable[HostStatus], *, color: bool = False, width: int = 80) -> str:
    """The status table (fits `width` columns, ASCII only), then one line per problem with its fix."""
    from labtui.status.derive import data_age
    from labtui.status.export import human_duration

    headers = ["HOST", "STATE", "LOAD", "MEM", "DISK", "GEN", "DRIFT", "REBOOT", "UP"]
    rows, colors, notes = [], [], []
    for s in statuses:
        state = s.state.value
        disk = max(s.disks, key=lambda d: d.percent, default=None)
        rows.append([
            s.host,
            state,
            f"{s.load[0]:.2f}" if s.load else "-",
            f"{s.mem_used_percent:.0f}%" if s.mem_used_percent is not None else "-",
            f"{disk.percent:.0f}% {disk.mount}" if disk else "-",
            str(s.generation) if s.generation is not None else "-",
            {"in sync": "in sync", "outdated": "outdated"}.get(s.drift, "?"),
            "?" if s.reboot_needed is None else "yes" if s.reboot_needed else "no",
            human_duration(s.uptime_s),
        ])
        colors.append([None, STATE_COLORS.get(state, "red"), None, None,
                       "red" if disk and disk.percent >= 90 else None, None,
                       "yellow" if s.drift == "outdated" else None,
                       "yellow" if s.reboot_needed else None, None])
        if s.error:
            # The reason is wrapped to the width; the fix stays on one line so it can be copied whole.
            age = data_age(s)
            stale = f" (values above from {human_duration(age)} ago)" if age is not None and s.state.value != "up" \
                and s.answered_at != s.observed_at else ""
            note = textwrap.fill(f"{s.host}: {harmless(s.error)}{stale}", width, subsequent_indent="  ",
                                 break_on_hyphens=False)
            notes.append(note + (f"\n  fix: {harmless(s.hint)}" if s.hint else ""))
    text = render_table(headers, rows, max_width=width, colors=colors, color=color)
    if notes:
        text += "\n\n" + "\n".join(_ascii(n) for n in notes)
    return text


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")
