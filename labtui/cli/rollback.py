"""`labtui rollback HOST [--to N] [--yes]`: switch a host back to an earlier generation.

What `nixos-rebuild switch --rollback` does, over SSH with the host's sudo settings: move the system
profile, then run that generation's `switch-to-configuration switch`. Asks first (critical hosts: type
the name) and records the rollback in the journal (`labtui history HOST`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

from labtui.cli.common import add_json_flag, print_json, run_over_ssh
from labtui.cli.helptext import Examples, ExitStatus
from labtui.errors import EXIT_FAILED, EXIT_OK
from labtui.inventory.select import select_host
from labtui.text import harmless

if TYPE_CHECKING:
    from labtui.inventory.model import Inventory
    from labtui.ssh.api import RemoteShell


EXAMPLES: Examples = (
    ("labtui rollback web1", "switch web1 back to the generation before the running one, after asking"),
    ("labtui rollback web1 --to 40 --yes", "switch web1 to generation 40 without asking"),
)
EXIT_STATUS: ExitStatus = {0: "the host runs the generation asked for", 1: "the switch failed"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("host", metavar="HOST", help="the host: its name or a deploy-rs target (`.#web1`)")
    parser.add_argument("--to", type=int, metavar="N",
                        help="generation to switch to (default: the one before the running one)")
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    add_json_flag(parser)


def run(args: argparse.Namespace) -> int:
    return run_over_ssh(args, execute)


async def execute(args: argparse.Namespace, inventory: Inventory, shell: RemoteShell, *, out: IO[str] | None = None,
                  err: IO[str] | None = None, stdin: IO[str] | None = None,
                  ask_password: Callable[[str], str] | None = None) -> int:

    from labtui.ops.generations import GenerationInfo, current_of, list_generations, rollback_target
    from labtui.ops.recorded import RecordedRollback
    from labtui.ops.runtime import check_journal, confirm, sudo_passwords

    out, err = out or sys.stdout, err or sys.stderr
    check_journal()
    host = select_host(inventory, args.host)
    gens = await list_generations(shell, host.name)
    current = current_of(gens)
    target = rollback_target(gens, args.to)
    if current is not None and target.number == current.number:
        err.write(f"labtui: {host.name} already runs generation {target.number}; nothing to do\n")
        return EXIT_OK

    def describe(g: GenerationInfo) -> str:
        return harmless(f"{g.number} ({g.date[:10]}, NixOS {g.nixos_version or '?'}, kernel {g.kernel or '?'})")

    err.write(f"{host.name}: switch from generation {describe(current) if current else '?'} "
              f"to {describe(target)}\n")
    confirm(f"Roll back {host.name}?", [host], yes=args.yes, stdin=stdin, out=err)
    password = sudo_passwords([host], ask_password).get(host.name)

    rollback = RecordedRollback(inventory, shell, host, target, current, sudo_password=password)
    async for _event in rollback.events():  # recorded in the journal as it goes
        pass
    outcome, record = rollback.outcome, rollback.record
    assert outcome is not None and record is not None
    if outcome.detached is False and not outcome.dropped:
        err.write(f"labtui: {host.name} has no systemd-run: the switch ran in the SSH session, where a dropped "
                  "connection would have interrupted it\n")
    if args.json:
        print_json({"host": host.name, "ok": outcome.ok, "from": outcome.from_generation, "to": target.number,
                    "message": outcome.message, "run_id": record.run_id}, out)
    else:
        if not outcome.ok:  # the switch's own output, as the host printed it: made harmless
            err.write(harmless(outcome.output[-2000:], keep_newlines=True))
        out.write(f"{host.name}: {harmless(outcome.message)} (journal run {record.run_id})\n")
    return EXIT_OK if outcome.ok else EXIT_FAILED
