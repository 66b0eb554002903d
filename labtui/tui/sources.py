"""What the TUI needs from the core, as typed interfaces: the app is built from these, tests inject fakes.

Everything that waits on the network is async (status stream, deploys, logs, checks, generations). The history is
a local SQLite read of a few milliseconds and stays synchronous: the dashboard's LAST column is filled from it
before the first frame. Optional abilities are declared, never probed: `HistorySource.CAN_ATTACH` says whether runs
still going can be followed again, `DeployHandle.detachable` whether quitting leaves the run going.

The core implementations are in `labtui.tui.adapters`; `labtui.tui.assemble` builds the app from them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from labtui.deploy.preview import Preview
from labtui.inventory.model import Host
from labtui.ops.checks import CheckResult
from labtui.ops.generations import ClosureChange, GenerationInfo
from labtui.ops.logs import LogStream
from labtui.runs.events import RunEvent
from labtui.status.model import HostStatus

MODES: tuple[str, ...] = ("parallel", "atomic")  # one process per host, or one over all (when the method can)


class StatusSource(Protocol):
    """Live status of the hosts (labtui.status.poller.StatusPoller is one)."""

    def snapshot(self) -> Mapping[str, HostStatus]:
        """The latest status of every host known so far."""
        ...

    def stream(self) -> AsyncIterator[HostStatus]:
        """Every host's status, then each update as it happens."""
        ...

    def refresh(self, host: str | None = None) -> None:
        """Probe `host` (None: every host) now."""
        ...


@dataclass(frozen=True)
class DeployChoice:
    """What the operator chose in the deploy dialog."""

    hosts: tuple[str, ...]
    method: str = "deploy-rs"
    action: str = "switch"
    mode: str = "parallel"  # parallel: one deploy per host; atomic: one deploy-rs run over all (rollback together)
    parallel: int | None = None  # parallel mode: at most this many hosts at once (None: labtui.toml's, else 4)
    magic_rollback: bool = True
    auto_rollback: bool = True
    skip_checks: bool = False
    show_plan: bool = True  # deploy-rs --interactive: its own plan is shown and answered in the TUI
    waves: str = ""  # `1,25%,100%` (labtui.deploy.waves); "" deploys every host at once
    rollback_unhealthy: bool = False  # health gate `rollback` (a failed wave is rolled back), else `report`/off


PasswordAsker = Callable[[str], Awaitable[str | None]]  # host -> sudo password, None when cancelled


class DeployHandle(Protocol):
    """A deploy being followed: its events, and what the operator may do to it."""

    @property
    def run_id(self) -> str | None: ...

    @property
    def detachable(self) -> bool:
        """Quitting labtui leaves the run going (a supervisor runs it)."""
        ...

    def events(self) -> AsyncIterator[RunEvent]:
        """The run's events, from its start, until its end."""
        ...

    async def cancel(self, node: str | None = None) -> None:
        """Cancel the run, or only `node` (the others go on)."""
        ...

    async def answer_prompt(self, yes: bool, node: str | None = None) -> None:
        """Answer deploy-rs' plan question of `node` (None: every waiting question)."""
        ...


class DeployStarter(Protocol):
    async def start(self, hosts: Sequence[Host], choice: DeployChoice, ask_password: PasswordAsker) -> DeployHandle:
        """Start a deploy; sudo passwords the run asks for are asked with `ask_password`."""
        ...


@dataclass(frozen=True)
class RunSummary:
    """One line of the history view."""

    run_id: str
    started: float
    finished: float | None
    method: str
    nodes: tuple[str, ...]
    outcome: str | None  # succeeded | failed | cancelled | None while running
    node_outcomes: Mapping[str, str] = field(default_factory=dict)


class HistorySource(Protocol):
    """Past runs from the journal. Subclass it to inherit the defaults of the optional abilities."""

    CAN_ATTACH: ClassVar[bool] = False  # running_runs() and attach() follow runs that are still going

    def list_runs(self, host: str | None = None) -> list[RunSummary]:
        """Newest first; only the runs of `host` when given."""
        ...

    def run_events(self, run_id: str) -> list[RunEvent]: ...

    def last_outcome(self, host: str) -> str | None: ...

    def running_runs(self) -> list[RunSummary]:
        return []

    def problem(self) -> str | None:
        """Why the journal shows only what could be recovered (damaged, a directory, a read-only or full disk),
        in one line with how to fix it; None when it is read normally."""
        return None

    def attach(self, run_id: str, ask_password: PasswordAsker) -> DeployHandle:
        raise NotImplementedError("this history cannot attach to runs (CAN_ATTACH is False)")


class OpsSource(Protocol):
    """A host's journal, health checks and generations, as the core's own types; rollbacks and reboots as runs."""

    def logs(self, host: Host) -> LogStream:
        """The host's journal (the last 200 entries, then following); the view starts and stops it."""
        ...

    def checks(self, host: Host) -> AsyncIterator[CheckResult]:
        """The host's health checks from labtui.toml, each as it finishes."""
        ...

    async def generations(self, host: Host) -> list[GenerationInfo]:
        """The system profile's generations, oldest first."""
        ...

    async def diff(self, host: Host, a: int, b: int) -> list[ClosureChange]:
        """What changed from generation `a` to `b` on the host (`labtui generations --diff`)."""
        ...

    def rollback(self, host: Host, target: GenerationInfo, current: GenerationInfo | None,
                 sudo_password: str | None) -> AsyncIterator[RunEvent]:
        """Switch the host to `target` (`labtui rollback`): a run, recorded in the journal; asked for already."""
        ...

    def reboot(self, hosts: Sequence[Host], sudo_passwords: Mapping[str, str]) -> AsyncIterator[RunEvent]:
        """Reboot the hosts one at a time and follow each back to service (`labtui reboot`): a recorded run."""
        ...


class ExecSource(Protocol):
    """Commands on many hosts at once (labtui.ops.exec), each exec a run in the journal."""

    def run(self, hosts: Sequence[Host], argv: Sequence[str], *, sudo: bool = False,
            passwords: Mapping[str, str] | None = None) -> AsyncIterator[RunEvent]:
        """`run_started`, the output lines and one `exec_result` per host, then the results."""
        ...


class PreviewSource(Protocol):
    """What a deploy would change (labtui.deploy.preview): the deploy dialog shows it before the operator decides."""

    async def preview(self, hosts: Sequence[Host], method: str | None,
                      emit: Callable[[RunEvent], None] | None = None) -> Preview:
        """Build what the flake would deploy and compare it with each host; `emit` gets the build's progress."""
        ...


@dataclass(frozen=True)
class Sources:
    """Everything the app reads and drives. Without `deploy`, `history` or `ops` those views say they are not
    available; `closers` are awaited (in order) when the app is done with the sources."""

    status: StatusSource
    deploy: DeployStarter | None = None
    history: HistorySource | None = None
    ops: OpsSource | None = None
    exec: ExecSource | None = None
    preview: PreviewSource | None = None
    closers: tuple[Callable[[], Awaitable[None]], ...] = ()

    async def aclose(self) -> None:
        for close in self.closers:
            await close()
