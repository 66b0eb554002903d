"""The worked example of docs/extending.md: a new deploy method in one module (test-only).

`lab-apply FLAKE HOST ACTION` stands for a site's own deploy script; its output is two plain lines,
`building HOST` and `activating HOST`. Registering the class is the one other line it takes.
"""

from __future__ import annotations

from collections.abc import Mapping

from labtui.deploy.methods import DeployMethod, Job
from labtui.deploy.parse import OutputParser
from labtui.deploy.request import Action, DeployRequest
from labtui.inventory.model import Host
from labtui.runs.events import NodeResult, Output, RunEvent, RunOutcome, RunResult, StageChanged


class LabApplyParser:
    """`building HOST` / `activating HOST` → stages; the exit status → the node's outcome."""

    def __init__(self, node: str) -> None:
        self.node = node
        self.stage: str | None = None
        self._results: dict[tuple[str, str | None], NodeResult] = {}

    awaiting_answer = False  # lab-apply never asks
    follow_after_exit = None  # nothing of it goes on after it exits

    def mark_answered(self) -> None:
        pass

    @property
    def results(self) -> dict[tuple[str, str | None], NodeResult]:
        return dict(self._results)

    def feed(self, line: str, ts: float) -> list[RunEvent]:
        events: list[RunEvent] = []
        word = line.split(" ", 1)[0]
        stage = {"building": "build", "activating": "activate"}.get(word)
        if stage is not None and stage != self.stage:
            self.stage = stage
            events.append(StageChanged(ts=ts, node=self.node, profile=None, stage=stage))
        events.append(Output(ts=ts, node=self.node, stage=self.stage, line=line, source="raw"))
        return events

    def finish(self, exit_code: int | None, ts: float, *, cancelled: bool = False) -> list[RunEvent]:
        ok = exit_code == 0 and not cancelled
        activated = self.stage == "activate"
        result = NodeResult(ts=ts, node=self.node, profile=None, stage=self.stage,
                            outcome="succeeded" if ok else ("failed" if activated else "not_deployed"),
                            message="activated" if ok else f"lab-apply exited with {exit_code}")
        self._results[(self.node, None)] = result
        run: RunOutcome = "cancelled" if cancelled else ("succeeded" if ok else "failed")
        return [result, RunResult(ts=ts, outcome=run, exit_code=exit_code)]


class LabApply(DeployMethod):
    name = "lab-apply"
    actions = frozenset({Action.SWITCH, Action.BOOT})
    program = "lab-apply"
    how_to_install = "it lives in the lab's repository: add its bin/ to PATH"

    def flake_lacks(self, host: Host) -> str | None:
        return None if host.in_nixos_configurations or host.profiles else f"nixosConfigurations.{host.name}"

    def plan(self, request: DeployRequest, hosts: Mapping[str, Host]) -> list[Job]:
        assert request.flake is not None
        return [Job(name=node, nodes=[node], targets=[(node, None)], method=self.name, hosts={node: hosts[node]},
                    argv=[self.program, request.flake, hosts[node].hostname, request.action.value])
                for node in request.nodes()]

    def parser(self, job: Job, request: DeployRequest) -> OutputParser:
        return LabApplyParser(job.nodes[0])
