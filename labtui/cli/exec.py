"""`labtui exec HOST|@TAG... -- COMMAND [ARG...]`: run one command on many hosts at once.

Over the persistent SSH connections, at most `--parallel` hosts at a time, each with `--timeout`. Output is
grouped per host as each one finishes, or interleaved with host prefixes (`--stream`); `--json` gives every
host's exit code, stdout, stderr and duration. Every exec is a run in the journal (`labtui history`).
"""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING

from labtui.cli.common import TARGETS_HELP, paint, print_json, use_color
from labtui.cli.helptext import Examples, ExitStatus
from labtui.errors import EXIT_FAILED, EXIT_OK, UserError

if TYPE_CHECKING:
    from labtui.inventory.model import Host, Inventory
    from labtui.ops.exec import HostExec
    from labtui.ssh.api import LineShell, RemoteShell

EXAMPLES: Examples = (
    ("labtui exec @web -- uptime", "uptime of every host tagged web, grouped per host"),
    ("labtui exec 'web*' db1 --sudo -- systemctl restart nginx", "as root, through each host's sudo settings"),
    ("labtui exec '*' --stream --timeout 30 -- journalctl -u nginx -n 20", "lines as they come, host-prefixed"),
    ("labtui exec @prod --json -- sh -c 'df -h / | tail -1'", "every host's exit code and output as JSON"),
)
EXIT_STATUS: ExitStatus = {
    0: "the command exited 0 on every host",
    1: "it failed, timed out or could not run on at least one host",
    2: "usage or configuration error (nothing was run)",
}
NOTES = "Each word after `--` is quoted for the remote shell: use `sh -c '...'` for pipes and redirections."


def configure(parser: argparse.ArgumentParser) -> None:
    add_options(parser)
    # Everything from the first host on: hosts, `--`, the command (options between hosts and `--` are re-read).
    parser.add_argument("words", nargs=argparse.PARSER, metavar="TARGET... -- COMMAND [ARG]",
                        help=f"the hosts ({TARGETS_HELP}), then `--` and the command")


def add_options(parser: argparse.ArgumentParser, *, keep: bool = False) -> None:
    """The options; `keep`: no defaults (re-reading options written after the hosts keeps the earlier ones)."""
    from labtui.ops.exec import DEFAULT_PARALLEL, DEFAULT_TIMEOUT

    def default(value: object) -> object:
        return argparse.SUPPRESS if keep else value

    parser.add_argument("--parallel", type=int, metavar="N", default=default(DEFAULT_PARALLEL),
                        help=f"run on at most N hosts at once (default {DEFAULT_PARALLEL})")
    parser.add_argument("--timeout", type=float, metavar="S", default=default(DEFAULT_TIMEOUT),
                        help=f"end the command on a host after S seconds (default {DEFAULT_TIMEOUT:g}; 0: no limit)")
    parser.add_argument("--sudo", action="store_true", default=default(False),
                        help="run it as root through the host's sudo settings, like deploy-rs (interactiveSudo "
                             "hosts ask for their password first)")
    parser.add_argument("--stream", action="store_true", default=default(False),
                        help="print lines as they arrive, prefixed with the host, instead of grouped per host")
    parser.add_argument("--json", action="store_true", default=default(False),
                        help="machine-readable JSON on stdout")


def split_words(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """(targets, command) from `words`; options written between the hosts and `--` are applied to `args`."""
    words: list[str] = list(args.words)
    if "--" not in words:
        raise UserError("put `--` between the hosts and the command, e.g. `labtui exec web1 -- uptime`")
    cut = words.index("--")
    before, command = words[:cut], words[cut + 1:]
    late = argparse.ArgumentParser(prog="labtui exec", add_help=False)
    add_options(late, keep=True)
    late.add_argument("targets", nargs="*")
    late.parse_intermixed_args(before, namespace=args)
    targets: list[str] = args.targets
    if not targets:
        raise UserError("name at least one host before `--` (HOST, a glob like `web*`, or @tag)")
    return targets, command


def run(args: argparse.Namespace) -> int:
    import asyncio

    from labtui.cli.common import load_inventory
    from labtui.inventory.select import select_hosts
    from labtui.ops.exec import command_line

    targets, argv = split_words(args)
    command_line(argv)  # no command: one line, before any host is contacted
    args.hosts = targets  # the flake may come from them (`./lab#web1`)
    inventory = load_inventory(args)
    hosts = select_hosts(inventory, targets)

    async def over_ssh() -> int:
        from labtui.errors import EXIT_FAILED
        from labtui.ssh.api import SshError
        from labtui.ssh.pool import SshPool

        async with SshPool(inventory.hosts) as pool:
            try:
                return await execute(args, inventory, hosts, argv, pool, lines=pool)
            except SshError as exc:
                raise UserError(str(exc), detail=exc.hint, exit_code=EXIT_FAILED) from None

    return asyncio.run(over_ssh())


async def execute(args: argparse.Namespace, inventory: Inventory, hosts: list[Host], argv: list[str],
                  shell: RemoteShell, *, lines: LineShell | None = None, out: IO[str] | None = None,
                  err: IO[str] | None = None) -> int:
    """Run `argv` on `hosts` and print it; the exit status. `lines`: the same shell when it can stream lines."""
    from labtui.ops.exec import ExecCollector, recorded_exec
    from labtui.ops.runtime import sudo_passwords
    from labtui.runs.events import ExecResult, Output, RunStarted
    from labtui.text import harmless

    out, err = out or sys.stdout, err or sys.stderr
    if args.parallel < 1:
        raise UserError(f"--parallel must be at least 1, got {args.parallel}")
    if args.timeout < 0:
        raise UserError(f"--timeout must be 0 (no limit) or more seconds, got {args.timeout:g}")
    passwords = sudo_passwords(hosts) if args.sudo else {}
    collector = ExecCollector([h.name for h in hosts])
    color = use_color(out) and not args.json
    width = max(len(h.name) for h in hosts)
    run_id = ""
    async for event in recorded_exec(inventory, hosts, shell, argv, sudo=args.sudo, timeout=args.timeout or None,
                                     parallel=args.parallel, passwords=passwords, lines=lines):
        if isinstance(event, RunStarted):
            run_id = event.run_id
        done = collector.apply(event)
        if done is None or args.json:
            continue
        if args.stream and isinstance(event, Output):
            mark = "!" if event.source == "stderr" else "|"
            out.write(f"{paint(done.host.ljust(width), 'bold', color)} {mark} {harmless(event.line)}\n")
        elif isinstance(event, ExecResult) and args.stream:
            out.write(paint(f"{done.host.ljust(width)} = {harmless(done.verdict())}", _shade(done), color) + "\n")
        elif isinstance(event, ExecResult):
            _print_group(out, done, color)
        out.flush()
    results = collector.results()
    if args.json:
        print_json({"ok": collector.ok, "command": argv, "sudo": args.sudo, "run_id": run_id,
                    "hosts": [r.to_dict() for r in results]}, out)
    else:
        failed = [r for r in results if not r.ok]
        summary = f"{len(results) - len(failed)}/{len(results)} hosts succeeded"
        if failed:
            summary += "; failed: " + ", ".join(f"{r.host} ({r.status()})" for r in failed)
        out.write(paint(summary, "green" if not failed else "red", color) + "\n")
        err.write(f"labtui: recorded as run {run_id} (`labtui history show {run_id}`)\n")
    return EXIT_OK if collector.ok else EXIT_FAILED


def _shade(result: HostExec) -> str:
    return "green" if result.ok else "red"


def _print_group(out: IO[str], result: HostExec, color: bool) -> None:
    from labtui.text import harmless

    out.write(paint(f"== {result.host}: {harmless(result.verdict())}", _shade(result), color) + "\n")
    for line in result.stdout:
        out.write(harmless(line) + "\n")
    for line in result.stderr:
        out.write(paint(harmless(line), "yellow", color) + "\n")
