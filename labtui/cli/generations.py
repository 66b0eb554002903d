"""`labtui generations HOST [--json] [--diff A B]`: the system profile's generations, or what changed."""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING

from labtui.cli.common import add_json_flag, print_json, render_table, run_over_ssh, use_color
from labtui.cli.helptext import Examples, ExitStatus
from labtui.errors import EXIT_OK
from labtui.inventory.select import select_host
from labtui.text import harmless

if TYPE_CHECKING:
    from labtui.inventory.model import Inventory
    from labtui.ops.generations import GenerationInfo
    from labtui.ssh.api import RemoteShell


EXAMPLES: Examples = (
    ("labtui generations web1", "web1's system generations; current, booted and next-boot marked"),
    ("labtui generations web1 --diff 41 42", "what changed from generation 41 to 42"),
)
EXIT_STATUS: ExitStatus = {0: "the generations (or the diff) were shown"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("host", metavar="HOST", help="the host: its name or a deploy-rs target (`.#web1`)")
    parser.add_argument("--diff", nargs=2, type=int, metavar=("A", "B"),
                        help="what changed from generation A to B (nix store diff-closures, run on the host)")
    add_json_flag(parser)


def run(args: argparse.Namespace) -> int:
    return run_over_ssh(args, execute)


def marks(g: GenerationInfo) -> str:
    return ",".join(m for m, on in (("current", g.current), ("booted", g.booted), ("next-boot", g.default)) if on)


async def execute(args: argparse.Namespace, inventory: Inventory, shell: RemoteShell, *,
                  out: IO[str] | None = None) -> int:
    from labtui.ops.generations import diff_generations, list_generations

    out = out or sys.stdout
    host = select_host(inventory, args.host)
    color = use_color(out) and not args.json
    if args.diff:
        a, b = args.diff
        changes = await diff_generations(shell, host.name, a, b)
        if args.json:
            print_json({"host": host.name, "from": a, "to": b, "changes": [c.to_dict() for c in changes]}, out)
            return EXIT_OK
        if not changes:
            out.write(f"{host.name}: generations {a} and {b} have the same closure\n")
        for c in changes:
            line = f"{c.package}: {c.change}{', ' if c.change and c.size_delta else ''}{c.size_delta}"
            out.write(harmless(line) + "\n")
        return EXIT_OK
    gens = await list_generations(shell, host.name)
    if args.json:
        print_json({"host": host.name, "generations": [g.to_dict() for g in gens]}, out)
        return EXIT_OK
    rows = [[str(g.number), g.date.replace("T", " ").rstrip("Z"), g.nixos_version, g.kernel or "?", marks(g)]
            for g in reversed(gens)]
    colors = [[None, None, None, None, "green" if g.current else ("yellow" if g.booted else None)]
              for g in reversed(gens)]
    out.write(render_table(["GEN", "DATE (UTC)", "NIXOS", "KERNEL", ""], rows, max_width=100, colors=colors,
                           color=color) + "\n")
    return EXIT_OK
