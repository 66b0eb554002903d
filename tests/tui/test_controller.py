"""The deploy controller without Textual: a fake face, scripted deploys."""

from __future__ import annotations

import asyncio

from labtui.runs.events import Prompt, RunResult
from labtui.tui.controller import DeployController
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
