"""The core as the TUI's sources (labtui.tui.sources): deploys, the journal, a host's logs, checks and generations."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, ClassVar, Protocol, TypeVar

from labtui.deploy.commands import DeployRsOptions
from labtui.deploy.detached import start_detached
from labtui.deploy.methods import METHODS
from labtui.deploy.preview import Preview
from labtui.deploy.request import Action, DeployRequest
from labtui.inventory.model import Host, Inventory
from labtui.ops.checks import CheckResult, run_checks
from labtui.ops.generations import ClosureChange, GenerationInfo, diff_generations, list_generations
from labtui.ops.logs import LogQuery, LogStream
from labtui.ops.recorded import RecordedReboot, RecordedRollback
from labtui.runs.client import DetachedRun, is_running
from labtui.runs.events import PasswordPrompt, RunEvent, event_from_dict
from labtui.runs.files import events_path
from labtui.runs.journal import Journal
from labtui.runs.journal import RunSummary as JournalRun
from labtui.runs.lost import settle_lost_runs
from labtui.runs.outcomes import is_failure
from labtui.runs.state import JournalDamaged, StateError
from labtui.ssh.api import LineShell, RemoteShell
from labtui.tui.sources import DeployChoice, DeployHandle, HistorySource, PasswordAsker, RunSummary

T = TypeVar("T")

LOG_QUERY = LogQuery(lines=200, follow=True)  # what the logs view opens with


# -- deploys -----------------------------------------------------------------------------------------
def deploy_request(choice: DeployChoice, *, prebuild: bool = False) -> DeployRequest:
    """The orchestrator's DeployRequest for what the operator chose in the dialog."""
    from labtui.deploy.waves import plan_waves

    waves = plan_waves(list(choice.hosts), choice.waves) if choice.waves else []
    return _request(choice, prebuild=prebuild, waves=waves)


def _request(choice: DeployChoice, *, prebuild: bool, waves: list[list[str]]) -> DeployRequest:
    """The orchestrator's DeployRequest for what the operator chose in the dialog."""
    options = DeployRsOptions(
        skip_checks=choice.skip_checks,
        magic_rollback=None if choice.magic_rollback else False,
        auto_rollback=None if choice.auto_rollback else False,
    )
    method = METHODS.get(choice.method)
    return DeployRequest(
        targets=[(h, None) for h in choice.hosts],
        method=method.name,
        action=Action.parse(choice.action),
        options=options,
        atomic=choice.mode == "atomic" and method.supports_atomic,
        parallel=1 if choice.mode == "atomic" else choice.parallel,
        interactive=choice.show_plan and method.supports_interactive,
        prebuild=prebuild,
        waves=waves,
        health_gate="rollback" if choice.rollback_unhealthy else "off",
    )


class SupervisedRun(Protocol):
    """The control surface of a run its supervisor process owns (labtui.runs.client.DetachedRun)."""

    run_id: str

    def events(self) -> AsyncIterator[RunEvent]: ...

    def answer_prompt(self, yes: bool, node: str | None = None) -> None: ...

    def send_password(self, hostname: str, password: str | None) -> None: ...

    def cancel(self, node: str | None = None) -> None: ...


class RunHandle:
    """A supervised run as the app's DeployHandle; answers sudo password prompts by asking the operator."""

    def __init__(self, run: SupervisedRun, ask_password: PasswordAsker, *, detachable: bool) -> None:
        self.run = run
        self.ask_password = ask_password
        self._detachable = detachable

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def detachable(self) -> bool:
        return self._detachable

    async def events(self) -> AsyncIterator[RunEvent]:
        async for event in self.run.events():
            if isinstance(event, PasswordPrompt):
                password = await self.ask_password(event.node or event.hostname)
                self.run.send_password(event.hostname, password)
                continue
            yield event

    async def cancel(self, node: str | None = None) -> None:
        self.run.cancel(node)

    async def answer_prompt(self, yes: bool, node: str | None = None) -> None:
        self.run.answer_prompt(yes, node)


class CoreDeployStarter:
    """Starts deploys with labtui's engine in a supervisor process, so quitting the TUI keeps them going."""

    def __init__(self, inventory: Inventory, *, survives_quit: bool = True) -> None:
        self.inventory = inventory
        self.survives_quit = survives_quit  # False in the demo: its lab goes away when labtui quits

    async def start(self, hosts: Sequence[Host], choice: DeployChoice, ask_password: PasswordAsker) -> RunHandle:
        # It waits for the supervisor to say it runs: off the UI loop.
        request = deploy_request(choice, prebuild=self.inventory.deploy.build_first)
        run = await asyncio.to_thread(start_detached, request, self.inventory)
        return RunHandle(run, ask_password, detachable=self.survives_quit)


# -- history -------------------------------------------------------------------------------------------
class JournalHistory(HistorySource):
    """The deploy journal as the history view wants it; runs still going can be followed again."""

    CAN_ATTACH: ClassVar[bool] = True

    def __init__(self, journal: Journal | None = None) -> None:
        self._journal = journal
        self._problem: str | None = None

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            try:
                self._journal = Journal.open()
            except StateError as exc:
                self._recover(exc)
        assert self._journal is not None
        return self._journal

    def _recover(self, problem: StateError) -> None:
        """Like `labtui history`: say why, then show what can still be read (the journal read-only, or the runs
        rebuilt from their own files)."""
        if self._journal is not None:
            self._journal.close()
        self._problem = problem.message
        self._journal = Journal.recovered()

    def problem(self) -> str | None:
        return self._problem

    def _read(self, what: Callable[[Journal], T]) -> T:
        """`what` on the journal; a damage found while reading switches to what can be recovered (once)."""
        try:
            return what(self.journal)
        except JournalDamaged as exc:
            if self._problem is not None:
                raise
            self._recover(exc)
            return what(self.journal)

    def list_runs(self, host: str | None = None) -> list[RunSummary]:
        def read(journal: Journal) -> list[JournalRun]:
            settle_lost_runs(journal)  # runs whose supervisor vanished read `lost`, their open nodes `unknown`
            return journal.list_runs(host)

        out = []
        for s in self._read(read):
            nodes = tuple(dict.fromkeys(k.split(".", 1)[0] for k in s.nodes))
            outcomes: dict[str, str] = {}
            for key, outcome in s.nodes.items():
                node = key.split(".", 1)[0]
                if outcome and not is_failure(outcomes.get(node)):  # a node's worst profile outcome
                    outcomes[node] = outcome
            out.append(RunSummary(run_id=s.run_id, started=s.started, finished=s.ended,
                                  method=f"{s.method} {s.action}", nodes=nodes,
                                  outcome=s.outcome if s.state != "lost" else "lost", node_outcomes=outcomes))
        return out

    def running_runs(self) -> list[RunSummary]:
        return [r for r in self.list_runs() if r.outcome is None and is_running(r.run_id)]

    def attach(self, run_id: str, ask_password: PasswordAsker) -> DeployHandle:
        """Follow a run its supervisor is still running: its events from the start, then live."""
        return RunHandle(DetachedRun(run_id), ask_password, detachable=True)

    def run_events(self, run_id: str) -> list[RunEvent]:
        events = []
        text = events_path(run_id).read_text(encoding="utf-8", errors="replace")
        for line in text.splitlines():
            if line.strip():
                try:
                    events.append(event_from_dict(json.loads(line)))
                except (TypeError, ValueError):  # UnknownEvent is a ValueError
                    continue  # an event kind this version does not know, or a damaged line
        return events

    def last_outcome(self, host: str) -> str | None:
        record = self._read(lambda journal: journal.last_outcome(host))
        return record.outcome if record is not None else None


# -- ops -------------------------------------------------------------------------------------------------
class CoreOps:
    """A host's journal, health checks and generations over a RemoteShell (the SSH pool, or the simulated lab's)."""

    def __init__(self, shell: RemoteShell, inventory: Inventory, **reboot_options: Any) -> None:
        self.shell = shell
        self.inventory = inventory  # rollbacks and reboots are journal runs of its flake
        self.reboot_options = reboot_options  # for labtui.ops.reboot.reboot_host (timeout, poll): the CLI's defaults

    def logs(self, host: Host) -> LogStream:
        return LogStream(self.shell, host.name, LOG_QUERY)

    def checks(self, host: Host) -> AsyncIterator[CheckResult]:
        return run_checks(host, self.shell)

    async def generations(self, host: Host) -> list[GenerationInfo]:
        return await list_generations(self.shell, host.name)

    async def diff(self, host: Host, a: int, b: int) -> list[ClosureChange]:
        return await diff_generations(self.shell, host.name, a, b)

    def rollback(self, host: Host, target: GenerationInfo, current: GenerationInfo | None,
                 sudo_password: str | None) -> AsyncIterator[RunEvent]:
        return RecordedRollback(self.inventory, self.shell, host, target, current,
                                sudo_password=sudo_password).events()

    def reboot(self, hosts: Sequence[Host], sudo_passwords: Mapping[str, str]) -> AsyncIterator[RunEvent]:
        return RecordedReboot(self.inventory, self.shell, hosts, sudo_passwords=sudo_passwords,
                              **self.reboot_options).events()


# -- fleet exec and closure diffs -------------------------------------------------------------------------
class CoreExec:
    """Fleet exec over the SSH pool (lines as they come when the shell can stream), recorded in the journal."""

    def __init__(self, inventory: Inventory, shell: RemoteShell, lines: LineShell | None = None) -> None:
        self.inventory = inventory
        self.shell = shell
        self.lines = lines

    def run(self, hosts: Sequence[Host], argv: Sequence[str], *, sudo: bool = False,
            passwords: Mapping[str, str] | None = None) -> AsyncIterator[RunEvent]:
        from labtui.ops.exec import recorded_exec

        return recorded_exec(self.inventory, hosts, self.shell, argv, sudo=sudo, passwords=passwords,
                             lines=self.lines)


class CorePreview:
    """Closure diffs for the deploy dialog: labtui's build and each host's running system over the SSH pool."""

    def __init__(self, inventory: Inventory, shell: RemoteShell) -> None:
        self.inventory = inventory
        self.shell = shell

    async def preview(self, hosts: Sequence[Host], method: str | None,
                      emit: Callable[[RunEvent], None] | None = None) -> Preview:
        from labtui.deploy.preview import preview

        return await preview(self.inventory, hosts, self.shell, method=method, emit=emit)
