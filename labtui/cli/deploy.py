"""`labtui deploy HOST[.PROFILE]...`: deploy with deploy-rs (or nixos-rebuild), with honest outcomes.

The deploy runs in a detached supervisor (labtui.deploy.detached), so it goes on to its end if this
terminal or the SSH session to the jump host drops; this command follows it and prints progress.
Ctrl-C once cancels the run (deploy-rs gets SIGINT, then SIGTERM, then SIGKILL); twice detaches
(the run continues, `labtui history show RUN` follows it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Set
from typing import IO, TYPE_CHECKING, Any, TypeVar

from labtui.cli.common import add_json_flag, add_target_arguments, target_tokens
from labtui.cli.helptext import Examples, ExitStatus
from labtui.cli.printer import Printer
from labtui.deploy.methods import METHODS
from labtui.deploy.request import HEALTH_GATES
from labtui.text import harmless

if TYPE_CHECKING:
    from labtui.deploy.preview import Preview
    from labtui.deploy.request import DeployRequest
    from labtui.inventory.model import Inventory
    from labtui.runs.client import DetachedRun
    from labtui.runs.events import PasswordPrompt, Prompt

T = TypeVar("T")


EXAMPLES: Examples = (
    ("labtui deploy web1", "deploy web1 with its method, after showing deploy-rs's plan for confirmation"),
    ("labtui deploy @prod --parallel 2 --yes", "deploy the prod hosts two at a time without asking"),
    ("labtui deploy web1.system --method nixos-rebuild --test", "activate web1 without a boot entry"),
    ("labtui deploy db1 --health-gate rollback", "roll db1 back if its health checks fail afterwards"),
)
EXIT_STATUS: ExitStatus = {
    0: "every host deployed",
    1: "a host failed, was rolled back or was not deployed; or deploy-rs's plan was declined (run `cancelled`)",
    130: "cancelled by Ctrl-C; or detached by a second Ctrl-C, and the run goes on (`labtui history show RUN`)",
}


def configure(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser, "what to deploy")
    parser.add_argument("--method", choices=METHODS.names(),
                        help="deploy tool (default: each host's method from the inventory, normally deploy-rs)")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--dry-activate", action="store_true", help="build and copy, then only show what would change")
    action.add_argument("--boot", action="store_true", help="activate at the next boot (no magic rollback)")
    action.add_argument("--test", action="store_true", help="nixos-rebuild test: activate without adding a boot entry")
    parser.add_argument("--skip-checks", action="store_true", help="skip `nix flake check` (deploy-rs -s)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--parallel", type=int, metavar="N",
                      help="deploy N hosts at once, one process per host (default 4 or labtui.toml [deploy] parallel)")
    mode.add_argument("--atomic", action="store_true",
                      help="one deploy-rs run over all hosts: if one fails, it rolls back the ones that succeeded")
    parser.add_argument("--confirm-timeout", type=int, metavar="S", help="override confirmTimeout (magic rollback)")
    parser.add_argument("--activation-timeout", type=int, metavar="S", help="override activationTimeout")
    parser.add_argument("--stall-after", type=float, metavar="S", default=120.0,
                        help="report a stall after S seconds without output (default 120; 0 disables)")
    parser.add_argument("--waves", metavar="SIZES",
                        help="deploy in waves, e.g. `1,25%%,100%%`: hosts done after each wave, as counts or shares; "
                             "a wave starts only when every host of the one before deployed and passed its health "
                             "checks (--health-gate report at least; with rollback a failed wave is rolled back)")
    parser.add_argument("--health-gate", choices=HEALTH_GATES, default="off",
                        help="after each host deployed, run its labtui.toml checks: report failures, or roll the "
                             "host back to its previous generation (default off)")
    parser.add_argument("--no-build-first", action="store_true",
                        help="let deploy-rs / nixos-rebuild build as they do, instead of labtui building every host's "
                             "profile first in one build with progress per host (labtui.toml [deploy] build_first)")
    parser.add_argument("--diff", action="store_true",
                        help="first build and show what the deploy would change on each host (like `labtui diff`), "
                             "skip hosts that already run it, then ask")
    parser.add_argument("--redeploy-unchanged", action="store_true",
                        help="with --diff: deploy hosts that already run what the flake would deploy, too")
    parser.add_argument("--no-probe", action="store_true",
                        help="do not ask the hosts for their generation before and after (journal only)")
    parser.add_argument("--no-host-lock", action="store_true",
                        help="take only this machine's deploy lock, not the one on each host (/run/lock) that "
                             "operators on other machines or other users also take")
    parser.add_argument("-y", "--yes", action="store_true",
                        help="do not ask: deploy without showing deploy-rs's plan for confirmation")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every output line of deploy-rs/nix")
    add_json_flag(parser)


def parse_targets(inventory: Inventory, tokens: list[str]) -> list[tuple[str, str | None]]:
    """Typed targets (labtui.inventory.select) -> (node, profile or None) pairs, in order, without repeats."""
    from labtui.errors import UserError
    from labtui.inventory.select import select_targets

    if not tokens:
        raise UserError("name what to deploy: `labtui deploy web1`, `.#web1.system`, `@prod`, `'web*'` or "
                        "`--targets .#web1 .#db1`")
    return [target.pair() for target in select_targets(inventory, tokens)]


def build_request(args: argparse.Namespace, inventory: Inventory) -> DeployRequest:
    from labtui.deploy.commands import DeployRsOptions
    from labtui.deploy.request import Action, DeployRequest

    action = (Action.DRY_ACTIVATE if args.dry_activate else Action.BOOT if args.boot
              else Action.TEST if args.test else Action.SWITCH)
    if args.parallel is not None and args.parallel < 1:
        from labtui.errors import UserError

        raise UserError(f"--parallel must be at least 1, got {args.parallel}")
    options = DeployRsOptions(skip_checks=args.skip_checks, confirm_timeout=args.confirm_timeout,
                              activation_timeout=args.activation_timeout)
    targets = parse_targets(inventory, target_tokens(args))
    waves: list[list[str]] = []
    if args.waves:
        from labtui.deploy.waves import plan_waves

        waves = plan_waves(list(dict.fromkeys(node for node, _ in targets)), args.waves)
    return DeployRequest(targets=targets, method=args.method, action=action,
                         options=options, parallel=args.parallel, atomic=args.atomic, interactive=not args.yes,
                         flake=None, stall_after=args.stall_after or None, health_gate=args.health_gate,
                         probe=not args.no_probe, host_lock=not args.no_host_lock,
                         prebuild=inventory.deploy.build_first and not args.no_build_first,
                         waves=waves)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from labtui.cli import common
    from labtui.deploy.detached import start_detached
    from labtui.deploy.methods import METHODS
    from labtui.deploy.orchestrator import DeployRun

    inventory = common.load_inventory(args)
    request = build_request(args, inventory)
    plan = DeployRun(request, inventory, locking=False)  # validates targets, builds the commands
    for method in sorted({job.method for job in plan.jobs}):
        METHODS.get(method).find_program()
    critical = {node for node in request.nodes() if inventory.get(node).critical}
    if args.diff:
        narrowed = show_diff_and_ask(args, inventory, request, critical)
        if narrowed is None:
            return 0
        request = narrowed
    detached = start_detached(request, inventory)
    printer = Printer(sys.stdout, json_lines=args.json, verbose=args.verbose)
    return asyncio.run(follow(detached, printer, critical=critical))


def show_diff_and_ask(args: argparse.Namespace, inventory: Inventory, request: DeployRequest,
                      critical: Set[str]) -> DeployRequest | None:
    """`--diff`: build, print each host's diff, drop the hosts that run it already, ask. The request to deploy,
    or None when there is nothing to deploy or the operator said no."""
    import asyncio
    from dataclasses import replace

    from labtui.cli.common import print_json, use_color
    from labtui.cli.diff import BuildLines, print_preview
    from labtui.deploy.preview import preview
    from labtui.errors import EXIT_FAILED, UserError
    from labtui.ssh.pool import SshPool

    hosts = [inventory.get(node) for node in request.nodes()]
    lines = BuildLines(sys.stderr, verbose=args.verbose, enabled=args.verbose or _stderr_is_tty())

    async def compare() -> Preview:
        async with SshPool(inventory.hosts) as pool:
            return await preview(inventory, hosts, pool, method=args.method, emit=lines.event)

    result = asyncio.run(compare())
    if args.json:
        print_json({"preview": {"ok": result.ok, "hosts": [h.to_dict() for h in result.hosts]}}, sys.stdout)
    else:
        print_preview(result, sys.stdout, color=use_color(sys.stdout))
    if result.problem:
        raise UserError(f"cannot show what the deploy would change: {result.problem}", exit_code=EXIT_FAILED)
    unchanged = {h.host for h in result.hosts if h.diff is not None and h.diff.unchanged}
    if unchanged and not args.redeploy_unchanged:
        print(f"labtui: skipping {', '.join(sorted(unchanged))}: already running what the flake would deploy "
              "(--redeploy-unchanged deploys them anyway)", file=sys.stderr)
    targets = [t for t in request.targets if t[0] not in unchanged or args.redeploy_unchanged]
    if not targets:
        print("labtui: nothing to deploy: every host runs what the flake would deploy", file=sys.stderr)
        return None
    nodes = list(dict.fromkeys(node for node, _ in targets))
    if not args.yes:
        line = ask_confirmation(nodes, critical & set(nodes))
        if not answer_means_yes(line, critical & set(nodes)):
            print("labtui: not deploying", file=sys.stderr)
            return None
    waves = request.waves
    if waves and args.waves:  # the skipped hosts leave the plan
        from labtui.deploy.waves import plan_waves

        waves = plan_waves(nodes, args.waves)
    # Asked already (with the diff in front of the operator): deploy-rs need not ask again.
    return replace(request, targets=targets, interactive=False, waves=waves)


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


async def follow(run: DetachedRun, printer: Printer, *, critical: Set[str] = frozenset(), interactive: bool = True,
                 cancel_on_interrupt: bool = True) -> int:
    """Print a run's events until its result, answering its questions from the terminal/stdin."""
    import asyncio
    import signal

    from labtui.runs.events import PasswordPrompt, Prompt, RunResult

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
        waiting = run.pending()[kind]
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
        who = harmless(who)  # the hostname is read from deploy-rs's prompt
        if not await asyncio.to_thread(still_waiting, "passwords", event.hostname):
            return
        async with ask_lock:
            password: str | None
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
            if isinstance(event, RunResult):
                exit_code = event.exit_code if event.exit_code is not None else 1
                break
            next_event = asyncio.ensure_future(anext(events))
    finally:
        signal.signal(signal.SIGINT, previous_handler)
        for pending_task in (next_event, detached, *tasks):
            pending_task.cancel()
        await events.aclose()
    return exit_code


async def in_daemon_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking question in a daemon thread: if the run ends first, exiting does not wait for it."""
    import asyncio
    import threading

    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(setter: Callable[[Any], object], value: object) -> None:
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


def answer_means_yes(line: str | None, critical: Set[str]) -> bool:
    """`yes`/`y` (any case); for critical hosts exactly their names. None (no answer) is no."""
    if line is None:
        return False
    answer = line.strip()
    if critical:
        return answer == " ".join(sorted(critical))
    return answer.lower() in ("y", "yes")


def ask_confirmation(nodes: list[str], critical: Set[str], stdin: IO[str] | None = None,
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
