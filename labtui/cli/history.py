"""`labtui history [HOST]` and `labtui history show RUN`: past (and running) deploys from the journal."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from labtui.cli.common import TONE_COLOR, add_json_flag, outcome_color, paint, print_json, render_table, use_color
from labtui.cli.helptext import Examples, ExitStatus
from labtui.text import harmless

if TYPE_CHECKING:
    from labtui.runs.journal import Journal, NodeRecord
    from labtui.runs.state import StateError



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
    """The journal's runs. When it cannot be opened or read (damaged, a directory, a read-only or full disk), the
    line saying why goes first, then what can still be read (the file read-only, or the runs' own files): exit 2."""
    from labtui.runs.journal import Journal
    from labtui.runs.state import JournalDamaged, StateError

    try:
        journal = Journal.open()
    except StateError as exc:
        return _recover(args, exc)
    try:
        return _run(args, journal)
    except JournalDamaged as exc:  # a damaged page found while reading
        return _recover(args, exc)
    finally:
        journal.close()


def _recover(args: argparse.Namespace, problem: StateError) -> int:
    from labtui.runs.journal import Journal
    from labtui.runs.state import StateError

    print(f"labtui: error: {harmless(problem.message)}", file=sys.stderr, flush=True)
    journal = Journal.recovered()
    try:
        _run(args, journal)
    except StateError:
        pass  # what could be read is shown; the line above says why the rest is not
    finally:
        journal.close()
    return problem.exit_code


def _run(args: argparse.Namespace, journal: Journal) -> int:
    from labtui.errors import UserError
    from labtui.runs.lost import settle_lost_runs

    settle_lost_runs(journal)  # runs whose supervisor vanished read `lost`, their unfinished nodes `unknown`

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
        nodes = " ".join(f"{n}:{o or 'running'}" for n, o in r.nodes.items())
        rows.append([r.run_id, _when(r.started), r.operator, r.method, r.action, state, took, nodes])
        colors.append([None, None, None, None, None, _state_color(state), None, None])
    print(render_table(["RUN", "STARTED", "OPERATOR", "METHOD", "ACTION", "OUTCOME", "TIME", "NODES"], rows,
                       max_width=160, colors=colors, color=color))
    return 0


def show(journal: Journal, run_id: str, *, as_json: bool, follow: bool) -> int:
    detail = journal.get_run(run_id)
    s = detail.summary
    if as_json:
        print_json({**detail.to_dict(), "output": detail.output()})
        return 0
    color = use_color(sys.stdout)
    state = s.outcome or s.state
    print(f"run {s.run_id}  {paint(state, _state_color(state), color)}"
          + (f" (exit {s.exit_code})" if s.exit_code is not None else ""))
    print(f"  operator {s.operator}, started {_when(s.started)}"
          + (f", ended {_when(s.ended)} ({s.ended - s.started:.0f}s)" if s.ended else ""))
    flake = s.flake or "?"
    if s.revision:
        flake += f" @ {s.revision}" + (" (dirty)" if s.dirty else "")
    elif s.dirty:
        flake += " (dirty tree)"
    print(harmless(f"  {s.method} {s.action} of {flake}"))
    for argv in detail.argv:
        import shlex

        print(harmless(f"  $ {shlex.join(argv)}"))
    rows, colors = [], []
    for n in detail.nodes:
        gens = ""
        if n.before_generation is not None or n.after_generation is not None:
            gens = f"{n.before_generation or '?'} -> {n.after_generation or '?'}"
        stages = " ".join(f"{name} {(end or time.time()) - start:.0f}s" for name, (start, end) in n.stages.items()
                          if start is not None)
        rows.append([n.node, n.profile or "", n.outcome or "running", n.stage or "", gens, stages, n.message])
        colors.append([None, None, outcome_color(n.outcome), None, None, None, None])
    print()
    print(render_table(["NODE", "PROFILE", "OUTCOME", "STAGE", "GENERATION", "STAGES", "MESSAGE"], rows,
                       max_width=160, colors=colors, color=color))
    for n in detail.nodes:
        if n.after_path:
            print(harmless(f"  {n.node}{'.' + n.profile if n.profile else ''}: {n.before_path or '?'} -> "
                           f"{n.after_path}"))
        if n.outcome == "unknown":
            print(harmless(f"  {n.node}: {found_text(n)}"))
    print(harmless(f"\n--- output ({detail.output_path}) ---", keep_newlines=True))
    sys.stdout.write(terminal_text(detail.output()))
    sys.stdout.flush()
    if s.state == "running" and follow:
        return _follow(s.run_id)
    return 0 if s.outcome == "succeeded" else 1


def found_text(node: NodeRecord) -> str:
    """What is known of a node whose run was lost: what a later probe found it running, or that none has yet."""
    if node.found_at is None:
        return "outcome unknown: no probe of the host since the run was lost (`labtui status` looks)"
    running = f"generation {node.found_generation}" if node.found_generation is not None else "a system"
    if node.new_path and node.found_path:
        whose = "the closure this run deployed" if node.found_path == node.new_path else "not this run's closure"
    else:
        whose = "whether it is this run's closure is not known"
    return (f"outcome unknown; found running {running} ({node.found_path or '?'}) at {_when(node.found_at)}: "
            f"{whose}")


def _follow(run_id: str) -> int:
    """A run still going on: print its progress live (joining it from where it is)."""
    import asyncio

    from labtui.cli.deploy import follow
    from labtui.cli.printer import Printer
    from labtui.runs.client import DetachedRun

    print(f"\n--- run {run_id} is still running; following it (Ctrl-C to stop following) ---")
    printer = Printer(sys.stdout)
    return asyncio.run(follow(DetachedRun(run_id), printer, cancel_on_interrupt=False))


def _state_color(state: str) -> str:
    """A run's outcome, or its state while it has none (running)."""
    return TONE_COLOR["busy"] if state == "running" else outcome_color(state, run=True)


def terminal_text(output: str) -> str:
    """A run's raw output (hosts' text, escape sequences and all) as harmless lines: each line as it ended up on
    screen (colours and `\\r` redraws resolved by clean_line), the control characters left shown escaped."""
    from labtui.deploy.parse.ansi import clean_line

    lines = output.split("\n")  # not splitlines(): a lone CR is a redraw within the line, not a line break
    if lines[-1] == "":
        lines.pop()
    return "".join(harmless(clean_line(line)) + "\n" for line in lines)


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else ""
