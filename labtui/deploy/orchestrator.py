"""One deploy run over several nodes: which processes to start, how many at once, one merged event stream.

Each target's method (the request's, else the host's own) comes from the registry
(labtui.deploy.methods.METHODS); the method plans its processes (`Job`s) and names their parsers, and
this module runs them the same way whatever the method: at most `parallel` processes at once, each node
with its own outcome. deploy-rs plans one process per node, or ONE atomic process over all its targets;
nixos-rebuild one per host.

`DeployRun.events()` yields `run_started` first, then every node's events as they happen (events the
parser could not attribute get the node of their process), each node's final `node_result`, and
`run_result` last: `succeeded` only when every node succeeded or was dry-activated.

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
from labtui.deploy.probe import Probe, judge, probe_node
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
)
from labtui.runs.files import new_run_id
from labtui.runs.locks import HostLocks

DEFAULT_PARALLEL = 4
# A node where an activation still runs after the run (a target rolling back by itself) is asked again this often,
# for at most its confirm timeout plus SETTLE_MARGIN seconds, before its after-probe counts.
SETTLE_POLL = 2.0
SETTLE_MARGIN = 60.0

PostNodeHook = Callable[[str, NodeResult], AsyncIterator[RunEvent]]


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
                 env: dict[str, str] | None = None, probe: Probe | None = None) -> None:
        self.request = request
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
        self._cancelled = False
        self._queue: asyncio.Queue[RunEvent | None] = asyncio.Queue()
        self._password_waiters: dict[str, asyncio.Future[str | None]] = {}
        self._started = False
        self._check_gate: asyncio.Future[str | None]  # None: the first process's flake check passed
        self._gating: dict[tuple[str, str | None], bool] = {}  # results held by the post-node hook: superseded?
        self.hosts = {node: inventory.get(node) for node in request.nodes()}
        self.jobs = self._plan()
        self._runners: dict[Job, CommandRunner] = {}  # the started processes

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

    def _plan(self) -> list[Job]:
        r = self.request
        if not r.targets:
            raise UserError("nothing to deploy: name at least one host (HOST, HOST.PROFILE, a glob or @tag)")
        by_method: dict[str, list[tuple[str, str | None]]] = {}
        for node, profile in r.targets:
            host = self.hosts[node]
            profiles_of(host, profile)  # validates the profile name
            method = METHODS.get(r.method or host.method)
            method.validate(host)
            by_method.setdefault(method.name, []).append((node, profile))
        jobs: list[Job] = []
        for method in METHODS:  # in registration order
            targets = by_method.get(method.name)
            if targets is None:
                continue
            if r.action not in method.actions:
                others = [m.name for m in METHODS if r.action in m.actions]
                raise UserError(f"{method.name} has no `{r.action}` action; use --method {' or '.join(others)} "
                                f"for `{r.action}`")
            if r.atomic and not method.supports_atomic:
                able = [m.name for m in METHODS if m.supports_atomic]
                raise UserError(f"--atomic needs {' or '.join(able)} (it revokes succeeded nodes); drop --atomic or "
                                f"use --method {able[0]}")
            jobs += method.plan(replace(r, targets=targets, flake=self.flake), self.hosts)
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
        if self._locks is not None:
            self._locks.release()

    @property
    def pending_prompts(self) -> list[str]:
        """Jobs (node names, or "atomic") whose deploy-rs waits for a yes/no."""
        return [j.name for j, runner in self._runners.items()
                if runner.parser.awaiting_answer and runner.exit_code is None]

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
            runner.answer("yes" if yes else "no")
            self._queue.put_nowait(PromptAnswered(ts=time.time(), node=None if job.name == "atomic" else job.name,
                                                  yes=yes))

    def send_password(self, hostname: str, password: str | None) -> None:
        """The sudo password for `hostname` (None: cancel). Kept only until written to deploy-rs's terminal."""
        waiter = self._password_waiters.get(hostname)
        if waiter is not None and not waiter.done():
            waiter.set_result(password)

    async def cancel(self) -> None:
        """Stop the run: running processes get SIGINT/SIGTERM/SIGKILL, waiting ones never start."""
        self._cancelled = True
        for waiter in self._password_waiters.values():
            if not waiter.done():
                waiter.set_result(None)
        await asyncio.gather(*(runner.cancel() for runner in list(self._runners.values())))

    # ---- running -----------------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[RunEvent]:
        if self._started:
            raise RuntimeError("DeployRun.events() can be iterated only once")
        self._started = True
        self.acquire_locks()
        try:
            nodes = self.request.nodes()
            methods = sorted({j.method for j in self.jobs})
            yield RunStarted(ts=time.time(), run_id=self.run_id, method=",".join(methods), nodes=nodes,
                             argv=self.jobs[0].argv if len(self.jobs) == 1 else [], argvs=self.argvs)
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
                    result = NodeResult(ts=time.time(), node=node, profile=None, outcome="not_deployed",
                                        stage=None, message="cancelled before it started" if self._cancelled
                                        else "no result from the deploy process")
                    finals[(node, None)] = result
                    yield result
            ok = all(r.outcome in GOOD_OUTCOMES for r in finals.values())
            outcome: RunOutcome = "cancelled" if self._cancelled else ("succeeded" if ok else "failed")
            bad = [f"{r.node}{'.' + r.profile if r.profile else ''} {r.outcome.replace('_', ' ')}"
                   for r in finals.values() if r.outcome not in GOOD_OUTCOMES]
            message = ", ".join(bad)
            if self._cancelled:
                message = "cancelled by the operator" + (f": {message}" if message else "")
            yield RunResult(ts=time.time(), outcome=outcome, message=message,
                            exit_code=0 if outcome == "succeeded" else (130 if outcome == "cancelled" else 1))
        finally:
            self.release_locks()

    async def _probe_before(self, node: str) -> None:
        assert self.probe is not None
        event, state = await probe_node(self.probe, node, "before")
        if node in self._activating:
            event, state = replace(event, path=None, generation=None, profile_generation=None, profile_path=None,
                                   error="the probe answered after activation began"), None
        self._before[node] = state
        self._queue.put_nowait(event)

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
        nodes = [n for n in self.request.nodes()
                 if any(r.node == n and r.outcome != "not_deployed" for r in finals.values())]
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

    async def _run_jobs(self) -> None:
        slots = asyncio.Semaphore(max(1, self.request.parallel or default_parallel(self.inventory)))
        hooks: list[asyncio.Task[None]] = []
        probes = [asyncio.ensure_future(self._probe_before(n)) for n in self.request.nodes()] if self.probe else []
        self._check_gate = asyncio.get_running_loop().create_future()

        async def run_job(job: Job) -> None:
            async with slots:
                if job.after_check:
                    failure = await self._check_gate
                    if failure is not None and not self._cancelled:
                        for node in job.nodes:
                            self._queue.put_nowait(NodeResult(
                                ts=time.time(), node=node, profile=None, outcome="not_deployed", stage="check",
                                message=failure))
                        return
                if self._cancelled:
                    return
                try:
                    await self._run_one(job, hooks)
                    if self._checks_for_others(job) and not self._check_gate.done():
                        self._check_gate.set_result(f"{job.name}'s deploy ended before its flake check passed")
                except Exception as exc:  # e.g. the program vanished: the node fails, the run goes on
                    if self._checks_for_others(job) and not self._check_gate.done():
                        self._check_gate.set_result(f"could not run the flake check: {exc}")
                    now = time.time()
                    self._queue.put_nowait(Output(ts=now, node=job.nodes[0] if len(job.nodes) == 1 else None,
                                                  stage=None, line=f"labtui: could not run {job.argv[0]}: {exc}",
                                                  source="raw"))
                    for node in job.nodes:
                        self._queue.put_nowait(NodeResult(ts=now, node=node, profile=None, outcome="not_deployed",
                                                          stage=None, message=f"could not run {job.argv[0]}: {exc}"))

        try:
            await asyncio.gather(*(run_job(job) for job in self.jobs))
            # Hooks may start more hooks' worth of events; wait for all of them.
            while hooks:
                await hooks.pop(0)
        finally:
            for task in probes:  # a probe still waiting for its host does not hold up the result
                task.cancel()
            self._queue.put_nowait(None)

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
                continue  # the run's outcome is decided over all jobs
            if isinstance(event, NodeResult):
                key = (event.node, event.profile)
                if key in self._gating:
                    self._gating[key] = True  # a later result (deploy-rs revoked it) beats the gate's
                if event.outcome == "succeeded" and self.post_node is not None:
                    self._gating[key] = False
                    hooks.append(asyncio.ensure_future(self._gate(event)))
                    continue
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
                self._queue.put_nowait(event)
        except Exception as exc:  # a broken hook must not leave the node looking fine
            final = replace(provisional, ts=time.time(), outcome="failed", stage="health",
                            message=f"post-deploy hook failed: {exc}")
        if not self._gating.pop((provisional.node, provisional.profile), False):
            self._queue.put_nowait(final)

    async def _password(self, hostname: str) -> str | None:
        node = self.node_for_hostname(hostname)
        if self._ask_password is not None:
            return await self._ask_password(node, hostname)
        waiter: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._password_waiters[hostname] = waiter
        self._queue.put_nowait(PasswordPrompt(ts=time.time(), node=node, hostname=hostname))
        try:
            return await waiter
        finally:
            self._password_waiters.pop(hostname, None)
