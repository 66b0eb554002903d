"""`labtui diff TARGET... [--json]`: what a deploy would change on each host, before it happens.

labtui builds what the flake would deploy to each host (one evaluation and one build for all of them, the
attributes deploy-rs or nixos-rebuild would build) while it asks each host what it runs over its SSH connection,
then compares: packages added, removed and changed with old → new versions, closure size, what a deploy would
copy, and what the switch implies (a reboot, a new NixOS version). Nothing is deployed.
"""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING

from labtui.cli.common import add_json_flag, add_target_arguments, paint, print_json, use_color
from labtui.cli.helptext import Examples, ExitStatus
from labtui.errors import EXIT_FAILED, EXIT_OK

if TYPE_CHECKING:
    from labtui.closure.diff import ClosureDiff
    from labtui.deploy.preview import HostPreview, Preview
    from labtui.inventory.model import Inventory
    from labtui.runs.events import RunEvent
    from labtui.ssh.api import RemoteShell

EXAMPLES: Examples = (
    ("labtui diff web1", "what deploying web1 would change"),
    ("labtui diff @prod --json", "every prod host, for scripts"),
    ("labtui diff .#db1 --method nixos-rebuild", "what nixos-rebuild would deploy to db1"),
)
EXIT_STATUS: ExitStatus = {
    0: "every host was compared (changed or not)",
    1: "a host could not be compared (its build or evaluation failed, it did not answer)",
}
NOTES = ("Each host's summary reads `+3 -1 ~12, +48 MiB, reboot`: packages added, removed, changed; the change of "
         "the closure size; and `reboot` when the new kernel, initrd or modules differ from what the host booted.")


def configure(parser: argparse.ArgumentParser) -> None:
    from labtui.deploy.methods import METHODS

    add_target_arguments(parser, "hosts to compare (default: every host)")
    parser.add_argument("--method", choices=METHODS.names(),
                        help="compare with what this method would deploy (default: each host's own method)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the builders' output lines")
    add_json_flag(parser)


def run(args: argparse.Namespace) -> int:
    from labtui.cli.common import run_over_ssh

    return run_over_ssh(args, execute)


async def execute(args: argparse.Namespace, inventory: Inventory, shell: RemoteShell, *, out: IO[str] | None = None,
                  err: IO[str] | None = None) -> int:
    from labtui.cli.common import target_tokens
    from labtui.deploy.preview import preview
    from labtui.inventory.select import select_hosts

    out, err = out or sys.stdout, err or sys.stderr
    hosts = select_hosts(inventory, target_tokens(args))
    progress = BuildLines(err, verbose=args.verbose, enabled=args.verbose or _isatty(err))
    result = await preview(inventory, hosts, shell, method=args.method, emit=progress.event)
    if args.json:
        print_json({"ok": result.ok, "problem": result.problem, "hosts": [h.to_dict() for h in result.hosts]}, out)
    else:
        print_preview(result, out, color=use_color(out))
    return EXIT_OK if result.ok else EXIT_FAILED


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class BuildLines:
    """The build's progress on stderr while labtui builds: a line when a host's counts move."""

    def __init__(self, stream: IO[str], *, verbose: bool = False, enabled: bool = True) -> None:
        self.stream = stream
        self.verbose = verbose
        self.enabled = enabled
        self.seen: dict[str, tuple[int, int, int, bool]] = {}

    def event(self, event: RunEvent) -> None:
        from labtui.deploy.build import summary
        from labtui.runs.events import BuildProgress, Output
        from labtui.text import harmless

        if not self.enabled:
            return
        if isinstance(event, BuildProgress):
            key = (event.built, event.fetched, len(event.failed), False)
            if self.seen.get(event.node) == key:
                return
            self.seen[event.node] = key
            self.stream.write(f"labtui: {event.node}: {summary(event)}\n")
        elif isinstance(event, Output) and self.verbose:
            self.stream.write(f"  {harmless(event.line)}\n")
        else:
            return
        self.stream.flush()


def print_preview(result: Preview, out: IO[str], *, color: bool, details: bool = True) -> None:
    """Every host's diff: its summary line, then (with `details`) its packages, sizes and implications."""
    from labtui.text import harmless

    for host in result.hosts:
        if host.diff is None:
            out.write(paint(f"{host.host}: no diff ({host.stage}): {harmless(host.error)}", "red", color) + "\n")
            continue
        diff = host.diff
        shade = "dim" if diff.unchanged else ("yellow" if diff.reboot else None)
        out.write(paint(f"{host.host}: {diff.summary()}", shade, color) + "\n")
        if details and not diff.unchanged:
            print_diff(diff, out, color=color)
    counts = {"changed": sum(1 for h in result.hosts if h.diff and not h.diff.unchanged),
              "unchanged": sum(1 for h in result.hosts if h.diff and h.diff.unchanged),
              "not compared": sum(1 for h in result.hosts if h.diff is None)}
    text = ", ".join(f"{n} {what}" for what, n in counts.items() if n)
    out.write(paint(f"{len(result.hosts)} host{'s' if len(result.hosts) != 1 else ''}: {text}",
                    "red" if counts["not compared"] else "bold", color) + "\n")


_SHADES = {"upgraded": "cyan", "downgraded": "yellow", "added": "green", "removed": "red", "implication": "yellow"}


def print_diff(diff: ClosureDiff, out: IO[str], *, color: bool) -> None:
    from labtui.closure.report import diff_lines
    from labtui.text import harmless

    for kind, text in diff_lines(diff):
        out.write(paint(harmless(text), _SHADES.get(kind), color) + "\n")


def print_host_preview(host: HostPreview, out: IO[str], *, color: bool) -> None:
    """One host's full diff (the TUI's view and `deploy --diff` show the same)."""
    from labtui.deploy.preview import Preview

    print_preview(Preview([host]), out, color=color)
