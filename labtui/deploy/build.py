"""labtui builds what a deploy will deploy before deploy-rs or nixos-rebuild run, and watches it build.

Three steps, each one process for the whole fleet where Nix allows:

1. **evaluate**: one `nix eval --json FLAKE#deploy --apply …` (and one for `nixosConfigurations` when a
   method builds from there) gives every target's derivation and output path: the attributes deploy-rs and
   nixos-rebuild build themselves (each method names them: `DeployMethod.build_attrs`), from one evaluator,
   so what is shared is evaluated once. A failing evaluation is retried per target to say which one fails.
2. **plan**: `nix-store --realise --dry-run DRV…` per node (in parallel) says which derivations Nix will build
   and which paths it will fetch for that node: its share of the work, so progress is per node.
3. **build**: ONE `nix-store --realise --keep-going --log-format internal-json -v DRV…` for every node:
   derivations shared by several nodes are built once, a node whose build fails does not stop the others.
   `BuildParser` reads its log (labtui.deploy.parse.nix_log) and emits `build_progress` per node and the
   builders' lines as `output` (`name> line`, source `build`). Afterwards `nix-store --check-validity` says
   which nodes' outputs exist: deploy-rs and nixos-rebuild then find them built.

`nix-store --realise` and not `nix build DRV`: newer Nix reads a bare `.drv` argument of `nix build` as the
file itself (so it builds nothing), and the `^*` syntax is unknown to Nix 2.8.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from labtui.closure.units import human_size
from labtui.commandlog import COMMAND_LOG, CommandLog
from labtui.deploy.parse.nix_log import (
    BuildFailed,
    BuildLogLine,
    BuildPhase,
    BuildsProgress,
    BuildStarted,
    BuildStopped,
    CopyProgress,
    DependencyFailed,
    NixEvent,
    NixLogParser,
    NixMessage,
    Planned,
    SubstituteStopped,
    drv_name,
)
from labtui.deploy.runner import CommandRunner, RunnerTimings
from labtui.inventory.nix import NIX_FLAGS, nix_how_to_get, nix_string, nix_timeout, stderr_tail
from labtui.runs.events import (
    BuildProgress,
    FailedBuild,
    NodeResult,
    Output,
    RunEvent,
    RunningBuild,
    RunResult,
    StageChanged,
)

TAIL_LINES = 25  # a failed build's last log lines kept for the operator
RECENT_TAILS = 64  # finished builds whose tails are kept a while
PROGRESS_EVERY = 0.5  # seconds between two build_progress events of a node that only changed its last line
DRY_RUN_PARALLEL = 4


@dataclass(frozen=True)
class BuildTarget:
    """One thing to build: a node's profile (deploy-rs) or system (nixos-rebuild), by its flake attribute."""

    node: str
    profile: str | None
    attr: tuple[str, ...]  # e.g. ("deploy", "nodes", "web1", "profiles", "system", "path")

    @property
    def key(self) -> str:
        return f"{self.node}.{self.profile}" if self.profile else self.node


@dataclass(frozen=True)
class Evaluated:
    target: BuildTarget
    drv: str
    out: str


@dataclass(frozen=True)
class NodePlan:
    """What Nix will do for one node: its derivations to build and paths to fetch (its share of the build)."""

    node: str
    drvs: tuple[str, ...]  # the node's top-level derivations (one per profile)
    outs: tuple[str, ...]
    will_build: frozenset[str] = frozenset()
    will_fetch: frozenset[str] = frozenset()
    bytes_to_fetch: int = 0

    @property
    def nothing_to_do(self) -> bool:
        return not self.will_build and not self.will_fetch


@dataclass(frozen=True)
class ProcResult:
    returncode: int
    stdout: str
    stderr: str


class BuildError(Exception):
    """Nix could not be run at all, or said something unusable (one line, for the operator)."""


async def run_process(argv: Sequence[str], *, timeout: float | None = None,
                      log: CommandLog = COMMAND_LOG) -> ProcResult:
    """Run a local command to its end (argv list, no shell); BuildError when it cannot start or times out."""
    if shutil.which(argv[0]) is None:
        raise BuildError(f"`{argv[0]}` was not found on PATH; {nix_how_to_get()}")
    log.local(argv)
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    limit = timeout if timeout is not None else nix_timeout()
    try:
        out, err = await asyncio.wait_for(proc.communicate(), limit)
    except BaseException as exc:  # a timeout, or the run was cancelled: the process must not outlive it
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        if isinstance(exc, TimeoutError):
            raise BuildError(f"`{' '.join(argv[:2])}` did not finish within {limit:g} s; set LABTUI_NIX_TIMEOUT "
                             "to allow more") from None
        raise
    return ProcResult(proc.returncode if proc.returncode is not None else -1,
                      out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


# ---- 1. evaluate ------------------------------------------------------------------------------------


def eval_argv(flake: str, root: str, paths: Mapping[str, tuple[str, ...]]) -> list[str]:
    """`nix eval` of every target under one top-level attribute, as {key: {drv, out}}."""
    entries = " ".join(f"{nix_string(key)} = [ {' '.join(nix_string(a) for a in path)} ];"
                       for key, path in paths.items())
    apply = ("root: builtins.mapAttrs (key: path: let value = builtins.foldl' (a: name: a.${name}) root path; "
             f"in {{ drv = value.drvPath; out = value.outPath; }}) {{ {entries} }}")
    return ["nix", *NIX_FLAGS, "eval", "--json", "--no-write-lock-file", f"{flake}#{root}", "--apply", apply]


async def evaluate(flake: str, targets: Sequence[BuildTarget], *,
                   log: CommandLog = COMMAND_LOG) -> tuple[dict[str, Evaluated], dict[str, str]]:
    """({key: Evaluated}, {key: why it failed}): one evaluation per top-level attribute; when one fails, each of
    its targets is evaluated on its own so the error names the target (and the others still build)."""
    by_root: dict[str, dict[str, BuildTarget]] = {}
    for target in targets:
        by_root.setdefault(target.attr[0], {})[target.key] = target
    found: dict[str, Evaluated] = {}
    errors: dict[str, str] = {}

    async def one_root(root: str, group: dict[str, BuildTarget], *, alone: bool) -> None:
        result = await run_process(eval_argv(flake, root, {k: t.attr[1:] for k, t in group.items()}), log=log)
        if result.returncode == 0:
            try:
                data = json.loads(result.stdout)
                for key, target in group.items():
                    found[key] = Evaluated(target, str(data[key]["drv"]), str(data[key]["out"]))
                return
            except (ValueError, KeyError, TypeError):
                raise BuildError(f"`nix eval` of {flake}#{root} printed something unexpected") from None
        if alone or len(group) == 1:
            for key in group:
                errors[key] = _eval_error(result.stderr, result.returncode)
            return
        await asyncio.gather(*(one_root(root, {k: t}, alone=True) for k, t in group.items()))

    await asyncio.gather(*(one_root(root, group, alone=False) for root, group in by_root.items()))
    return found, errors


def _eval_error(stderr: str, code: int) -> str:
    """Nix's error in one line: its `error:` line (the message of a `throw`), else its last words."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("error:"):
            return "evaluation failed: " + line[len("error:"):].strip()
    return "evaluation failed: " + (lines[-1] if lines else f"nix eval exited with {code}")


# ---- 2. plan ----------------------------------------------------------------------------------------


def dry_run_argv(drvs: Iterable[str]) -> list[str]:
    return ["nix-store", "--realise", "--dry-run", "--log-format", "internal-json", *drvs]


def parse_plan(output: str) -> Planned:
    """The plan block(s) of a `nix-store --realise --dry-run` log, merged."""
    parser = NixLogParser()
    plans = [e for line in output.splitlines() for e in parser.feed(line) if isinstance(e, Planned)]
    plans += [e for e in parser.finish() if isinstance(e, Planned)]
    return Planned(tuple(d for p in plans for d in p.will_build), tuple(d for p in plans for d in p.will_fetch),
                   tuple(d for p in plans for d in p.unknown),
                   sum(p.download_bytes or 0 for p in plans), sum(p.unpacked_bytes or 0 for p in plans))


async def plan(evaluated: Mapping[str, Evaluated], *, log: CommandLog = COMMAND_LOG) -> dict[str, NodePlan]:
    """Each node's share of the build: one dry run for all first (usually nothing is left to do: done), else a
    dry run per node (a few at a time) to know which node needs what."""
    by_node: dict[str, list[Evaluated]] = {}
    for item in evaluated.values():
        by_node.setdefault(item.target.node, []).append(item)
    if not by_node:
        return {}

    async def dry_run(drvs: Sequence[str], what: str) -> Planned:
        result = await run_process(dry_run_argv(drvs), log=log)
        if result.returncode != 0:
            raise BuildError(f"`nix-store --realise --dry-run` for {what} failed: "
                             f"{stderr_tail(result.stderr + result.stdout, 1) or result.returncode}")
        return parse_plan(result.stdout + "\n" + result.stderr)

    def node_plan(node: str, items: list[Evaluated], planned: Planned | None) -> NodePlan:
        return NodePlan(node, tuple(i.drv for i in items), tuple(i.out for i in items),
                        frozenset(planned.will_build) if planned else frozenset(),
                        frozenset(planned.will_fetch) if planned else frozenset(),
                        (planned.unpacked_bytes or 0) if planned else 0)

    everything = await dry_run([i.drv for items in by_node.values() for i in items], "every node")
    if not everything.will_build and not everything.will_fetch:
        return {node: node_plan(node, items, None) for node, items in by_node.items()}
    limit = asyncio.Semaphore(DRY_RUN_PARALLEL)

    async def one(node: str, items: list[Evaluated]) -> NodePlan:
        async with limit:
            return node_plan(node, items, await dry_run([i.drv for i in items], node))

    plans = await asyncio.gather(*(one(node, items) for node, items in by_node.items()))
    return {p.node: p for p in plans}


# ---- 3. build ---------------------------------------------------------------------------------------


def realise_argv(drvs: Iterable[str]) -> list[str]:
    return ["nix-store", "--realise", "--keep-going", "--log-format", "internal-json", "-v", *dict.fromkeys(drvs)]


async def invalid_paths(paths: Sequence[str], *, log: CommandLog = COMMAND_LOG) -> set[str]:
    """The store paths of `paths` that do not exist (were not built)."""
    if not paths:
        return set()
    result = await run_process(["nix-store", "--check-validity", "--print-invalid", *paths], log=log)
    if result.returncode != 0:
        raise BuildError(f"`nix-store --check-validity` failed: {stderr_tail(result.stderr, 1)}")
    return {line.strip() for line in result.stdout.splitlines() if line.strip()}


@dataclass
class _Build:
    drv: str
    name: str
    started: float
    phase: str = ""
    last_line: str = ""
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))


class BuildTracker:
    """Nix's log events folded into each node's progress (pure: no clock, no I/O; `ts` comes with each event).

    A node's counts are its share of Nix's plan (NodePlan): a derivation several nodes need counts for each.
    Nix 2.8 stops the Build activity of a top-level derivation only when the command ends: such a build is
    taken as finished once the Builds counters say fewer builds run than are open, unless a failure is still
    unexplained (its error message names the derivation, sometimes only at the end).

    Cheap per log line (the common event): counts are kept per node as they change, and a node's
    `build_progress` is only put together when it is due."""

    def __init__(self, plans: Mapping[str, NodePlan], *, progress_every: float = PROGRESS_EVERY) -> None:
        self.plans = dict(plans)
        self.progress_every = progress_every
        self.tops: dict[str, list[str]] = {}  # top-level drv -> its nodes
        for p in plans.values():
            for drv in p.drvs:
                self.tops.setdefault(drv, []).append(p.node)
        self.owners: dict[str, list[str]] = {}  # drv or fetched path -> nodes
        for p in plans.values():
            for key in (*p.will_build, *p.will_fetch):
                self.owners.setdefault(key, []).append(p.node)
        self.open: dict[str, _Build] = {}  # started, not yet finished
        # The tails of builds that finished lately: Nix may say one of them failed only later (`--keep-going`).
        self.recent: OrderedDict[str, deque[str]] = OrderedDict()
        self.finished: set[str] = set()
        self.failed: dict[str, FailedBuild] = {}
        self.fetched: set[str] = set()
        self.copied: dict[str, int] = {}  # path -> bytes so far
        self.counters = BuildsProgress(0, 0, 0, 0)
        # node -> [built, fetched, failed, running changes]: what decides whether progress is due at once
        self._counts: dict[str, list[int]] = {node: [0, 0, 0, 0] for node in plans}
        self._last_sent: dict[str, tuple[float, list[int]]] = {}
        self._dirty: set[str] = set()

    # ---- folding --------------------------------------------------------------------------------------

    def apply(self, event: NixEvent, ts: float) -> list[RunEvent]:
        """Fold one Nix event; the RunEvents it causes now (output lines, due build_progress)."""
        out: list[RunEvent] = []
        match event:
            case BuildLogLine():
                build = self.open.get(event.drv)
                if build is not None:
                    build.last_line = event.line
                    build.tail.append(event.line)
                    self._dirty.update(self.owners.get(event.drv, ()))
                name = build.name if build is not None else drv_name(event.drv)
                out.append(Output(ts=ts, node=None, stage="build", line=f"{name}> {event.line}", source="build"))
            case BuildStarted():
                self.open[event.drv] = _Build(event.drv, drv_name(event.drv), ts)
                self._count(event.drv, 3, 1)
            case BuildPhase():
                if event.drv in self.open:
                    self.open[event.drv].phase = event.phase
                    self._count(event.drv, 3, 1)
            case BuildStopped():
                self._finish(event.drv)
            case BuildFailed():
                self._fail(event.drv, event.reason)
            case DependencyFailed():
                self._fail(event.drv, "a dependency failed to build")
            case SubstituteStopped():
                if event.path not in self.fetched:
                    self.fetched.add(event.path)
                    self._count(event.path, 1, 1)
            case CopyProgress():
                self.copied[event.path] = event.done
                self._dirty.update(self.owners.get(event.path, ()))
            case BuildsProgress():
                self.counters = event
                self._settle_tops()
            case NixMessage() if event.level <= 1:  # errors and warnings: worth a line in the run's output
                out.append(Output(ts=ts, node=None, stage="build", line=event.text, source="build"))
            case _:
                pass
        if self._dirty:
            out += self.due(ts)
        return out

    def _count(self, key: str, which: int, delta: int) -> None:
        for node in self.owners.get(key, ()):
            self._counts[node][which] += delta
            self._dirty.add(node)

    def _finish(self, drv: str) -> None:
        build = self.open.pop(drv, None)
        if build is not None:
            self._count(drv, 3, 1)
            if build.tail:
                self.recent[drv] = build.tail
                while len(self.recent) > RECENT_TAILS:
                    self.recent.popitem(last=False)
        if drv not in self.failed and drv not in self.finished and (build is not None or drv in self.owners):
            self.finished.add(drv)
            self._count(drv, 0, 1)

    def _fail(self, drv: str, reason: str) -> None:
        build = self.open.pop(drv, None)
        if build is not None:
            self._count(drv, 3, 1)
        tail = build.tail if build is not None else self.recent.pop(drv, deque())
        if drv in self.finished:
            self.finished.discard(drv)
            self._count(drv, 0, -1)
        if drv not in self.failed:
            for node in {*self.owners.get(drv, ()), *self.tops.get(drv, ())}:
                self._counts[node][2] += 1
                self._dirty.add(node)
        self.failed[drv] = FailedBuild(drv=drv, name=drv_name(drv), reason=reason, tail=list(tail))

    def _settle_tops(self) -> None:
        """Top-level builds Nix finished but will stop only at the end: fewer run than are open."""
        unexplained = self.counters.failed - sum(1 for f in self.failed.values() if "dependency" not in f.reason)
        if unexplained > 0:
            return
        ended = len(self.open) - self.counters.running
        if ended <= 0:
            return
        others = sum(1 for d in self.open if d not in self.tops)
        for drv in [d for d in self.open if d in self.tops][: max(0, ended - others)]:
            self._finish(drv)

    # ---- what a node sees -----------------------------------------------------------------------------

    def progress(self, node: str, ts: float, *, done: bool = False) -> BuildProgress:
        p = self.plans[node]
        running = [RunningBuild(drv=b.drv, name=b.name, phase=b.phase, last_line=b.last_line, started=b.started)
                   for d, b in self.open.items() if d in p.will_build]
        failed = [f for d, f in self.failed.items() if d in p.will_build or d in p.drvs]
        fetched_bytes = sum(self.copied.get(path, 0) for path in p.will_fetch)
        return BuildProgress(ts=ts, node=node, built=len(p.will_build & self.finished), to_build=len(p.will_build),
                             fetched=len(p.will_fetch & self.fetched), to_fetch=len(p.will_fetch),
                             bytes_fetched=fetched_bytes, bytes_to_fetch=p.bytes_to_fetch, running=running,
                             failed=failed, done=done)

    def due(self, ts: float) -> list[RunEvent]:
        """build_progress of the nodes that changed: at once when a count changed, else every PROGRESS_EVERY."""
        ready = []
        for node in self._dirty:
            counts = self._counts[node]
            last = self._last_sent.get(node)
            if last is None or last[1] != counts or ts - last[0] >= self.progress_every:
                ready.append(node)  # else only a log line or some bytes changed: wait
        out: list[RunEvent] = []
        for node in sorted(ready):
            self._last_sent[node] = (ts, list(self._counts[node]))
            self._dirty.discard(node)
            out.append(self.progress(node, ts))
        return out

    def end(self, ts: float, exit_code: int | None) -> list[RunEvent]:
        """Nix exited: every node's final progress. On success every build of the plan is done."""
        if exit_code == 0:
            for drv in list(self.open):
                self._finish(drv)
            self.finished |= {d for p in self.plans.values() for d in p.will_build}
            self.fetched |= {d for p in self.plans.values() for d in p.will_fetch}
        else:
            self.open.clear()  # what still looked open did not finish well (or was abandoned)
        self._dirty.clear()
        return [self.progress(node, ts, done=True) for node in self.plans]


class BuildParser:
    """The OutputParser of the build process: its log lines → build_progress per node and builder lines.

    Its verdict per node is only provisional (`failed_nodes`): the orchestrator checks which outputs exist."""

    awaiting_answer = False
    follow_after_exit = None  # nothing of the build outlives it

    def __init__(self, plans: Mapping[str, NodePlan], *, progress_every: float = PROGRESS_EVERY) -> None:
        self.nix = NixLogParser()
        self.tracker = BuildTracker(plans, progress_every=progress_every)
        self.errors: list[str] = []  # Nix's error messages, for a failure nothing else explains

    @property
    def results(self) -> dict[tuple[str, str | None], NodeResult]:
        return {}

    def mark_answered(self) -> None:
        pass

    def feed(self, line: str, ts: float) -> list[RunEvent]:
        out: list[RunEvent] = []
        for event in self.nix.feed(line):
            if isinstance(event, NixMessage) and event.level == 0:
                self.errors.append(event.text)
            out += self.tracker.apply(event, ts)
        return out

    def finish(self, exit_code: int | None, ts: float, *, cancelled: bool = False) -> list[RunEvent]:
        out: list[RunEvent] = []
        for event in self.nix.finish():
            out += self.tracker.apply(event, ts)
        return out + self.tracker.end(ts, None if cancelled else exit_code)

    def failure_of(self, node: str) -> str:
        """Why `node`'s build failed, in one line: the derivation, Nix's reason, the builder's last line."""
        plan = self.tracker.plans[node]
        own = [f for d, f in self.tracker.failed.items() if d in plan.will_build or d in plan.drvs]
        first = next((f for f in own if "dependency" not in f.reason), own[0] if own else None)
        if first is None:
            error = self.errors[-1].splitlines()[0] if self.errors else "Nix did not say why"
            return f"build failed: {error.removeprefix('error:').strip()}"
        last = next((line for line in reversed(first.tail) if line.strip()), "")
        return f"build of {first.name} failed ({first.reason})" + (f": {last.strip()}" if last else "")

    def tail_of(self, node: str) -> list[str]:
        plan = self.tracker.plans[node]
        own = [f for d, f in self.tracker.failed.items() if d in plan.will_build and "dependency" not in f.reason]
        return own[0].tail if own else []



@dataclass
class BuildOutcome:
    """What a build produced: each node's built outputs, and why the others did not build."""

    evaluated: dict[str, Evaluated] = field(default_factory=dict)  # target key -> derivation and output
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)  # node -> (stage: eval | build, one line)
    problem: str = ""  # Nix could not be asked at all (the caller decides what that means)

    def outs(self, node: str) -> list[str]:
        return [e.out for e in self.evaluated.values() if e.target.node == node]


async def run_build(flake: str, targets: Sequence[BuildTarget], emit: Callable[[RunEvent], None], *,
                    env: dict[str, str] | None = None, timings: RunnerTimings | None = None,
                    on_runner: Callable[[CommandRunner | None], None] | None = None,
                    log: CommandLog = COMMAND_LOG) -> BuildOutcome:
    """Evaluate, plan and build `targets` (see the module docstring), handing every event to `emit` as it comes:
    `stage` build per node, `build_progress`, builder lines. `on_runner` gets the build process while it runs
    (to cancel it) and None after. Never raises for Nix's own failures: see BuildOutcome."""
    outcome = BuildOutcome()
    if not targets:
        return outcome
    for node in dict.fromkeys(t.node for t in targets):
        emit(StageChanged(ts=time.time(), node=node, profile=None, stage="build"))
    try:
        evaluated, errors = await evaluate(flake, targets, log=log)
        outcome.evaluated = evaluated
        for key, error in errors.items():
            outcome.failed.setdefault(next(t.node for t in targets if t.key == key), ("eval", error))
        plans = await plan({k: e for k, e in evaluated.items() if e.target.node not in outcome.failed}, log=log)
        todo = {node: p for node, p in plans.items() if not p.nothing_to_do}
        for p in plans.values():
            if p.nothing_to_do:
                emit(BuildProgress(ts=time.time(), node=p.node, built=0, to_build=0, done=True))
        if not todo:
            return outcome
        parser = BuildParser(todo)
        runner = CommandRunner(realise_argv(d for p in todo.values() for d in p.drvs), parser, env=env,
                               timings=replace(timings or RunnerTimings(), stall_after=None), command_log=log)
        if on_runner is not None:
            on_runner(runner)
        try:
            async for event in runner.events():
                if not isinstance(event, (NodeResult, RunResult)):
                    emit(event)
        finally:
            if on_runner is not None:
                on_runner(None)
        if runner.cancelled:
            outcome.problem = "cancelled"
            return outcome
        invalid = await invalid_paths([o for p in todo.values() for o in p.outs], log=log)
        for node, p in todo.items():
            if invalid & set(p.outs):
                outcome.failed[node] = ("build", parser.failure_of(node))
    except BuildError as exc:
        outcome.problem = str(exc)
    return outcome


def summary(progress: BuildProgress) -> str:
    """One line for people: `built 3/12, fetched 2/5 (12 of 48 MiB), building nginx-1.27.0 (buildPhase)`."""
    if progress.failed:
        first = next((f for f in progress.failed if "dependency" not in f.reason), progress.failed[0])
        return f"build of {first.name} failed ({first.reason})"
    if progress.to_build == 0 and progress.to_fetch == 0:
        return "nothing to build: already in the store"
    parts = []
    if progress.to_build:
        parts.append(f"built {progress.built}/{progress.to_build}")
    if progress.to_fetch:
        size = (f" ({human_size(progress.bytes_fetched)} of {human_size(progress.bytes_to_fetch)})"
                if progress.bytes_to_fetch else "")
        parts.append(f"fetched {progress.fetched}/{progress.to_fetch}{size}")
    if progress.running and not progress.done:
        names = ", ".join(b.name + (f" ({b.phase})" if b.phase else "") for b in progress.running[:2])
        more = f" +{len(progress.running) - 2}" if len(progress.running) > 2 else ""
        parts.append(f"building {names}{more}")
    return ", ".join(parts)
