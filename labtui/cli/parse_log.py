"""`labtui parse-log FILE [--json]`: a saved deploy-rs log → deploy events and a per-node summary.

    deploy --targets .#web1 .#db1 2>&1 | tee deploy.log
    labtui parse-log deploy.log            # timeline and summary table
    labtui parse-log deploy.log --json     # one event per line (JSON Lines), as docs/events.md

A saved log does not carry deploy-rs's exit status: give it with --exit-code, or labtui infers it
(1 after deploy-rs's final error, 0 after a completed last profile, unknown otherwise).
`--method nixos-rebuild --targets HOST [--action boot]` reads a nixos-rebuild log instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import assert_never

from labtui.cli.common import outcome_color
from labtui.cli.helptext import Examples, ExitStatus
from labtui.deploy.methods import METHODS, LogTimeouts
from labtui.deploy.request import Action
from labtui.errors import EXIT_FAILED, EXIT_OK, UserError
from labtui.runs.events import (
    ActivationWindow,
    BuildProgress,
    CheckResultEvent,
    Confirmed,
    ConfirmWindow,
    ExecResult,
    GenerationSwitched,
    NodeResult,
    NodeState,
    Output,
    PasswordPrompt,
    Prompt,
    PromptAnswered,
    RebootProgress,
    Rollback,
    RollbackResult,
    RunEvent,
    RunResult,
    RunStarted,
    StageChanged,
    Stall,
    WaveResult,
    WaveStarted,
)
from labtui.text import harmless

EXAMPLES: Examples = (
    ("deploy .#web1 2>&1 | tee deploy.log; labtui parse-log deploy.log", "a saved deploy-rs log as a timeline"),
    ("labtui parse-log deploy.log --json --exit-code 1", "its events as JSON Lines, knowing deploy-rs exited 1"),
    ("labtui parse-log rebuild.log --method nixos-rebuild --action boot", "a saved nixos-rebuild boot log"),
    ("labtui parse-log deploy.log --confirm-timeout 10", "the run used --confirm-timeout 10 (the log does not say)"),
)
EXIT_STATUS: ExitStatus = {0: "the log shows a run that succeeded", 1: "the log shows a run that did not"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="deploy-rs output saved with `2>&1 | tee FILE` (or - for stdin)")
    parser.add_argument("--json", action="store_true", help="the events as JSON Lines on stdout")
    parser.add_argument("--exit-code", type=int, metavar="N", help="deploy-rs's exit status, when you know it")
    parser.add_argument("--targets", nargs="+", metavar="NODE[.PROFILE]",
                        help="what the run deployed (default: learned from the log)")
    parser.add_argument("-v", "--verbose", action="store_true", help="also show every output line in the timeline")
    parser.add_argument("--method", choices=METHODS.names(), default=METHODS.names()[0],
                        help=f"which program wrote the log (default: {METHODS.names()[0]})")
    parser.add_argument("--action", choices=[a.value for a in Action], default=Action.SWITCH.value,
                        help="the deploy's action, where the log does not tell (nixos-rebuild)")
    parser.add_argument("--confirm-timeout", type=int, metavar="S",
                        help="the run's confirm timeout, when it was not the flake's (with --flake) or 30 s")
    parser.add_argument("--activation-timeout", type=int, metavar="S",
                        help="the run's activation timeout, when it was not the flake's (with --flake) or 240 s")


def _read(path: str) -> tuple[list[str], float]:
    if path == "-":
        import time

        return sys.stdin.read().splitlines(), time.time()
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            text = f.read()
        return text.splitlines(), os.path.getmtime(path)
    except FileNotFoundError:
        raise UserError(f"no such file `{path}`; save a deploy's output with `deploy ... 2>&1 | tee {path}`") from None
    except IsADirectoryError:
        raise UserError(f"`{path}` is a directory; give the path of a saved deploy-rs log file") from None
    except OSError as exc:
        raise UserError(f"cannot read `{path}`: {exc.strerror}; check the path and its permissions") from None


def _targets(specs: list[str] | None) -> list[tuple[str, str | None]] | None:
    if not specs:
        return None
    out: list[tuple[str, str | None]] = []
    for spec in specs:
        node, _, profile = spec.partition(".")
        if not node:
            raise UserError(f"bad target `{spec}`; use NODE or NODE.PROFILE")
        out.append((node, profile or None))
    return out


def _timeouts(args: argparse.Namespace) -> LogTimeouts:
    """What is known of the run's timeouts besides the log: the options, and the flake's hosts when --flake names
    one (a `-d` log's own constructed commands win over both)."""
    for flag, value in (("--confirm-timeout", args.confirm_timeout), ("--activation-timeout", args.activation_timeout)):
        if value is not None and not 0 <= value <= 65535:
            raise UserError(f"{flag} must be a whole number of seconds between 0 and 65535, got {value}")
    hosts = None
    if getattr(args, "flake", None):
        from labtui.cli.common import load_inventory

        hosts = {h.name: h for h in load_inventory(args).hosts}
    return LogTimeouts(confirm=args.confirm_timeout, activation=args.activation_timeout, hosts=hosts)


def _source(source: str) -> str:
    return f" ({source})" if source else ""


def _describe(event: RunEvent) -> tuple[str, str, str | None]:
    """(kind, text, colour) of one event for the timeline."""
    where = getattr(event, "node", None) or "-"
    profile = getattr(event, "profile", None)
    if profile:
        where += f".{profile}"
    match event:
        case StageChanged():
            return "stage", f"{where:<20} {event.stage}", None
        case ConfirmWindow():
            return "confirm", f"{where:<20} waits {event.seconds} s for confirmation{_source(event.source)}", "cyan"
        case ActivationWindow():
            return ("activation", f"{where:<20} activation must finish within {event.seconds} s{_source(event.source)}",
                    "cyan")
        case Confirmed():
            return "confirmed", f"{where:<20} Deployment confirmed. (final when deploy-rs moves on)", "cyan"
        case Rollback():
            gen = f", generation {event.generation_removed} removed" if event.generation_removed is not None else ""
            return "rollback", f"{where:<20} {event.rollback_kind} rollback{gen}", "yellow"
        case GenerationSwitched():
            return "generation", f"{where:<20} {event.from_generation} -> {event.to_generation}", None
        case Prompt():
            plan = ", ".join(f"{p.node}.{p.profile}" for p in event.plan)
            return "prompt", f"{event.question} [{plan}]", "magenta"
        case Output():
            return "output", f"{where:<20} {event.line}", "dim"
        case NodeResult():
            return "result", f"{where:<20} {event.outcome}: {event.message}", outcome_color(event.outcome)
        case RunResult():
            colour = outcome_color(event.outcome, run=True)
            tail = f": {event.message}" if event.message else ""
            code = event.exit_code if event.exit_code is not None else "unknown"
            return "run", f"{event.outcome} (exit {code}){tail}", colour
        case (RunStarted() | Stall() | PasswordPrompt() | PromptAnswered() | NodeState() | CheckResultEvent()
              | RebootProgress() | RollbackResult() | ExecResult() | BuildProgress()
              | WaveStarted() | WaveResult()):
            return event.kind, json.dumps(event.to_dict()), None  # parsers do not emit these
        case _:
            assert_never(event)


def run(args: argparse.Namespace) -> int:
    from labtui.cli.common import paint, render_table, use_color
    from labtui.deploy.parse import parse_lines

    lines, ts = _read(args.file)
    method = METHODS.get(args.method)
    parser = method.log_parser(_targets(args.targets), Action(args.action), timeouts=_timeouts(args))
    exit_code = args.exit_code if args.exit_code is not None else method.infer_exit_code(lines)
    events = parse_lines(parser, lines, exit_code, ts=ts)
    run_result = next(e for e in events if isinstance(e, RunResult))

    if args.json:
        out = sys.stdout
        for event in events:
            out.write(json.dumps(event.to_dict(), ensure_ascii=False) + "\n")
        return EXIT_OK if run_result.outcome == "succeeded" else EXIT_FAILED

    color = use_color()
    for event in events:
        kind, text, colour = _describe(event)
        if kind == "output" and not args.verbose:
            continue
        print(f"{paint(f'{kind:<10}', colour, color)} {harmless(text)}")  # a saved log holds hosts' text
    results = list(parser.results.values())
    print()
    if results:
        rows = [[r.node, r.profile or "-", r.outcome, r.stage or "-", r.message] for r in results]
        colours = [[None, None, outcome_color(r.outcome), None, None] for r in results]
        width = os.get_terminal_size().columns if sys.stdout.isatty() else 120
        print(render_table(["NODE", "PROFILE", "OUTCOME", "STAGE", "MESSAGE"], rows, max_width=width,
                           colors=colours, color=color))
    else:
        print("no node named in the log before it ended")
    if exit_code is None:
        print(f"note: the exit status is not in the log and the log does not end with {method.name}'s final "
              "line; pass --exit-code N if you know it", file=sys.stderr)
    return EXIT_OK if run_result.outcome == "succeeded" else EXIT_FAILED
