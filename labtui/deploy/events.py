"""The one event stream every deploy produces, whatever ran it (deploy-rs or nixos-rebuild).

Each event is a frozen dataclass; `to_dict()` gives the JSON object documented in docs/events.md,
with `event` (the kind) and `ts` (seconds since the epoch, float). `event_from_dict` reverses it,
so the journal can store events and replay them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Literal

Stage = Literal["check", "eval", "build", "push", "activate", "confirm", "revoke", "health"]
Outcome = Literal["succeeded", "dry_activated", "rolled_back", "failed", "not_deployed"]
RunOutcome = Literal["succeeded", "failed", "cancelled"]
RollbackKind = Literal["auto", "magic", "revoke", "health"]

STAGES: tuple[str, ...] = ("check", "eval", "build", "push", "activate", "confirm", "revoke", "health")


@dataclass(frozen=True, kw_only=True)
class Event:
    kind: ClassVar[str] = "event"
    ts: float

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {"event": self.kind, "ts": data.pop("ts"), **data}


@dataclass(frozen=True, kw_only=True)
class RunStarted(Event):
    kind: ClassVar[str] = "run_started"
    run_id: str
    method: str  # "deploy-rs" | "nixos-rebuild"
    nodes: list[str]
    argv: list[str]
    argvs: list[list[str]] = field(default_factory=list)  # every process of the run (parallel: one per node)


@dataclass(frozen=True, kw_only=True)
class StageChanged(Event):
    kind: ClassVar[str] = "stage"
    node: str | None  # None for run-wide stages (check and eval of a whole flake)
    profile: str | None
    stage: str


@dataclass(frozen=True, kw_only=True)
class ConfirmWindow(Event):
    """The target started waiting `seconds` for confirmation (magic rollback)."""

    kind: ClassVar[str] = "confirm_window"
    node: str
    profile: str
    seconds: int


@dataclass(frozen=True, kw_only=True)
class ActivationWindow(Event):
    """The target's `wait` started: activation must create the canary within `seconds`."""

    kind: ClassVar[str] = "activation_window"
    node: str
    profile: str
    seconds: int


@dataclass(frozen=True, kw_only=True)
class Confirmed(Event):
    """`Deployment confirmed.`: provisional until deploy-rs moves on or exits."""

    kind: ClassVar[str] = "confirmed"
    node: str
    profile: str


@dataclass(frozen=True, kw_only=True)
class Rollback(Event):
    kind: ClassVar[str] = "rollback"
    node: str
    profile: str | None
    rollback_kind: RollbackKind
    generation_removed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["kind"] = d.pop("rollback_kind")  # the documented field name is `kind`
        return d


@dataclass(frozen=True, kw_only=True)
class PlanEntry:
    node: str
    profile: str
    user: str | None = None
    ssh_user: str | None = None
    path: str | None = None
    hostname: str | None = None
    ssh_opts: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Prompt(Event):
    """deploy-rs --interactive printed its plan and asks `> `."""

    kind: ClassVar[str] = "prompt"
    plan: list[PlanEntry]
    question: str = "Are you sure you want to deploy these profiles?"


@dataclass(frozen=True, kw_only=True)
class Output(Event):
    kind: ClassVar[str] = "output"
    node: str | None
    stage: str | None
    line: str  # ANSI stripped
    source: str = "local"  # local | activate | wait | revoke | confirm (deploy-rs tag), or "raw"


@dataclass(frozen=True, kw_only=True)
class Stall(Event):
    kind: ClassVar[str] = "stall"
    node: str | None
    stage: str | None
    seconds: float
    hint: str


@dataclass(frozen=True, kw_only=True)
class NodeResult(Event):
    kind: ClassVar[str] = "node_result"
    node: str
    profile: str | None
    outcome: Outcome
    stage: str | None  # where it ended (e.g. "build" for a build failure)
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class RunResult(Event):
    kind: ClassVar[str] = "run_result"
    outcome: RunOutcome
    exit_code: int | None
    message: str = ""  # why the run failed or was cancelled, in one line ("" on success)


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (RunStarted, StageChanged, ConfirmWindow, ActivationWindow, Confirmed, Rollback, Prompt,
                Output, Stall, NodeResult, RunResult)
}


def register_event(cls: type[Event]) -> type[Event]:
    """Let other core modules (health gate, reboots) add event kinds to the same stream."""
    EVENT_TYPES[cls.kind] = cls
    return cls


# Modules that add kinds with register_event; imported on first sight of an unknown kind, so any process
# replaying a journal (history, a follower of a detached run) knows them without importing them itself.
EXTENSION_MODULES: tuple[str, ...] = ("labtui.ops.events",)


def event_from_dict(data: dict[str, Any]) -> Event:
    data = dict(data)
    kind = data.pop("event")
    if kind not in EVENT_TYPES:
        import importlib

        for module in EXTENSION_MODULES:
            importlib.import_module(module)
    cls = EVENT_TYPES[kind]
    if cls is Rollback and "kind" in data:
        data["rollback_kind"] = data.pop("kind")
    if cls is Prompt:
        data["plan"] = [PlanEntry(**p) for p in data.get("plan", [])]
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in known})
