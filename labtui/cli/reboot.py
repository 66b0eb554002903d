"""`labtui reboot HOST... [--all] [--wave N] [--timeout S] [--yes] [--json]`: reboot hosts and follow
each one back to service (SSH gone, back with a new boot id, systemd no longer starting, checks pass)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

from labtui.cli.common import (
    add_json_flag,
    add_target_arguments,
    outcome_color,
    paint,
    print_json,
    render_table,
    run_over_ssh,
    target_tokens,
    use_color,
)
from labtui.cli.helptext import Examples, ExitStatus
from labtui.errors import EXIT_FAILED, EXIT_OK
from labtui.inventory.select import select_hosts
from labtui.text import harmless

if TYPE_CHECKING:
    from labtui.inventory.model import Inventory
    from labtui.ops.clock import Clock
    from labtui.ssh.api import RemoteShell


EXAMPLES: Examples = (
    ("labtui reboot", "reboot the hosts whose booted kernel differs from the current system's, one at a time"),
    ("labtui reboot @web --all --wave 2", "reboot every web host, two at a time"),
)
EXIT_STATUS: ExitStatus = {0: "every host rebooted came back and passed its checks", 1: "a host did not"}


def configure(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser, "hosts to reboot (default: every host)")
    needed = parser.add_mutually_exclusive_group()
    needed.add_argument("--only-needed", action="store_true", default=True,
                        help="reboot only hosts whose booted kernel/initrd/modules differ from the current "
                             "system's (the default)")
    needed.add_argument("--all", dest="only_needed", action="store_false",
                        help="reboot every selected host, needed or not")
    parser.add_argument("--wave", type=int, default=1, metavar="N",
                        help="reboot N hosts at a time; the next wave waits until they are back (default 1)")
    parser.add_argument("--timeout", type=float, default=600.0, metavar="S",
                        help="seconds each host has to come back to service (default 600)")
    parser.add_argument("--keep-going", action="store_true",
                        help="start later waves even when a host did not come back")
    parser.add_argument("--no-checks", action="store_true", help="do not run the hosts' health checks afterwards")
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    add_json_flag(parser)


def run(args: argparse.Namespace) -> int:
    return run_over_ssh(args, execute)


async def execute(args: argparse.Namespace, inventory: Inventory, shell: RemoteShell, *, out: IO[str] | None = None,
                  err: IO[str] | None = None, stdin: IO[str] | None = None,
                  ask_password: Callable[[str], str] | None = None, poll: float = 2.0,
                  clock: Clock | None = None) -> int:
    import asyncio

    from labtui.cli.printer import describe_check
    from labtui.errors import UserError
    from labtui.ops.clock import REAL_CLOCK
    from labtui.ops.reboot import outcomes, reboot_needed
    from labtui.ops.recorded import RecordedReboot
    from labtui.ops.runtime import check_journal, confirm, sudo_passwords
    from labtui.runs.events import CheckResultEvent, NodeResult, RebootProgress

    out, err = out or sys.stdout, err or sys.stderr
    if args.wave < 1:
        raise UserError("--wave must be 1 or more")
    check_journal()
    hosts = select_hosts(inventory, target_tokens(args))
    if args.only_needed:
        needed = await asyncio.gather(*(reboot_needed(shell, h.name) for h in hosts))
        for h, need in zip(hosts, needed, strict=True):
            if need is None:
                last_error = getattr(shell, "last_error", None)  # SshPool knows why a host did not answer
                error = last_error(h.name) if last_error is not None else None
                why = error.message if error is not None else "not NixOS, or its system links are unreadable"
                err.write(f"labtui: {h.name}: cannot tell whether it needs a reboot ({harmless(why)}); "
                          "skipped, use --all to reboot it anyway\n")
            elif not need:
                err.write(f"labtui: {h.name}: no reboot needed (booted kernel = current); skipped\n")
        hosts = [h for h, need in zip(hosts, needed, strict=True) if need]
    if not hosts:
        err.write("labtui: no host to reboot\n")
        if args.json:
            print_json({"ok": True, "hosts": []}, out)
        return EXIT_OK
    confirm(f"Reboot {', '.join(h.name for h in hosts)} (waves of {args.wave})?", hosts, yes=args.yes,
            stdin=stdin, out=err)
    passwords = sudo_passwords(hosts, ask_password)
    color = use_color(out) and not args.json
    log = err if args.json else out
    reboot = RecordedReboot(inventory, shell, hosts, wave_size=args.wave, stop_on_failure=not args.keep_going,
                            sudo_passwords=passwords, timeout=args.timeout, poll=poll, clock=clock or REAL_CLOCK,
                            run_health_checks=not args.no_checks)
    async for event in reboot.events():  # recorded in the journal as it goes
        if isinstance(event, RebootProgress):
            shade = {"done": "green", "failed": "red", "skipped": "yellow"}.get(event.phase)
            log.write(paint(f"[{event.elapsed:6.1f}s] {event.node}: {event.phase}"
                            f"{' — ' + harmless(event.message) if event.message else ''}", shade, color) + "\n")
        elif isinstance(event, CheckResultEvent):
            log.write(f"          {event.node}: {harmless(describe_check(event))}\n")
        log.flush()
    results = outcomes(reboot.events_seen)
    ok = all(r.ok for r in results)
    if args.json:
        print_json({"ok": ok, "hosts": [r.to_dict() for r in results]}, out)
    else:
        # The outcome's name, as the journal, `labtui history` and the TUI say it.
        words = {e.node: e.outcome for e in reboot.events_seen if isinstance(e, NodeResult)}
        rows = [[r.host, words.get(r.host, "succeeded" if r.ok else "failed"), f"{r.duration:.0f}s", r.message]
                for r in results]
        colors = [[None, outcome_color(row[1]), None, None] for row in rows]
        out.write(render_table(["HOST", "OUTCOME", "TIME", "MESSAGE"], rows, max_width=120, colors=colors,
                               color=color) + "\n")
    return EXIT_OK if ok else EXIT_FAILED
