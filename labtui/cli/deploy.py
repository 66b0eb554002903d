"""`labtui deploy HOST[.PROFILE]...`: deploy with deploy-rs (or nixos-rebuild), with honest outcomes.

The deploy runs in a detached supervisor (labtui.deploy.supervisor), so it goes on to its end if this
terminal or the SSH session to the jump host drops; this command follows it and prints progress.
Ctrl-C once cancels the run (deploy-rs gets SIGINT, then SIGTERM, then SIGKILL); twice detaches
(the run continues, `labtui history show RUN` follows it).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict, deque
from typing import IO

from labtui.cli.common import add_json_flag, paint, render_table, use_color

_OUTCOME_COLOR = {"succeeded": "green", "dry_activated": "green", "rolled_back": "yellow", "failed": "red",
                  "not_deployed": "yellow", "cancelled": "yellow", None: "dim"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("hosts", nargs="+", metavar="HOST[.PROFILE]",
                        help="hosts to deploy: names, HOST.PROFILE, globs (`web*`) or tags (`@prod`)")
    parser.add_argument("--method", choices=("deploy-rs", "nixos-rebuild"),
                        help="deploy tool (default: each host's method from the inventory, normally deploy-rs)")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--dry-activate", action="store_true", help="build and copy, then only show what would change")
    action.add_argument("--boot", action="store_true", help="activate at the next boot (no magic rollback)")
    action.add_argument("--test", action="store_true", help="nixos-rebuild test: activate without adding a boot entry")
    parser.add_argument("--skip-checks", action="store_true", help="skip `nix flake check` (deploy-rs -s)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--parallel", type=int, metavar="N",
                      help="deploy N hosts at once, one deploy-rs per host (default 4 or labtui.toml [deploy] parallel)")
    mode.add_argument("--atomic", action="store_true",
                      help="one deploy-rs run over all hosts: if one fails, deploy-rs rolls back the ones that succeeded")
    parser.add_argument("--confirm-timeout", type=int, metavar="S", help="override confirmTimeout (magic rollback)")
    parser.add_argument("--activation-timeout", type=int, metavar="S", help="override activationTimeout")
    parser.add_argument("--stall-after", type=float, metavar="S", default=120.0,
                        help="report a stall after S seconds without output (default 120; 0 disables)")
    parser.add_argument("--health-gate", choices=("off", "report", "rollback"), default="off",
                        help="after each host deployed, run its labtui.toml checks: report failures, or roll the "
                             "host back to its previous generation (default off)")
    parser.add_argument("--no-probe", action="store_true",
                        help="do not ask the hosts for their generation before and after (journal only)")
    parser.add_argument("-y", "--yes", action="store_true",
                        help="do not ask: deploy without showing deploy-rs's plan for confirmation")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every output line of deploy-rs/nix")
    add_json_flag(parser)


def parse_targets(inventory, tokens: list[str]) -> list[tuple[str, str | None]]:
    """HOST, HOST.PROFILE, globs and @tags -> (node, profile or None) pairs, in order, without repeats."""
    names = set(inventory.names())
    targets: list[tuple[str, str | None]] = []
    for token in tokens:
        if token in names or token.startswith("@") or any(c in token for c in "*?["):
            found = [(h.name, None) for h in inventory.select([token])]
        elif "." in token and token.rsplit(".", 1)[0] in names:
            host, profile = token.rsplit(".", 1)
            found = [(host, profile)]
        else:
            found = [(inventory.get(token).name, None)]  # raises with a "did you mean"
        targets.extend(t for t in found if t not in targets)
    return targets


def build_request(args: argparse.Namespace, inventory):
    from labtui.deploy.commands import DeployRsOptions
    from labtui.deploy.orchestrator import DeployRequest

    action = "dry-activate" if args.dry_activate else "boot" if args.boot else "test" if args.test else "switch"
    if args.parallel is not None and args.parallel < 1:
        from labtui.errors import UserError

        raise UserError(f"--parallel must be at least 1, got {args.parallel}")
    options = DeployRsOptions(skip_checks=args.skip_checks, confirm_timeout=args.confirm_timeout,
                              activation_timeout=args.activation_timeout)
    post_node = None
    if args.health_gate != "off":
        from labtui.ops.gate import HOOK_SPECS

        post_node = HOOK_SPECS[args.health_gate]
    return DeployRequest(targets=parse_targets(inventory, args.hosts), method=args.method, action=action,
                         options=options, parallel=args.parallel, atomic=args.atomic, interactive=not args.yes,
                         flake=None, stall_after=args.stall_after or None, post_node=post_node,
                         probe=None if args.no_probe else "labtui.deploy.probe:ssh_probe")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from labtui.cli import common
    from labtui.deploy.orchestrator import DeployRun, find_program
    from labtui.deploy.supervisor import start_detached

    inventory = common.load_inventory(args)
    request = build_request(args, inventory)
    plan = DeployRun(request, inventory, locking=False)  # validates targets, builds the commands
    for method in sorted({job.method for job in plan.jobs}):
        find_program(request.deploy_program if method == "deploy-rs" else request.nixos_rebuild_program, method)
    critical = {node for node in request.nodes() if inventory.get(node).critical}
    detached = start_detached(request, inventory)
    printer = Printer(sys.stdout, json_lines=args.json, verbose=args.verbose)
    return asyncio.run(follow(detached, printer, critical=critical))


async def follow(run, printer: Printer, *, critical: set[str] = frozenset(), interactive: bool = True,
                 cancel_on_interrupt: bool = True) -> int:
    """Print a run's events until its result, answering its questions from the terminal/stdin."""
    import asyncio
    import signal

    from labtui.deploy.events import Prompt
    from labtui.deploy.orchestrator import PasswordPrompt

    loop = asyncio.get_running_loop()
    ask_lock = asyncio.Lock()
    interrupts = 0
    detach = asyncio.Event()

    def on_interrupt() -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1 and cancel_on_interrupt:
            printer.note("cancelling the run (Ctrl-C again to detach and leave it running)")
            try:
                run.cancel()
            except Exception as exc:  # already finished
                printer.note(str(exc))
        else:
            detach.set()

    # A plain signal handler (not loop.add_signal_handler) so the previous one comes back untouched.
    previous_handler = signal.signal(signal.SIGINT, lambda signum, frame: loop.call_soon_threadsafe(on_interrupt))

    piped: list[str | None] = []  # the one answer line read from a pipe, reused for every host's question

    def still_waiting(kind: str, key: str | None) -> bool:
        """Replaying a run from its start: ask only about what it waits for now."""
        pending = getattr(run, "pending", None)
        if pending is None:
            return True
        waiting = pending()[kind]
        return bool(waiting) if key is None else (key in waiting or "atomic" in waiting)

    async def answer_prompt(event: Prompt) -> None:
        nodes = sorted({entry.node for entry in event.plan})
        node = nodes[0] if len(nodes) == 1 else None
        if not await asyncio.to_thread(still_waiting, "prompts", node):
            return
        async with ask_lock:
            if piped:  # `echo yes | labtui deploy web1 web2`: one answer for the whole command
                yes = answer_means_yes(piped[0], critical & set(nodes))
            else:
                line = await in_daemon_thread(ask_confirmation, nodes, critical & set(nodes))
                yes = answer_means_yes(line, critical & set(nodes))
                if not _stdin_is_tty():
                    piped.append(line)
        try:
            run.answer_prompt(yes, node)
        except Exception as exc:
            printer.note(str(exc))

    async def answer_password(event: PasswordPrompt) -> None:
        import getpass

        who = f"{event.node} ({event.hostname})" if event.node and event.node != event.hostname else event.hostname
        if not await asyncio.to_thread(still_waiting, "passwords", event.hostname):
            return
        async with ask_lock:
            try:
                password = await in_daemon_thread(getpass.getpass, f"sudo password for {who}: ")
            except (EOFError, OSError):
                password = None
        try:
            run.send_password(event.hostname, password)
        except Exception as exc:
            printer.note(str(exc))
        del password

    exit_code = 1
    tasks: set[asyncio.Task[None]] = set()
    events = run.events()
    next_event = asyncio.ensure_future(anext(events))
    detached = asyncio.ensure_future(detach.wait())
    try:
        while True:
            done, _ = await asyncio.wait({next_event, detached}, return_when=asyncio.FIRST_COMPLETED)
            if detached in done:
                printer.note(f"detached; the run goes on: follow it with `labtui history show {run.run_id}`")
                return 130  # interrupted: this command does not know the outcome
            try:
                event = next_event.result()
            except StopAsyncIteration:
                break
            printer.event(event)
            if interactive and isinstance(event, Prompt):
                tasks.add(task := asyncio.ensure_future(answer_prompt(event)))
                task.add_done_callback(tasks.discard)
            elif interactive and isinstance(event, PasswordPrompt):
                tasks.add(task := asyncio.ensure_future(answer_password(event)))
                task.add_done_callback(tasks.discard)
            if event.kind == "run_result":
                exit_code = event.exit_code if event.exit_code is not None else 1
                break
            next_event = asyncio.ensure_future(anext(events))
    finally:
        signal.signal(signal.SIGINT, previous_handler)
        for task in (next_event, detached, *tasks):
            task.cancel()
        await events.aclose()
    return exit_code


async def in_daemon_thread(fn, *args):
    """Run a blocking question in a daemon thread: if the run ends first, exiting does not wait for it."""
    import asyncio
    import threading

    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def deliver(setter, value) -> None:
        try:
            loop.call_soon_threadsafe(lambda: future.done() or setter(value))
        except RuntimeError:  # the loop is gone: nobody waits for this answer any more
            pass

    def work() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:  # delivered to the awaiting task
            deliver(future.set_exception, exc)
        else:
            deliver(future.set_result, result)

    threading.Thread(target=work, daemon=True).start()
    return await future


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def answer_means_yes(line: str | None, critical: set[str]) -> bool:
    """`yes`/`y` (any case); for critical hosts exactly their names. None (no answer) is no."""
    if line is None:
        return False
    answer = line.strip()
    if critical:
        return answer == " ".join(sorted(critical))
    return answer.lower() in ("y", "yes")


def ask_confirmation(nodes: list[str], critical: set[str], stdin: IO[str] | None = None,
                     out: IO[str] | None = None) -> str | None:
    """Ask the operator; the answer line, None at end of input. Reads the terminal, or stdin when piped.
    Critical hosts need their name typed (see answer_means_yes)."""
    stdin = stdin or sys.stdin
    out = out or sys.stderr
    if critical:
        names = " ".join(sorted(critical))
        out.write(f"{names} {'is' if len(critical) == 1 else 'are'} critical: type `{names}` to deploy, "
                  "anything else cancels: ")
    else:
        out.write(f"Deploy {', '.join(nodes)}? [yes/no]: ")
    out.flush()
    line = stdin.readline()
    if not line:
        out.write("\n(no answer: not deploying)\n")
        return None
    return line


class Printer:
    """Progress lines for people, or event JSON lines with --json."""

    def __init__(self, stream: IO[str], *, json_lines: bool = False, verbose: bool = False,
                 color: bool | None = None) -> None:
        self.stream = stream
        self.json = json_lines
        self.verbose = verbose
        self.color = use_color(stream) if color is None else color
        self.results: dict[tuple[str, str | None], object] = {}
        self.started: dict[str, float] = {}
        self.tails: dict[str | None, deque[str]] = defaultdict(lambda: deque(maxlen=12))
        self.run_started: float | None = None

    def note(self, text: str) -> None:
        print(f"labtui: {text}", file=sys.stderr, flush=True)

    def _line(self, ts: float, who: str | None, text: str, color: str | None = None) -> None:
        clock = time.strftime("%H:%M:%S", time.localtime(ts))
        prefix = f"{who}: " if who else ""
        self.stream.write(f"{paint(clock, 'dim', self.color)} {prefix}{paint(text, color, self.color)}\n")
        self.stream.flush()

    def event(self, event) -> None:
        import json

        if self.json:
            self.stream.write(json.dumps(event.to_dict(), default=str) + "\n")
            self.stream.flush()
            return
        kind = event.kind
        d = event.to_dict()
        who = _who(d.get("node"), d.get("profile"))
        ts = event.ts
        if kind == "run_started":
            self.run_started = ts
            self._line(ts, None, f"deploy run {event.run_id}: {', '.join(event.nodes)} ({event.method})", "bold")
            for argv in event.argvs or ([event.argv] if event.argv else []):
                self._line(ts, None, "$ " + " ".join(_quote(a) for a in argv), "dim")
        elif kind == "stage":
            self.started.setdefault(event.node or "", ts)
            self._line(ts, who, event.stage)
        elif kind == "confirm_window":
            until = time.strftime("%H:%M:%S", time.localtime(ts + event.seconds))
            self._line(ts, who, f"activated; confirming (magic rollback in {event.seconds} s, at {until}, "
                                "unless confirmed)", "cyan")
        elif kind == "activation_window":
            until = time.strftime("%H:%M:%S", time.localtime(ts + event.seconds))
            self._line(ts, who, f"activating: must finish within {event.seconds} s (by {until})")
        elif kind == "confirmed":
            self._line(ts, who, "confirmed", "green")
        elif kind == "rollback":
            text = {"auto": "activation failed: rolling back (auto rollback)",
                    "magic": "no confirmation in time: the target rolled back (magic rollback)",
                    "revoke": "revoked: rolled back because another node failed",
                    "health": "health checks failed: rolling back"}.get(d["kind"], f"rollback ({d['kind']})")
            self._line(ts, who, text, "yellow")
        elif kind == "prompt":
            self._line(ts, None, "deploy-rs will deploy:", "bold")
            rows = [[f"{p.node}.{p.profile}", p.hostname or "", p.user or "", p.path or ""] for p in event.plan]
            self.stream.write(render_table(["PROFILE", "HOSTNAME", "USER", "STORE PATH"], rows, max_width=160) + "\n")
            self.stream.flush()
        elif kind == "prompt_answered":
            self._line(ts, who, "answered " + ("yes" if event.yes else "no"))
        elif kind == "password_prompt":
            self._line(ts, who, f"deploy-rs asks for the sudo password of {event.hostname}")
        elif kind == "output":
            self.tails[event.node].append(event.line)
            if self.verbose:
                self._line(ts, who, paint(event.line, "dim", self.color))
        elif kind == "stall":
            self._line(ts, who, f"no output for {event.seconds:.0f} s in {event.stage or 'this stage'}: {event.hint}",
                       "yellow")
        elif kind == "node_result":
            self.results[(event.node, event.profile)] = event
            text = event.outcome.replace("_", " ")
            if event.outcome not in ("succeeded", "dry_activated"):
                text = f"{text.upper()} at {event.stage or '?'}" + (f": {event.message}" if event.message else "")
            self._line(ts, who, text, _OUTCOME_COLOR.get(event.outcome))
            if event.outcome in ("failed", "rolled_back") and not self.verbose and self.tails[event.node]:
                for line in self.tails[event.node]:
                    self.stream.write(f"    {paint(line, 'dim', self.color)}\n")
        elif kind == "run_result":
            self.summary(event)
        elif kind == "node_state":
            if event.error:
                if self.verbose:
                    self._line(ts, who, f"generation {event.when} the deploy unknown: {event.error}", "dim")
            elif event.generation is not None:
                label = "running generation" if event.when == "before" else "now on generation"
                self._line(ts, who, f"{label} {event.generation}", "dim")
        else:  # kinds added by other modules (health gate, ...)
            text = None
            try:
                from labtui.ops.events import describe

                text = describe(event)
            except ImportError:
                pass
            if text is None:
                text = kind + ": " + ", ".join(f"{k}={v}" for k, v in d.items()
                                               if k not in ("event", "ts", "node", "profile"))
            self._line(ts, who, text)

    def summary(self, event) -> None:
        rows, colors = [], []
        for (node, profile), result in self.results.items():
            took = result.ts - self.started.get(node, self.run_started or result.ts)
            rows.append([node, profile or "", result.outcome, result.stage or "", f"{took:.0f}s", result.message])
            colors.append([None, None, _OUTCOME_COLOR.get(result.outcome), None, None, None])
        if rows:
            self.stream.write("\n" + render_table(["NODE", "PROFILE", "OUTCOME", "STAGE", "TIME", "MESSAGE"], rows,
                                                  max_width=120, colors=colors, color=self.color) + "\n")
        total = event.ts - (self.run_started or event.ts)
        self._line(event.ts, None, f"run {event.outcome} in {total:.0f}s (exit {event.exit_code})",
                   _OUTCOME_COLOR.get(event.outcome if event.outcome != "failed" else "failed"))


def _who(node: str | None, profile: str | None) -> str | None:
    if node is None:
        return None
    return f"{node}.{profile}" if profile else node


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)
