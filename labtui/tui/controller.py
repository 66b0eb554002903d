"""The deploy controller: starts runs and re-attaches to them, folds their events into a RunView, relays deploy-rs'
plan questions and sudo password prompts to the operator, cancels (pure asyncio, no Textual).

What the operator sees goes through `DeployUi` (the app): opening the deploy pane, asking a question, saying that
a run failed to start or ended. Tests drive it with a fake UI and a scripted deploy handle.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Protocol

from labtui.inventory.model import Host
from labtui.runs.events import NodeResult, Output, Prompt, PromptAnswered, RunEvent, RunResult
from labtui.tui.deploy_model import RunView
from labtui.tui.sources import DeployChoice, DeployHandle, DeployStarter, HistorySource

# Events handled between two yields to the UI loop when a deploy floods output.
EVENT_BATCH = 512
# deploy-rs questions are gathered at least this long (parallel runs ask at about the same moment), and at most the
# second figure while some host of the run has not asked yet (one question, up front).
PROMPT_GATHER = 0.3
PROMPT_GATHER_MAX = 20.0

Clock = Callable[[], float]


class DeployUi(Protocol):
    """What the controller needs from the face."""

    async def show_run(self, run: RunView, title: str) -> None:
        """Open the deploy pane on `run` (it follows the run as its events arrive)."""
        ...

    async def ask_plan(self, prompt: Prompt) -> bool:
        """Show deploy-rs' plan; True deploys."""
        ...

    async def ask_password(self, host: str) -> str | None:
        """The sudo password of `host`; None when the operator cancels."""
        ...

    def drop_plan_question(self) -> None:
        """The run ended while its plan question was on screen: take the question away."""
        ...

    def run_failed(self, message: str) -> None:
        """The run could not start or broke off (one line for the operator)."""
        ...

    def run_ended(self, run: RunView) -> None:
        """The run has its result."""
        ...


class DeployController:
    """One deploy at a time, started here or re-attached from the journal."""

    def __init__(self, ui: DeployUi, starter: DeployStarter | None, history: HistorySource | None,
                 clock: Clock) -> None:
        self.ui = ui
        self.starter = starter
        self.history = history
        self.clock = clock
        self.active_run: RunView | None = None
        self.active_handle: DeployHandle | None = None
        self.last_run: RunView | None = None
        self.finished_runs: list[RunView] = []
        self.run_done = asyncio.Event()  # set each time a run ends (tests and quit wait on it)
        self.cancellable = True  # the active run can be cancelled (a deploy; not a rollback or reboot)

    @property
    def running(self) -> bool:
        return self.active_run is not None and self.active_run.running

    @property
    def detachable(self) -> bool:
        """Quitting now leaves the running deploy going."""
        return self.active_handle is not None and self.active_handle.detachable

    def running_nodes(self) -> list[str]:
        run = self.active_run
        return [n for n, v in run.nodes.items() if not v.done] if run is not None else []

    async def deploy(self, hosts: Sequence[Host], choice: DeployChoice) -> RunView:
        """Start a deploy and follow its events into the deploy pane until it ends."""
        starter = self.starter
        if starter is None:
            raise RuntimeError("no deploy starter: check DeployController.starter first")

        async def start() -> DeployHandle:
            return await starter.start(hosts, choice, self.ui.ask_password)

        title = f"{choice.method} {choice.action} ({choice.mode})"
        return await self._follow([h.name for h in hosts], title, start)

    async def attach(self, run_id: str, nodes: Sequence[str]) -> RunView:
        """Follow a run started earlier (left running when labtui quit, or by `labtui deploy`)."""
        history = self.history
        if history is None or not history.CAN_ATTACH:
            raise RuntimeError("this history cannot attach to runs")

        async def start() -> DeployHandle:
            return history.attach(run_id, self.ui.ask_password)

        return await self._follow(list(nodes), f"run {run_id} (attached)", start)

    async def follow_events(self, nodes: Sequence[str], title: str,
                            events: Callable[[], AsyncIterator[RunEvent]]) -> RunView:
        """Follow a run the face started itself (a rollback, a reboot: recorded runs of labtui.ops.recorded) in the
        deploy pane, as a deploy. It cannot be cancelled from here (a switch or a reboot, once begun, goes on)."""

        async def start() -> DeployHandle:
            return _EventsHandle(events())

        return await self._follow(list(nodes), title, start, cancellable=False)

    async def cancel(self, node: str | None = None) -> None:
        """Cancel the running deploy, or only `node`'s part of it."""
        if self.active_handle is not None:
            await self.active_handle.cancel(node)

    async def _follow(self, nodes: list[str], title: str, start: Callable[[], Awaitable[DeployHandle]], *,
                      cancellable: bool = True) -> RunView:
        run = RunView(nodes)
        self.active_run = run
        self.cancellable = cancellable
        self.run_done.clear()
        await self.ui.show_run(run, title)
        try:
            handle = await start()
            self.active_handle = handle
            await self._fold_events(run, handle)
        except Exception as exc:  # noqa: BLE001 - the run failed to start or broke: say so, keep the TUI
            self.ui.run_failed(f"deploy failed: {exc}")
            if run.running:
                run.apply(RunResult(ts=self.clock(), outcome="failed", exit_code=None))
        finally:
            self.active_handle = None
            self._finished(run)
        return run

    async def _fold_events(self, run: RunView, handle: DeployHandle) -> None:
        pending_node: str | None = None
        pending: list[str] = []
        prompts = _PromptBatcher(self.ui, handle, run)
        count = 0

        def flush() -> None:
            nonlocal pending
            if pending:
                run.apply_lines(pending_node, pending)
                pending = []

        try:
            async for event in handle.events():
                count += 1
                if isinstance(event, Output):
                    if event.node != pending_node:
                        flush()
                        pending_node = event.node
                    pending.append(event.line)
                else:
                    flush()
                    run.apply(event)
                    if isinstance(event, Prompt):
                        prompts.add(event)
                    elif isinstance(event, PromptAnswered):
                        prompts.seen_answer(event)
                    elif isinstance(event, NodeResult):
                        prompts.poke()
                if count % EVENT_BATCH == 0:
                    flush()
                    await asyncio.sleep(0)  # let the UI draw between bursts
            flush()
        finally:
            prompts.close()

    def _finished(self, run: RunView) -> None:
        try:
            if run.running:
                # The stream ended without a result (engine crashed): say so rather than spin forever.
                run.apply(RunResult(ts=self.clock(), outcome="failed", exit_code=None))
            self.last_run = run
            self.finished_runs.append(run)
            self.ui.run_ended(run)
        finally:
            self.run_done.set()


class _EventsHandle:
    """A run whose events the face produces itself (labtui.ops.recorded), as a DeployHandle."""

    detachable = False
    run_id: str | None = None

    def __init__(self, events: AsyncIterator[RunEvent]) -> None:
        self._events = events

    def events(self) -> AsyncIterator[RunEvent]:
        return self._events

    async def cancel(self, node: str | None = None) -> None:
        pass  # not cancellable: the pane offers no key for it

    async def answer_prompt(self, yes: bool, node: str | None = None) -> None:
        pass  # it asks nothing


class _PromptBatcher:
    """deploy-rs --interactive questions, answered by the operator without stopping the event stream.

    A parallel run asks once per process. The questions are gathered until every host of the run that is still
    going has asked (at least PROMPT_GATHER, at most PROMPT_GATHER_MAX seconds), shown as one merged plan, and the
    answer goes to each of their nodes: one question, up front. A question already answered (a `prompt_answered`
    event: replayed when re-attaching, or answered by another face) is never asked again, and one on screen that
    gets answered elsewhere is taken away.
    """

    def __init__(self, ui: DeployUi, handle: DeployHandle, run: RunView) -> None:
        self.ui = ui
        self.handle = handle
        self.run = run
        self.pending: list[Prompt] = []
        self.answered: set[str | None] = set()  # nodes whose question is answered; None: every node's
        self.asking: set[str | None] = set()  # the nodes of the question on screen
        self.task: asyncio.Task[None] | None = None
        self.changed = asyncio.Event()

    @staticmethod
    def _nodes(prompt: Prompt) -> set[str | None]:
        return {e.node for e in prompt.plan} or {None}

    def _is_answered(self, nodes: set[str | None]) -> bool:
        return None in self.answered or nodes <= self.answered

    def add(self, prompt: Prompt) -> None:
        if self._is_answered(self._nodes(prompt)):
            return
        self.pending.append(prompt)
        self.changed.set()
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._answer())

    def seen_answer(self, event: PromptAnswered) -> None:
        """Someone answered (this face, another one, or the run before we attached)."""
        self.answered.add(event.node)
        self.pending = [p for p in self.pending if not self._is_answered(self._nodes(p))]
        if self.asking and self._is_answered(self.asking) and self.task is not None and not self.task.done():
            self.task.cancel()
            self.ui.drop_plan_question()
            self.asking = set()
            if self.pending:
                self.task = asyncio.ensure_future(self._answer())
        self.changed.set()

    def poke(self) -> None:
        """A host ended (it will not ask any more): the gathering may be complete."""
        self.changed.set()

    def _everyone_asked(self) -> bool:
        asked = set().union(*(self._nodes(p) for p in self.pending))
        if None in asked:
            return True  # an atomic run: one question for all
        waiting = {n for n, v in self.run.nodes.items() if not v.done and n not in self.answered}
        return waiting <= asked

    async def _gather(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PROMPT_GATHER_MAX
        await asyncio.sleep(PROMPT_GATHER)
        while not self._everyone_asked() and loop.time() < deadline:
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), deadline - loop.time())

    async def _answer(self) -> None:
        while self.pending:
            await self._gather()
            batch, self.pending = self.pending, []
            batch = [p for p in batch if not self._is_answered(self._nodes(p))]
            if not batch:
                continue
            plan = [entry for prompt in batch for entry in prompt.plan]
            merged = Prompt(ts=batch[-1].ts, plan=plan, question=batch[-1].question)
            nodes: list[str | None] = list(dict.fromkeys(e.node for e in plan)) or [None]
            self.asking = set(nodes)
            yes = await self.ui.ask_plan(merged)
            self.asking = set()
            self.answered |= set(nodes)
            for node in nodes:
                await self.handle.answer_prompt(yes, node)

    def close(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            self.ui.drop_plan_question()
