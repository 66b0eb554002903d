"""What the TUI needs from the core, as small interfaces: the app is built from these, tests inject fakes.

The real implementations live in the core packages (labtui.status.poller, labtui.deploy.*,
labtui.ops.*); `labtui.tui.adapters` wires them to these shapes.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from labtui.runs.events import Event
from labtui.inventory.model import Host
from labtui.status.model import HostStatus

Method = Literal["deploy-rs", "nixos-rebuild"]
Action = Literal["switch", "boot", "dry-activate"]
Mode = Literal["parallel", "atomic"]

METHODS: tuple[str, ...] = ("deploy-rs", "nixos-rebuild")
ACTIONS: tuple[str, ...] = ("switch", "boot", "dry-activate")
MODES: tuple[str, ...] = ("parallel", "atomic")


class StatusSource(Protocol):
    """Live status of the hosts (labtui.status.poller.StatusPoller has this shape)."""

    def stream(self) -> AsyncIterator[HostStatus]: ...

    def refresh(self, host: str | None = None) -> Any: ...  # may be a coroutine

    def snapshot(self) -> Mapping[str, HostStatus] | Iterable[HostStatus]: ...


@dataclass(frozen=True)
class DeployChoice:
    """What the operator chose in the deploy dialog."""

    hosts: tuple[str, ...]
    method: str = "deploy-rs"
    action: str = "switch"
    mode: str = "parallel"  # parallel: one deploy per host; atomic: one deploy-rs run over all (rollback together)
    magic_rollback: bool = True
    auto_rollback: bool = True
    skip_checks: bool = False
    show_plan: bool = True  # deploy-rs --interactive: its own plan is shown and answered in the TUI
    extra: Mapping[str, Any] = field(default_factory=dict)


class DeployHandle(Protocol):
    """A running deploy (labtui.deploy.orchestrator.DeployRun has this shape)."""

    def events(self) -> AsyncIterator[Event]: ...

    def cancel(self) -> Any: ...  # may be a coroutine

    def answer_prompt(self, yes: bool, node: str | None = None) -> Any: ...  # None: every waiting question


PasswordAsker = Callable[[str], Awaitable[str | None]]  # host -> sudo password, None when cancelled


class DeployStarter(Protocol):
    def __call__(self, hosts: list[Host], choice: DeployChoice, ask_password: PasswordAsker) -> Any:
        """Start a deploy; returns a DeployHandle (or an awaitable of one)."""
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
    argv: tuple[str, ...] = ()


class HistorySource(Protocol):
    def list_runs(self, host: str | None = None) -> list[RunSummary]: ...

    def run_events(self, run_id: str) -> list[Event]: ...

    def last_outcome(self, host: str) -> str | None: ...


async def maybe_await(value: Any) -> Any:
    """Call sites accept sync and async implementations alike."""
    if inspect.isawaitable(value):
        return await value
    return value
