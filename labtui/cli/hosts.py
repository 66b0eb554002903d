"""`labtui hosts [HOST...] [--json]`: the fleet as the flake and labtui.toml describe it."""

from __future__ import annotations

import argparse

from labtui.cli.common import (
    add_json_flag,
    add_target_arguments,
    load_inventory,
    print_json,
    render_table,
    target_tokens,
)
from labtui.cli.helptext import Examples, ExitStatus
from labtui.inventory.select import select_hosts

EXAMPLES: Examples = (
    ("labtui hosts", "every host of the flake in the current directory, with its merged deploy settings"),
    ("labtui --flake ~/lab hosts @prod", "the hosts tagged prod in ~/lab's flake"),
    ("labtui hosts web1 --json", "one host with where each setting came from, as JSON"),
)
EXIT_STATUS: ExitStatus = {0: "the hosts were listed (also when none matched a glob)"}


def configure(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser, "hosts to show (default: all)")
    add_json_flag(parser)


def run(args: argparse.Namespace) -> int:
    from labtui.inventory.describe import describe_inventory

    inventory = load_inventory(args)
    hosts = select_hosts(inventory, target_tokens(args))
    if args.json:
        print_json(describe_inventory(inventory, hosts))
        return 0
    rows = [[h.name, h.hostname, h.method, ",".join(p.name for p in h.profiles) or "-", ",".join(h.tags) or "-"]
            for h in hosts]
    print(render_table(["NAME", "HOSTNAME", "METHOD", "PROFILES", "TAGS"], rows))
    return 0
