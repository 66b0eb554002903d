"""One deploy run over several nodes: which processes to start, how many at once, one merged event stream.

Each target's method (the request's, else the host's own) comes from the registry
(labtui.deploy.methods.METHODS); the method plans its processes (`Job`s) and names their parsers, and
this module runs them the same way whatever the method: at most `parallel` processes at once, each node
with its own outcome. deploy-rs plans one process per node, or ONE atomic process over all its targets;
nixos-rebuild one per host.

`DeployRun.events()` yields `run_started` first, then every node's events as they happen (events the
parser could not attribute get the node of their process), each node's final `node_result`, and
`run_result` last: `succeeded` only when every node succeeded or was dry-activated.

With `request.prebuild`, labtui first builds every target itself (labtui.deploy.build: one evaluation, one
`nix-store --realise` for all nodes, `build_progress` per node); a node whose profile does not evaluate or
build ends `not_deployed` at `eval`/`build` with the failed derivation and its last log line, the others go
on to deploy-rs / nixos-rebuild, which find their profiles built.

The post-node hook (`post_node`): after a node's deploy-rs/nixos-rebuild result says `succeeded`, the
run calls `post_node(node, result)` and forwards every event the async iterator yields. If the hook
yields a `NodeResult` for that node, it REPLACES the provisional one as the node's final outcome (a health
gate that rolled the node back yields `NodeResult(outcome="rolled_back", stage="health", ...)`). The
provisional result is held back until the hook finishes, so consumers only see the final one. A hook that
raises makes the node `failed` (stage "health") with the error as message. Hooks run outside the
parallel slots: a slow health gate does not delay the next node's deploy.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

from labtui.deploy.methods import METHODS, Job, profiles_of
from labtui.deploy.probe import EARLY_STAGES, Probe, judge, probe_node
from labtui.deploy.request import DeployRequest
from labtui.deploy.runner import CommandRunner, RunnerTimings, with_node
from labtui.errors import UserError
from labtui.inventory.model import Inventory
from labtui.runs.events import (
    GOOD_OUTCOMES,
    NodeResult,
    NodeState,
    Output,
    PasswordPrompt,
    PromptAnswered,
    RunEvent,
    RunOutcome,
    RunResult,
    RunStarted,
    StageChanged,
    SystemState,
    WaveResult,
    WaveStarted,
)
from labtui.runs.files import new_run_id
from labtui.runs.locks import HostLocks
from labtui.runs.remote_locks import RemoteHostLocks

DEFAULT_PARALLEL = 4
# A node where an activation still runs after the run (a target rolling back by itself) is asked again this often,
# for at most its confirm timeout plus SETTLE_MARGIN seconds, before its after-probe counts.
SETTLE_POLL = 2.0
SETTLE_MARGIN = 60.0

PostNodeHook = Callable[[str, NodeResult], AsyncIterator[RunEvent]]
# Rolls a node of a failed wave back (node, why) -> its events, ending with its NodeResult (health gate `rollback`).
WaveRollback = Callable[[str, str], AsyncIterator[RunEvent]]


def default_parallel(inventory: Inventory) -> int:
    """labtui.toml `[deploy] parallel` (Inventory.deploy), else 4."""
    configured = inventory.deploy.parallel
    return configured if configured is not None and configured >= 1 else DEFAULT_PARALLEL


class DeployRun:
    """A deploy of several nodes, as one stream of events. Create it, then iterate `events()` once."""

    def __init__(self, request: DeployRequest, inventory: Inventory, *, run_id: str | None = None,
                 ask_password: Callable[[str | None, str], Awaitable[str | None]] | None = None,
                 post_node: PostNodeHook | None = None, timings: RunnerTimings | None = None,
                 on_raw: Callable[[str, str], None] | None = None, locking: bool = True,
                 env: dict[str, str] | None = None, probe: Probe | None = None,
                 wave_rollback: WaveRollback | None = None, remote_locks: RemoteHostLocks | None = None) -> None:
        if request.waves and request.atomic:
            raise UserError("--waves and --atomic do not go together: an atomic run deploys every host in one "
                            "deploy-rs process; drop one of them")
        self.request = request
        self.wave_rollback = wave_rollback
        self.inventory = inventory
        self.run_id = run_id or new_run_id()
        self.post_node = post_node
        self.probe = probe
        self._activating: set[str] = set()  # nodes whose activation began (a later "before" probe is void)
        self._before: dict[str, SystemState | None] = {}  # each node's state before the deploy (None: unknown)
        self._planned: dict[str, str] = {}  # the store path each node's system profile was to get (deploy-rs's plan)
        self._after_done = False
        self._ask_password = ask_password
        self._timings = timings or RunnerTimings(stall_after=request.stall_after)
        self._on_raw = on_raw
        self._env = env
        self._locks = HostLocks(request.nodes(), self.run_id) if locking else None
        self._remote_locks = remote_locks  # the locks on the hosts themselves, where every operator meets
        self._cancelled = False
        self._cancelled_nodes: set[str] = set()  # cancelled one by one (the rest of the run goes on)
        self._declined = ""  # why a process ended `cancelled` by itself (deploy-rs's plan question answered no)
        self._queue: asyncio.Queue[RunEvent | None] = asyncio.Queue()
        self._password_waiters: dict[str, asyncio.Future[str | None]] = {}
        self._started = False
        self._check_gate: asyncio.Future[str | None]  # None: the first process's flake check passed
        self._gating: dict[tuple[str, str | None], bool] = {}  # results held by the post-node hook: superseded?
        self.hosts = {node: inventory.get(node) for node in request.nodes()}
        self.jobs = self._plan(request.targets)
        self._runners: dict[Job, CommandRunner] = {}  # the started processes
        # Interactive jobs start at once and ask their question up front; each takes its slot (of `parallel`) when
        # its "yes" goes in, so at most `parallel` of them build and activate at a time.
        self._slots: asyncio.Semaphore | None = None
        self._answering: dict[Job, asyncio.Task[None]] = {}  # "yes" waiting for a slot, then written
        self._holding: set[Job] = set()  # interactive jobs that took their slot
        self._build_runner: CommandRunner | None = None  # labtui's own build (prebuild), while it runs
        self._outcomes: dict[str, str] = {}  # node -> its latest final outcome (a wave goes on when all are good)

    # ---- planning ----------------------------------------------------------------------------------

    @property
    def timings(self) -> RunnerTimings:
        return self._timings

    @property
    def argvs(self) -> list[list[str]]:
        return [job.argv for job in self.jobs]

    @property
    def flake(self) -> str:
        """The flake reference given to deploy-rs / nixos-rebuild.

        A local flake named by a plain path (`.`, `lab`, `~/lab`) is passed as its absolute directory:
        nix does not take `lab` as a path, and the supervisor must not depend on the face's directory.
        """
        if self.request.flake:
            return self.request.flake
        inventory = self.inventory
        if inventory.flake_dir and not re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", inventory.flake):
            return inventory.flake_dir
        return inventory.flake

    def _plan(self, targets: list[tuple[str, str | None]]) -> list[Job]:
        r = self.request
        if not targets:
            raise UserError("nothing to deploy: name at least one host (HOST, HOST.PROFILE, a glob or @tag)")
        by_method: dict[str, list[tuple[str, str | None]]] = {}
        for node, profile in targets:
            host = self.hosts[node]
            profiles_of(host, profile)  # validates the profile name
            method = METHODS.get(r.method or host.method)
            method.validate(host)
            by_method.setdefault(method.name, []).append((node, profile))
        jobs: list[Job] = []
        for method in METHODS:  # in registration order
            mine = by_method.get(method.name)
            if mine is None:
                continue
            if r.action not in method.actions:
                others = [m.name for m in METHODS if r.action in m.actions]
                raise UserError(f"{method.name} has no `{r.action}` action; use --method {' or '.join(others)} "
                                f"for `{r.action}`")
            if r.atomic and not method.supports_atomic:
                able = [m.name for m in METHODS if m.supports_atomic]
                raise UserError(f"--atomic needs {' or '.join(able)} (it revokes succeeded nodes); drop --atomic or "
                                f"use --method {able[0]}")
            jobs += method.plan(replace(r, targets=mine, flake=self.flake), self.hosts)
        return jobs

    def node_for_hostname(self, hostname: str) -> str | None:
        for node, host in self.hosts.items():
            if hostname in (host.hostname, node):
                return node
        return None

    # ---- control -----------------------------------------------------------------------------------

    def acquire_locks(self) -> None:
        """Take the per-host locks now (HostLocked names the holder); `events()` does it otherwise."""
        if self._locks is not None and not self._locks.held:
            self._locks.acquire()

    def release_locks(self) -> None:
        if self._remote_locks is not None:
            self._remote_locks.release()
        if self._locks is not None:
            self._locks.release()

    async def prepare(self) -> None:
        """What the run takes before it starts (labtui.runs.supervisor.SupervisedRun): the host locks, this
        machine's, then the hosts' own (HostLocked names the holder; what was taken is given back)."""
        self.acquire_locks()
        remote = self._remote_locks
        if remote is not None and not remote.held and not remote.notices:
            try:
                await remote.acquire()
            except BaseException:
                self.release_locks()
                raise

    async def release(self) -> None:
        """Give back what `prepare` took, for a run that never starts."""
        self.release_locks()

    @property
    def pending_prompts(self) -> list[str]:
        """Jobs (node names, or "atomic") whose deploy-rs waits for a yes/no."""
        return [j.name for j, runner in self._runners.items()
                if runner.parser.awaiting_answer and runner.exit_code is None and j not in self._answering]

    @property
    def pending_passwords(self) -> list[str]:
        return [h for h, f in self._password_waiters.items() if not f.done()]

    def answer_prompt(self, yes: bool, node: str | None = None) -> None:
        """Answer deploy-rs's "Are you sure?" for `node`'s process (or every waiting one)."""
        for job, runner in self._runners.items():
            if not runner.parser.awaiting_answer:
                continue
            if node is not None and node != job.name and node not in job.nodes:
                continue
            if job in self._answering:
                continue  # answered already; its "yes" waits for a slot
            if yes and self._asks_first(job) and job not in self._holding:
                self._answering[job] = asyncio.ensure_future(self._answer_in_turn(job, runner))
            else:
                runner.answer("yes" if yes else "no")
            self._put(PromptAnswered(ts=time.time(), node=None if job.name == "atomic" else job.name,
                                                  yes=yes))

    def send_password(self, hostname: str, password: str | None) -> None:
        """The sudo password for `hostname` (None: cancel). Kept only until written to deploy-rs's terminal."""
        waiter = self._password_waiters.get(hostname)
        if waiter is not None and not waiter.done():
            waiter.set_result(password)

    async def cancel(self, node: str | None = None) -> None:
        """Stop the run: running processes get SIGINT/SIGTERM/SIGKILL, waiting ones never start. With `node`, only
        that node's process (or, when it is still waiting for a slot, it never starts); a node that shares its
        process with others (an atomic run) cannot be stopped alone: the run is."""
        if node is not None:
            jobs = [j for j in self.jobs if node in j.nodes]
            if jobs and all(len(j.nodes) == 1 for j in jobs):
                self._cancelled_nodes.add(node)
                gate = getattr(self, "_check_gate", None)
                if gate is not None and any(self._checks_for_others(j) for j in jobs):
                    # The other nodes wait for this process's flake check: stop it once the check is done.
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.shield(gate)
                runners = [r for j, r in list(self._runners.items()) if j in jobs]
                await asyncio.gather(*(runner.cancel() for runner in runners))
                return
        self._cancelled = True
        for waiter in self._password_waiters.values():
            if not waiter.done():
                waiter.set_result(None)
        runners = [*self._runners.values(), *([self._build_runner] if self._build_runner else [])]
        await asyncio.gather(*(runner.cancel() for runner in runners))

    # ---- running -----------------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[RunEvent]:
        if self._started:
            raise RuntimeError("DeployRun.events() can be iterated only once")
        self._started = True
        await self.prepare()
        try:
            nodes = self.request.nodes()
            methods = sorted({j.method for j in self.jobs})
            yield RunStarted(ts=time.time(), run_id=self.run_id, method=",".join(methods), nodes=nodes,
                             argv=self.jobs[0].argv if len(self.jobs) == 1 else [], argvs=self.argvs,
                             waves=[list(w) for w in self.request.waves])
            for host, notice in sorted((self._remote_locks.notices if self._remote_locks else {}).items()):
                yield Output(ts=time.time(), node=host, stage=None, source="raw",
                             line=f"labtui: {notice}; the run goes on with this machine's lock only")
            finals: dict[tuple[str, str | None], NodeResult] = {}
            worker = asyncio.ensure_future(self._run_jobs())
            try:
                while True:
                    event = await self._queue.get()
                    if event is None:
                        break
                    if isinstance(event, NodeResult):
                        finals[(event.node, event.profile)] = event
                    yield event
                await worker
                async for event in self._after_probes(finals):
                    if isinstance(event, NodeResult):
                        finals[(event.node, event.profile)] = event
                    yield event
            finally:
                if not worker.done():
                    await self.cancel()
                    worker.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await worker
            # A node its process never reported on (it should not happen): say so instead of guessing.
            reported = {node for node, _ in finals}
            for node in nodes:
                if node not in reported:
                    cancelled = self._cancelled or node in self._cancelled_nodes
                    result = NodeResult(ts=time.time(), node=node, profile=None,
                                        outcome="cancelled" if cancelled else "not_deployed", stage=None,
                                        message="cancelled before it started" if cancelled
                                        else "no result from the deploy process")
                    finals[(node, None)] = result
                    yield result
            ok = all(r.outcome in GOOD_OUTCOMES for r in finals.values())
            # Cancelled, the run or every node that did not succeed: the operator stopped it, nothing failed.
            bad_outcomes = {r.outcome for r in finals.values() if r.outcome not in GOOD_OUTCOMES}
            cancelled = self._cancelled or (bool(bad_outcomes) and bad_outcomes <= {"cancelled"})
            outcome: RunOutcome = "cancelled" if cancelled else ("succeeded" if ok else "failed")
            bad = [f"{r.node}{'.' + r.profile if r.profile else ''} {r.outcome}"
                   for r in finals.values() if r.outcome not in GOOD_OUTCOMES]
            message = ", ".join(bad)
            for host in self._remote_locks.lost() if self._remote_locks else []:
                yield Output(ts=time.time(), node=host, stage=None, source="raw",
                             line="labtui: the deploy lock on the host went away during the run (its SSH connection "
                                  "dropped, so the host released it)")
            # Declining the plan is no interruption: deploy-rs's own status 1 (130 is for Ctrl-C, `x`, `c`).
            interrupted = self._cancelled or bool(self._cancelled_nodes)
            if cancelled:
                why = "cancelled by the operator" if interrupted or not self._declined else self._declined
                message = why + (f": {message}" if message else "")
            yield RunResult(ts=time.time(), outcome=outcome, message=message,
                            exit_code=0 if outcome == "succeeded" else (130 if cancelled and interrupted else 1))
        finally:
            self.release_locks()

    async def _probe_before(self, node: str) -> None:
        assert self.probe is not None
        event, state = await probe_node(self.probe, node, "before")
        if node in self._activating:
            event, state = replace(event, path=None, generation=None, profile_generation=None, profile_path=None,
                                   error="the probe answered after activation began"), None
        self._before[node] = state
        self._put(event)

    async def probe_after(self) -> list[NodeState]:
        """Every node's running system now, for a run whose `events()` did not ask already (they do, before the
        result); [] without a probe. Never raises."""
        if self.probe is None or self._after_done:
            return []
        return [event for event, _ in await asyncio.gather(*(probe_node(self.probe, node, "after")
                                                            for node in self.request.nodes()))]

    async def _after_probes(self, finals: dict[tuple[str, str | None], NodeResult]) -> AsyncIterator[RunEvent]:
        """Ask every node something was activated on what it runs now, once no activation runs there any more
        (bounded); where the host contradicts the tool's report, a new result says so (labtui.deploy.probe)."""
        if self.probe is None or self._cancelled:
            return
        self._after_done = True
        nodes = [n for n in self.request.nodes() if any(r.node == n and r.outcome not in ("not_deployed", "cancelled")
                                                         and r.stage not in EARLY_STAGES for r in finals.values())]
        if not nodes:
            return
        out: asyncio.Queue[RunEvent | None] = asyncio.Queue()

        async def one(node: str) -> None:
            try:
                await self._probe_after_node(node, finals, out)
            finally:
                out.put_nowait(None)

        tasks = [asyncio.ensure_future(one(node)) for node in nodes]
        try:
            done = 0
            while done < len(tasks):
                event = await out.get()
                if event is None:
                    done += 1
                else:
                    yield event
        finally:
            for task in tasks:
                task.cancel()

    async def _probe_after_node(self, node: str, finals: dict[tuple[str, str | None], NodeResult],
                                out: asyncio.Queue[RunEvent | None]) -> None:
        assert self.probe is not None
        event, state = await probe_node(self.probe, node, "after")
        if state is not None and state.activating:
            bound = self._settle_bound(node)
            out.put_nowait(Output(ts=time.time(), node=node, stage=None, source="labtui",
                                  line=f"labtui: an activation still runs on {node} (the target finishing or rolling "
                                       f"back by itself); asking it again until it is done (at most {bound:.0f} s)"))
            deadline = time.monotonic() + bound
            while state is not None and state.activating and time.monotonic() < deadline:
                await asyncio.sleep(SETTLE_POLL)  # a remote host: nothing to wait on but asking again
                event, state = await probe_node(self.probe, node, "after")
        out.put_nowait(event)
        for key, result in list(finals.items()):
            if key[0] != node:
                continue
            verdict = judge(result, self._before.get(node), state, self.request.action.value,
                            self._planned.get(node))
            if verdict is not None:
                out.put_nowait(verdict)

    def _settle_bound(self, node: str) -> float:
        host = self.hosts[node]
        confirm = max((p.confirm_timeout for p in host.profiles), default=30)
        if self.request.options.confirm_timeout is not None:
            confirm = self.request.options.confirm_timeout
        return float(confirm) + SETTLE_MARGIN

    def _asks_first(self, job: Job) -> bool:
        """The job's process asks the operator before it builds (deploy-rs --interactive): it starts without a slot."""
        return self.request.interactive and METHODS.get(job.method).supports_interactive

    async def _answer_in_turn(self, job: Job, runner: CommandRunner) -> None:
        assert self._slots is not None
        await self._slots.acquire()
        self._holding.add(job)
        self._answering.pop(job, None)
        runner.answer("yes")

    async def _run_jobs(self) -> None:
        slots = self._slots = asyncio.Semaphore(max(1, self.request.parallel or default_parallel(self.inventory)))
        hooks: list[asyncio.Task[None]] = []
        probes = [asyncio.ensure_future(self._probe_before(n)) for n in self.request.nodes()] if self.probe else []
        self._check_gate = asyncio.get_running_loop().create_future()

        async def run_job(job: Job) -> None:
            if not self._asks_first(job):
                async with slots:
                    await run_one(job)
                return
            try:
                await run_one(job)
            finally:  # its slot, if its "yes" took one; a "yes" still waiting for one is void now
                waiting = self._answering.pop(job, None)
                if waiting is not None:
                    waiting.cancel()
                if job in self._holding:
                    self._holding.discard(job)
                    slots.release()

        async def run_one(job: Job) -> None:
            if job.after_check:
                failure = await self._check_gate
                if failure is not None and not self._cancelled:
                    for node in job.nodes:
                        self._put(NodeResult(
                            ts=time.time(), node=node, profile=None, outcome="not_deployed", stage="check",
                            message=failure))
                    return
            if self._cancelled:
                return
            skipped = [n for n in job.nodes if n in self._cancelled_nodes]
            if skipped:  # cancelled while it waited for a slot
                for node in skipped:
                    self._put(NodeResult(ts=time.time(), node=node, profile=None, outcome="cancelled",
                                                      stage=None, message="cancelled before it started"))
                return
            try:
                await self._run_one(job, hooks)
                if self._checks_for_others(job) and not self._check_gate.done():
                    self._check_gate.set_result(f"{job.name}'s deploy ended before its flake check passed")
            except Exception as exc:  # e.g. the program vanished: the node fails, the run goes on
                if self._checks_for_others(job) and not self._check_gate.done():
                    self._check_gate.set_result(f"could not run the flake check: {exc}")
                now = time.time()
                self._put(Output(ts=now, node=job.nodes[0] if len(job.nodes) == 1 else None,
                                              stage=None, line=f"labtui: could not run {job.argv[0]}: {exc}",
                                              source="raw"))
                for node in job.nodes:
                    self._put(NodeResult(ts=now, node=node, profile=None, outcome="not_deployed",
                                                      stage=None, message=f"could not run {job.argv[0]}: {exc}"))

        try:
            if self.request.prebuild and not self._cancelled:
                unbuilt = await self._prebuild()
                left = [t for t in self.request.targets if t[0] not in unbuilt]
                if unbuilt and self.request.atomic:  # an atomic run deploys all of them or none
                    for node in dict.fromkeys(n for n, _ in left):
                        self._put(NodeResult(
                            ts=time.time(), node=node, profile=None, outcome="not_deployed", stage="build",
                            message=f"not deployed: the atomic run needs every host built ({', '.join(unbuilt)} not)"))
                    left = []
                self.jobs = self._plan(left) if unbuilt and left else ([] if unbuilt else self.jobs)
            if self._cancelled:
                return
            if not self.request.waves:
                await asyncio.gather(*(run_job(job) for job in self.jobs))
                # Hooks may start more hooks' worth of events; wait for all of them.
                while hooks:
                    await hooks.pop(0)
                return
            for number, wave in enumerate(self.request.waves, 1):
                if self.cancelled:  # (a property: mypy would take the check above for this one)
                    return
                self._put(WaveStarted(ts=time.time(), wave=number, waves=len(self.request.waves), nodes=list(wave)))
                await asyncio.gather(*(run_job(job) for job in self.jobs if set(job.nodes) & set(wave)))
                while hooks:  # the wave's health gate
                    await hooks.pop(0)
                if not await self._wave_passed(number, wave):
                    return
        finally:
            for task in probes:  # a probe still waiting for its host does not hold up the result
                task.cancel()
            self._queue.put_nowait(None)  # the end

    async def _run_one(self, job: Job, hooks: list[asyncio.Task[None]]) -> None:
        single = job.name if job.name != "atomic" else None
        on_raw = self._on_raw
        runner = CommandRunner(
            job.argv, METHODS.get(job.method).parser(job, self.request), env=self._env, extra_env=job.extra_env,
            use_pty=job.use_pty, ask_password=self._password,
            on_raw=(lambda text: on_raw(job.name, text)) if on_raw is not None else None, timings=self._timings)
        self._runners[job] = runner
        checker = self._check_gate if self._checks_for_others(job) else None
        async for event in runner.events():
            if isinstance(event, RunResult):
                # deploy-rs's plan names the store path each profile gets (the after-probe compares with it)
                for entry in getattr(runner.parser, "plan", None) or []:
                    if entry.profile == "system" and entry.path:
                        self._planned[entry.node] = entry.path
            if single is not None:
                event = with_node(event, single)
            if checker is not None and not checker.done():
                if isinstance(event, StageChanged) and event.stage != "check":
                    checker.set_result(None)  # the flake check passed (deploy-rs went on to eval)
                elif isinstance(event, NodeResult):
                    checker.set_result(f"the flake check failed (in {job.name}'s deploy): {event.message}"
                                       if event.stage == "check" else
                                       f"{job.name}'s deploy ended before its flake check passed")
            if isinstance(event, StageChanged) and event.node and event.stage in ("activate", "confirm"):
                self._activating.add(event.node)
            if isinstance(event, RunResult):
                if event.outcome == "cancelled" and not self._cancelled and not self._declined:
                    self._declined = event.message
                continue  # the run's outcome is decided over all jobs
            if isinstance(event, NodeResult) and event.outcome == "not_deployed" and (
                    self._cancelled or event.node in self._cancelled_nodes):
                event = replace(event, outcome="cancelled")  # stopped by the operator before it was activated
            if isinstance(event, NodeResult):
                key = (event.node, event.profile)
                if key in self._gating:
                    self._gating[key] = True  # a later result (deploy-rs revoked it) beats the gate's
                if event.outcome == "succeeded" and self.post_node is not None:
                    self._gating[key] = False
                    hooks.append(asyncio.ensure_future(self._gate(event)))
                    continue
            self._put(event)

    async def _prebuild(self) -> list[str]:
        """Build every target with labtui's own build (see the module docstring); the nodes that did not build
        (their node_result is sent). When Nix cannot even be asked, the deploy tools build as they always do."""
        from labtui.deploy import build

        targets = [t for node, profile in self.request.targets
                   for t in METHODS.get(self.request.method or self.hosts[node].method).build_targets(
                       self.hosts[node], profile, self.request)]

        def emit(event: RunEvent) -> None:
            if isinstance(event, Output) and self._on_raw is not None:
                self._on_raw("build", event.line + "\n")
            self._put(event)

        def on_runner(runner: CommandRunner | None) -> None:
            self._build_runner = runner

        outcome = await build.run_build(self.flake, targets, emit, env=self._env, timings=self._timings,
                                        on_runner=on_runner)
        if outcome.problem and outcome.problem != "cancelled":
            tools = ", ".join(sorted({j.method for j in self.jobs}))
            emit(Output(ts=time.time(), node=None, stage="build", source="raw",
                        line=f"labtui: could not build ahead ({outcome.problem}); {tools} builds as usual"))
        for node, (stage, message) in outcome.failed.items():
            self._put(NodeResult(ts=time.time(), node=node, profile=None, outcome="not_deployed",
                                              stage=stage, message=message))
        return list(outcome.failed)

    @property
    def cancelled(self) -> bool:
        """The operator cancelled the whole run."""
        return self._cancelled

    async def _wave_passed(self, number: int, wave: list[str]) -> bool:
        """After a wave: go on when each of its nodes ended well; else stop the run here (and roll the wave back
        when the run has a wave rollback)."""
        bad = {node: self._outcomes.get(node) for node in wave if self._outcomes.get(node) not in GOOD_OUTCOMES}
        if not bad:
            self._put(WaveResult(ts=time.time(), wave=number, ok=True))
            return True
        if self._cancelled:
            return False
        reason = f"wave {number} failed: " + ", ".join(
            f"{node} {(outcome or 'no result').replace('_', ' ')}" for node, outcome in bad.items())
        rolled: list[str] = []
        if self.wave_rollback is not None:
            for node in [n for n in wave if self._outcomes.get(n) == "succeeded"]:
                try:
                    async for event in self.wave_rollback(node, reason):
                        self._put(event)
                except Exception as exc:  # a broken rollback: say so on the node, keep going with the others
                    self._put(NodeResult(ts=time.time(), node=node, profile=None, outcome="failed", stage="health",
                                         message=f"{reason}; its rollback failed: {exc}"))
                if self._outcomes.get(node) == "rolled_back":
                    rolled.append(node)
        self._put(WaveResult(ts=time.time(), wave=number, ok=False, message=reason, rolled_back=rolled))
        later = [node for w in self.request.waves[number:] for node in w]
        for node in later:
            self._put(NodeResult(ts=time.time(), node=node, profile=None, outcome="not_deployed", stage=None,
                                 message=f"not deployed: {reason}"))
        return False

    def _put(self, event: RunEvent) -> None:
        if isinstance(event, NodeResult):
            self._outcomes[event.node] = event.outcome
        self._queue.put_nowait(event)

    def _checks_for_others(self, job: Job) -> bool:
        """Whether `job` runs the flake check that its method's `after_check` jobs wait for (its first job)."""
        same = [j for j in self.jobs if j.method == job.method]
        return job is same[0] and not job.after_check and any(j.after_check for j in same)

    async def wait_late_output(self) -> None:
        """Wait until orphaned children of the finished processes closed their output (or were ended)."""
        waits = asyncio.gather(*(runner.late_output_done.wait() for runner in self._runners.values()))
        with contextlib.suppress(asyncio.TimeoutError):  # each runner ends its orphans by then; a safety margin
            await asyncio.wait_for(waits, self._timings.late_output + 5)

    async def _gate(self, provisional: NodeResult) -> None:
        """Run the post-node hook; its NodeResult (if any) becomes the node's final outcome."""
        final = provisional
        assert self.post_node is not None
        try:
            async for event in self.post_node(provisional.node, provisional):
                if isinstance(event, NodeResult) and event.node == provisional.node:
                    final = event
                    continue
                self._put(event)
        except Exception as exc:  # a broken hook must not leave the node looking fine
            final = replace(provisional, ts=time.time(), outcome="failed", stage="health",
                            message=f"post-deploy hook failed: {exc}")
        if not self._gating.pop((provisional.node, provisional.profile), False):
            self._put(final)

    async def _password(self, hostname: str) -> str | None:
        node = self.node_for_hostname(hostname)
        if self._ask_password is not None:
            return await self._ask_password(node, hostname)
        waiter: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._password_waiters[hostname] = waiter
        self._put(PasswordPrompt(ts=time.time(), node=node, hostname=hostname))
        try:
            return await waiter
        finally:
            self._password_waiters.pop(hostname, None)
