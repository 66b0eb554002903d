"""The deploy controller without Textual: a fake face, scripted deploys."""

from __future__ import annotations

import asyncio

from labtui.runs.events import Prompt, PromptAnswered, RunResult
from labtui.tui.controller import PROMPT_GATHER, DeployController
from labtui.tui.deploy_model import RunView
from labtui.tui.sources import DeployChoice, DeployHandle, HistorySource, PasswordAsker, RunSummary
from tests.support.frozen import FROZEN_NOW, FrozenClock, ScriptedDeploy, ScriptedRun, deploy_events, frozen_lab


class FakeUi:
    def __init__(self, plan_answer: bool = True) -> None:
        self.shown: list[tuple[RunView, str]] = []
        self.plans: list[Prompt] = []
        self.failures: list[str] = []
        self.ended: list[RunView] = []
        self.dropped = 0
        self.plan_answer = plan_answer
        self.opened = asyncio.Event()

    async def show_run(self, run: RunView, title: str) -> None:
        self.shown.append((run, title))
        self.opened.set()

    async def ask_plan(self, prompt: Prompt) -> bool:
        self.plans.append(prompt)
        return self.plan_answer

    async def ask_password(self, host: str) -> str | None:
        return None

    def drop_plan_question(self) -> None:
        self.dropped += 1

    def run_failed(self, message: str) -> None:
        self.failures.append(message)

    def run_ended(self, run: RunView) -> None:
        self.ended.append(run)


async def test_a_deploy_is_folded_into_its_run_view_until_it_ends(tmp_path):
    lab, inventory = frozen_lab(tmp_path)
    clock = FrozenClock()
    deploy, ui = ScriptedDeploy(clock), FakeUi()
    controller = DeployController(ui, deploy, None, clock)
    hosts = [inventory.get("grey-area"), inventory.get("printer-pi")]
    task = asyncio.ensure_future(controller.deploy(hosts, DeployChoice(hosts=("grey-area", "printer-pi"))))
    await deploy.started.wait()
    assert controller.running and ui.shown[0][1] == "deploy-rs switch (parallel)"
    assert controller.running_nodes() == ["grey-area", "printer-pi"] and not controller.detachable
    deploy.runs[-1].feed_all(deploy_events(lab, ["grey-area", "printer-pi"], FROZEN_NOW))
    run = await task
    assert controller.run_done.is_set() and not controller.running
    assert ui.ended == [run] and controller.last_run is run and controller.finished_runs == [run]
    assert run.outcome == "failed" and run.nodes["printer-pi"].rollback == "magic"
    assert run.nodes["grey-area"].total_lines == 9  # output batched, none lost


async def test_plan_questions_of_one_moment_are_asked_once_and_answered_for_each_node(tmp_path):
    lab, inventory = frozen_lab(tmp_path)
    clock = FrozenClock()
    deploy, ui = ScriptedDeploy(clock), FakeUi(plan_answer=False)
    controller = DeployController(ui, deploy, None, clock)
    nodes = ["grey-area", "printer-pi"]
    task = asyncio.ensure_future(controller.deploy([inventory.get(n) for n in nodes], DeployChoice(hosts=())))
    await deploy.started.wait()
    run = deploy.runs[-1]
    events = deploy_events(lab, nodes, FROZEN_NOW, interactive=True)
    prompt = events[1]
    assert isinstance(prompt, Prompt)
    for node in nodes:  # one question per deploy-rs process, at the same moment
        run.feed(Prompt(ts=prompt.ts, plan=[e for e in prompt.plan if e.node == node]))
    await run.answered.wait()
    await asyncio.sleep(0)  # the second node's answer follows the first without waiting
    assert len(ui.plans) == 1 and [e.node for e in ui.plans[0].plan] == nodes
    assert run.answers == [False, False]
    run.feed(RunResult(ts=FROZEN_NOW + 1, outcome="cancelled", exit_code=1))
    await task
    assert ui.dropped == 0  # answered before the end: nothing left on screen


async def test_a_run_that_cannot_start_fails_with_one_line(tmp_path):
    _, inventory = frozen_lab(tmp_path)

    class Broken:
        async def start(self, hosts, choice, ask_password: PasswordAsker) -> DeployHandle:
            raise OSError("no supervisor")

    ui = FakeUi()
    controller = DeployController(ui, Broken(), None, FrozenClock())
    run = await controller.deploy([inventory.get("nas")], DeployChoice(hosts=("nas",)))
    assert ui.failures == ["deploy failed: no supervisor"]
    assert run.outcome == "failed" and ui.ended == [run] and controller.run_done.is_set()


async def test_a_stream_ending_without_a_result_is_a_failure_and_cancel_reaches_the_run(tmp_path):
    _, inventory = frozen_lab(tmp_path)
    clock = FrozenClock()
    deploy, ui = ScriptedDeploy(clock), FakeUi()
    controller = DeployController(ui, deploy, None, clock)
    task = asyncio.ensure_future(controller.deploy([inventory.get("nas")], DeployChoice(hosts=("nas",))))
    await deploy.started.wait()
    await controller.cancel()
    run = await task
    assert deploy.runs[-1].cancelled and run.outcome == "cancelled"
    await controller.cancel()  # nothing running: nothing to do

    class Silent(ScriptedRun):
        async def events(self):
            return
            yield

    class Starter:
        async def start(self, hosts, choice, ask_password):
            return Silent(clock)

    controller.starter = Starter()
    run = await controller.deploy([inventory.get("nas")], DeployChoice(hosts=("nas",)))
    assert run.outcome == "failed" and run.nodes["nas"].outcome == "not_deployed"


async def test_attach_follows_a_run_the_history_still_runs(tmp_path):
    lab, _ = frozen_lab(tmp_path)
    clock = FrozenClock()
    handle = ScriptedRun(clock, run_id="r7")

    class History(HistorySource):
        CAN_ATTACH = True

        def list_runs(self, host=None) -> list[RunSummary]:
            return []

        def run_events(self, run_id):
            return []

        def last_outcome(self, host):
            return None

        def attach(self, run_id, ask_password):
            assert run_id == "r7"
            return handle

    ui = FakeUi()
    controller = DeployController(ui, None, History(), clock)
    task = asyncio.ensure_future(controller.attach("r7", ["grey-area"]))
    await ui.opened.wait()
    handle.feed_all(deploy_events(lab, ["grey-area"], FROZEN_NOW))
    run = await task
    assert ui.shown[0][1] == "run r7 (attached)" and run.outcome == "succeeded"


async def until(condition, timeout: float = 5.0) -> None:
    """Bounded wait for a condition another task brings about."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


class Attachable(HistorySource):
    CAN_ATTACH = True

    def __init__(self, handle) -> None:
        self.handle = handle

    def list_runs(self, host=None) -> list[RunSummary]:
        return []

    def run_events(self, run_id):
        return []

    def last_outcome(self, host):
        return None

    def attach(self, run_id, ask_password):
        return self.handle


async def test_reattaching_never_asks_a_question_already_answered(tmp_path):
    """Issue 12 point 6: the replayed plan question was answered before labtui attached."""
    lab, _ = frozen_lab(tmp_path)
    clock = FrozenClock()
    handle = ScriptedRun(clock, run_id="r8")
    ui = FakeUi()
    controller = DeployController(ui, None, Attachable(handle), clock)
    task = asyncio.ensure_future(controller.attach("r8", ["grey-area"]))
    await ui.opened.wait()
    events = deploy_events(lab, ["grey-area"], FROZEN_NOW, interactive=True)
    handle.feed_all(events[:2])  # run_started, the prompt ...
    handle.feed(PromptAnswered(ts=FROZEN_NOW + 0.6, node="grey-area", yes=True))  # ... answered back then
    handle.feed_all(events[2:])
    run = await task  # the questions' task ends with the run: whatever it was going to ask, it has
    assert ui.plans == [] and handle.answers == [] and run.outcome == "succeeded"


async def test_a_question_answered_elsewhere_leaves_the_screen(tmp_path):
    lab, inventory = frozen_lab(tmp_path)
    clock = FrozenClock()
    deploy = ScriptedDeploy(clock)

    class SlowUi(FakeUi):
        async def ask_plan(self, prompt):
            self.plans.append(prompt)
            await asyncio.Event().wait()  # the operator looks at it...
            return True

    ui = SlowUi()
    controller = DeployController(ui, deploy, None, clock)
    task = asyncio.ensure_future(controller.deploy([inventory.get("grey-area")], DeployChoice(hosts=())))
    await deploy.started.wait()
    run = deploy.runs[-1]
    events = deploy_events(lab, ["grey-area"], FROZEN_NOW, interactive=True)
    run.feed_all(events[:2])
    await until(lambda: ui.plans)
    run.feed(PromptAnswered(ts=FROZEN_NOW + 1, node="grey-area", yes=True))  # ...and another face answers it
    await until(lambda: ui.dropped)
    run.feed_all(events[2:])
    await task
    assert run.answers == [] and ui.dropped == 1


async def test_one_question_up_front_waits_for_every_host_to_ask(tmp_path):
    """Issue 12 point 7: hosts whose process asks later (they started later) are in the same, single question."""
    lab, inventory = frozen_lab(tmp_path)
    clock = FrozenClock()
    deploy, ui = ScriptedDeploy(clock), FakeUi()
    nodes = ["grey-area", "nas", "printer-pi"]
    controller = DeployController(ui, deploy, None, clock)
    task = asyncio.ensure_future(controller.deploy([inventory.get(n) for n in nodes], DeployChoice(hosts=())))
    await deploy.started.wait()
    run = deploy.runs[-1]
    prompt = deploy_events(lab, nodes, FROZEN_NOW, interactive=True)[1]
    run.feed(prompt.__class__(ts=prompt.ts, plan=[e for e in prompt.plan if e.node != "printer-pi"]))
    await asyncio.sleep(PROMPT_GATHER * 3)  # a check that nothing happens needs time to pass: three gatherings
    assert ui.plans == []  # printer-pi has not asked yet
    run.feed(prompt.__class__(ts=prompt.ts + 2, plan=[e for e in prompt.plan if e.node == "printer-pi"]))
    await until(lambda: len(run.answers) == 3)
    assert len(ui.plans) == 1 and sorted(e.node for e in ui.plans[0].plan) == nodes
    run.feed(RunResult(ts=FROZEN_NOW + 9, outcome="succeeded", exit_code=0))
    await task
