"""`labtui check HOST... [--json]`: run the hosts' health checks; exit 0 only when every check passed."""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING

from labtui.cli.common import (
    add_json_flag,
    add_target_arguments,
    print_json,
    render_table,
    run_over_ssh,
    target_tokens,
    use_color,
)
from labtui.cli.helptext import Examples, ExitStatus
from labtui.errors import EXIT_FAILED, EXIT_OK, ConfigError
from labtui.inventory.select import select_hosts
from labtui.text import harmless

if TYPE_CHECKING:
    from labtui.inventory.model import Inventory
    from labtui.ops.clock import Clock
    from labtui.ssh.api import RemoteShell


EXAMPLES: Examples = (
    ("labtui check", "run the labtui.toml health checks of every host that has some"),
    ("labtui check web1 db1 --json", "two hosts' check results as JSON"),
)
EXIT_STATUS: ExitStatus = {0: "every check passed", 1: "a check failed or a host could not be asked"}


def configure(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser, "hosts to check (default: every host with checks)")
    add_json_flag(parser)


def run(args: argparse.Namespace) -> int:
    return run_over_ssh(args, execute)


async def execute(args: argparse.Namespace, inventory: Inventory, shell: RemoteShell, *, clock: Clock | None = None,
                  out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    from labtui.ops.checks import run_fleet_checks, validate_check
    from labtui.ops.clock import REAL_CLOCK

    out, err = out or sys.stdout, err or sys.stderr
    hosts = select_hosts(inventory, target_tokens(args))
    for host in hosts:
        for spec in host.checks:
            problem = validate_check(spec)
            if problem:
                raise ConfigError(f"{host.name}: {problem} (in {inventory.config_path or 'labtui.toml'})")
    without = [h.name for h in hosts if not h.checks]
    with_checks = [h for h in hosts if h.checks]
    color = use_color(out) and not args.json
    results = []
    async for result in run_fleet_checks(with_checks, shell, clock=clock or REAL_CLOCK):
        results.append(result)
        if not args.json and err.isatty():
            err.write(f"  {'ok  ' if result.ok else 'FAIL'} {result.host} {harmless(result.check)}\n")
    order = {(h.name, s.name): i for i, (h, s) in enumerate((h, s) for h in with_checks for s in h.checks)}
    results.sort(key=lambda r: order.get((r.host, r.check), 0))
    ok = all(r.ok for r in results)
    if args.json:
        print_json({"ok": ok, "results": [r.to_dict() for r in results], "hosts_without_checks": without}, out)
        return EXIT_OK if ok else EXIT_FAILED
    if results:
        rows = [[r.host, r.check, r.kind, "ok" if r.ok else "FAILED", str(r.attempts), f"{r.duration:.1f}s",
                 r.message] for r in results]
        colors = [[None, None, None, "green" if r.ok else "red", None, None, None] for r in results]
        out.write(render_table(["HOST", "CHECK", "KIND", "RESULT", "TRIES", "TIME", "MESSAGE"], rows,
                               max_width=120, colors=colors, color=color) + "\n")
        failed = sum(not r.ok for r in results)
        out.write(f"{len(results) - failed}/{len(results)} checks passed\n")
    for name in without:
        err.write(f"labtui: {name}: no checks declared; add them under [hosts.{name}] checks in labtui.toml "
                  "(docs/ops.md)\n")
    return EXIT_OK if ok else EXIT_FAILED
