"""`labtui history [HOST]` and `labtui history show RUN`: past (and running) deploys from the journal."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from labtui.cli.common import add_json_flag, paint, print_json, render_table, use_color
from labtui.cli.helptext import Examples, ExitStatus

if TYPE_CHECKING:
    from labtui.runs.journal import Journal

_COLOR = {"succeeded": "green", "dry_activated": "green", "failed": "red", "rolled_back": "yellow",
          "not_deployed": "yellow", "cancelled": "yellow", "running": "cyan", "lost": "red"}


EXAMPLES: Examples = (
    ("labtui history", "the last 50 runs: outcome, operator, method, nodes"),
    ("labtui history web1 --limit 10", "web1's last 10 runs"),
    ("labtui history show 20261128-090101-b6e8", "one run with its full output; follows it if still going"),
)
EXIT_STATUS: ExitStatus = {0: "runs listed, or the run shown succeeded", 1: "the run shown did not succeed"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", nargs="*", metavar="HOST | show RUN",
                        help="a host to list its runs, or `show RUN` for one run with its full output")
    parser.add_argument("--limit", type=int, default=50, help="how many runs to list (default 50)")
    parser.add_argument("--no-follow", action="store_true",
                        help="with `show`: do not follow a run that is still going on")
    add_json_flag(parser)


def run(args: argparse.Namespace) -> int:
    from labtui.errors import UserError
    from labtui.runs.journal import Journal

    journal = Journal.open()
    try:
        if args.what[:1] == ["show"]:
            if len(args.what) != 2:
                raise UserError("usage: labtui history show RUN (run ids are listed by `labtui history`)")
            return show(journal, args.what[1], as_json=args.json, follow=not args.no_follow)
        if len(args.what) > 1:
            raise UserError("give at most one host: `labtui history [HOST]`, or `labtui history show RUN`")
        host = args.what[0] if args.what else None
        runs = journal.list_runs(host, limit=args.limit)
        if args.json:
            print_json([r.to_dict() for r in runs])
            return 0
        if not runs:
            print("no deploys recorded yet" + (f" for {host}" if host else ""))
            return 0
        color = use_color(sys.stdout)
        rows, colors = [], []
        for r in runs:
            state = r.outcome or r.state
            took = f"{(r.ended or time.time()) - r.started:.0f}s"
            nodes = " ".join(f"{n}:{(o or '…').replace('_', '-')}" for n, o in r.nodes.items())
            rows.append([r.run_id, _when(r.started), r.operator, r.method, r.action, state, took, nodes])
            colors.append([None, None, None, None, None, _COLOR.get(state), None, None])
        print(render_table(["RUN", "STARTED", "OPERATOR", "METHOD", "ACTION", "OUTCOME", "TIME", "NODES"], rows,
                           max_width=160, colors=colors, color=color))
        return 0
    finally:
        journal.close()


def show(journal: Journal, run_id: str, *, as_json: bool, follow: bool) -> int:
    detail = journal.get_run(run_id)
    s = detail.summary
    if as_json:
        print_json({**detail.to_dict(), "output": detail.output()})
        return 0
    color = use_color(sys.stdout)
    state = s.outcome or s.state
    print(f"run {s.run_id}  {paint(state, _COLOR.get(state), color)}"
          + (f" (exit {s.exit_code})" if s.exit_code is not None else ""))
    print(f"  operator {s.operator}, started {_when(s.started)}"
          + (f", ended {_when(s.ended)} ({s.ended - s.started:.0f}s)" if s.ended else ""))
    flake = s.flake or "?"
    if s.revision:
        flake += f" @ {s.revision}" + (" (dirty)" if s.dirty else "")
    elif s.dirty:
        flake += " (dirty tree)"
    print(f"  {s.method} {s.action} of {flake}")
    for argv in detail.argv:
        import shlex

        print(f"  $ {shlex.join(argv)}")
    rows, colors = [], []
    for n in detail.nodes:
        gens = ""
        if n.before_generation is not None or n.after_generation is not None:
            gens = f"{n.before_generation or '?'} -> {n.after_generation or '?'}"
        stages = " ".join(f"{name} {(end or time.time()) - start:.0f}s" for name, (start, end) in n.stages.items()
                          if start is not None)
        rows.append([n.node, n.profile or "", n.outcome or "…", n.stage or "", gens, stages, n.message])
        colors.append([None, None, _COLOR.get(n.outcome or ""), None, None, None, None])
    print()
    print(render_table(["NODE", "PROFILE", "OUTCOME", "STAGE", "GENERATION", "STAGES", "MESSAGE"], rows,
                       max_width=160, colors=colors, color=color))
    for n in detail.nodes:
        if n.after_path:
            print(f"  {n.node}{'.' + n.profile if n.profile else ''}: {n.before_path or '?'} -> {n.after_path}")
    print(f"\n--- output ({detail.output_path}) ---")
    output = detail.output()
    if not color:
        from labtui.deploy.parse.ansi import strip_ansi

        output = strip_ansi(output)
    sys.stdout.write(output)
    sys.stdout.flush()
    if s.state == "running" and follow:
        return _follow(s.run_id)
    return 0 if s.outcome == "succeeded" else 1


def _follow(run_id: str) -> int:
    """A run still going on: print its progress live (joining it from where it is)."""
    import asyncio

    from labtui.cli.deploy import follow
    from labtui.cli.printer import Printer
    from labtui.runs.client import DetachedRun

    print(f"\n--- run {run_id} is still running; following it (Ctrl-C to stop following) ---")
    printer = Printer(sys.stdout)
    return asyncio.run(follow(DetachedRun(run_id), printer, cancel_on_interrupt=False))


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else ""
