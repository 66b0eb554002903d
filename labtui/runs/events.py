"""Every event a run can produce (deploys, health gates, reboots, rollbacks), as one closed union.

Each event is a frozen dataclass; `to_dict()` gives the JSON object documented in docs/events.md, with
`event` (the kind) and `ts` (seconds since the epoch, float). `event_from_dict` reverses it for the kinds
of `RunEvent`, so the journal can store events and any process can replay them. Readers dispatch with
`match event: case NodeResult(): ...` and end with `case _: assert_never(event)`, so mypy reports a reader
that forgot a kind added here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Literal, get_args

Stage = Literal["check", "eval", "build", "push", "activate", "confirm", "revoke", "health"]
# How they read for people (word, glyph): labtui.runs.outcomes, the one table every face uses.
Outcome = Literal["succeeded", "dry_activated", "rolled_back", "failed", "not_deployed", "cancelled", "unknown"]
RunOutcome = Literal["succeeded", "failed", "cancelled", "lost"]
RollbackKind = Literal["auto", "magic", "revoke", "health"]
RebootPhase = Literal["waiting", "rebooting", "down", "back", "starting", "checks", "done", "failed", "skipped"]

GOOD_OUTCOMES: tuple[str, ...] = ("succeeded", "dry_activated")


@dataclass(frozen=True, kw_only=True)
class Event:
    """The base of every kind: a timestamp and the JSON form."""

    kind: ClassVar[str] = "event"
    ts: float

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {"event": self.kind, "ts": data.pop("ts"), **data}

    @classmethod
    def from_fields(cls, data: dict[str, Any]) -> Event:
        """The event from its JSON fields (without `event`); unknown fields (a newer version's) are dropped."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# ---- the run ------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RunStarted(Event):
    kind: ClassVar[str] = "run_started"
    run_id: str
    method: str  # the deploy method(s), comma-separated; "labtui" for ops actions (rollback, reboot)
    nodes: list[str]
    argv: list[str]
    argvs: list[list[str]] = field(default_factory=list)  # every process of the run (parallel: one per node)
    waves: list[list[str]] = field(default_factory=list)  # the run's plan of waves ([]: all nodes at once)


@dataclass(frozen=True, kw_only=True)
class RunResult(Event):
    kind: ClassVar[str] = "run_result"
    outcome: RunOutcome
    exit_code: int | None
    message: str = ""  # why the run failed or was cancelled, in one line ("" on success)


# ---- deploy progress (parsers) --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class StageChanged(Event):
    kind: ClassVar[str] = "stage"
    node: str | None  # None for run-wide stages (check and eval of a whole flake)
    profile: str | None
    stage: str  # a Stage


@dataclass(frozen=True, kw_only=True)
class ConfirmWindow(Event):
    """The target started waiting `seconds` for confirmation (magic rollback)."""

    kind: ClassVar[str] = "confirm_window"
    node: str
    profile: str
    seconds: int
    source: str = ""  # where `seconds` came from: "flake", "--confirm-timeout", "log", "deploy-rs's default"


@dataclass(frozen=True, kw_only=True)
class ActivationWindow(Event):
    """deploy-rs started the target's `wait` (`Creating activation waiter`): activation must end within `seconds`."""

    kind: ClassVar[str] = "activation_window"
    node: str
    profile: str
    seconds: int
    source: str = ""  # where `seconds` came from, as for confirm_window


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

    @classmethod
    def from_fields(cls, data: dict[str, Any]) -> Event:
        data = dict(data)
        if "kind" in data:
            data["rollback_kind"] = data.pop("kind")
        return super().from_fields(data)


@dataclass(frozen=True, kw_only=True)
class GenerationSwitched(Event):
    """nix-env moved a profile from one generation to another (`switching profile from version N to M`).

    During a deploy a switch backwards is a rollback of the deploy's new generation."""

    kind: ClassVar[str] = "generation_switched"
    node: str | None  # None when the parser cannot tell (the orchestrator fills it in for one-node processes)
    from_generation: int
    to_generation: int


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

    @classmethod
    def from_fields(cls, data: dict[str, Any]) -> Event:
        data = dict(data)
        data["plan"] = [PlanEntry(**entry) for entry in data.get("plan", [])]
        return super().from_fields(data)


@dataclass(frozen=True, kw_only=True)
class Output(Event):
    kind: ClassVar[str] = "output"
    node: str | None
    stage: str | None
    line: str  # ANSI stripped
    source: str = "local"  # local | activate | wait | revoke | confirm (deploy-rs tag), raw, tty, rollback,
    #                        stdout | stderr (exec), build (a builder's line, `name> line`, from labtui's build)


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


# ---- questions to the operator (orchestrator) ---------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PasswordPrompt(Event):
    """deploy-rs asks for the sudo password of `hostname` (interactiveSudo); answer with `send_password`."""

    kind: ClassVar[str] = "password_prompt"
    node: str | None
    hostname: str


@dataclass(frozen=True, kw_only=True)
class PromptAnswered(Event):
    """The operator answered deploy-rs's question (never a password)."""

    kind: ClassVar[str] = "prompt_answered"
    node: str | None
    yes: bool


# ---- around the deploy: probes, health checks, rollbacks, reboots ----------------------------------------


@dataclass(frozen=True)
class SystemState:
    """What a host runs, as a probe reads it on the host (not an event: `NodeState` carries it)."""

    path: str | None  # /run/current-system: the system that runs now
    generation: int | None  # the system profile's generation that runs, when it is one of them
    profile_generation: int | None = None  # what the system profile points to: the generation that boots next
    profile_path: str | None = None  # that generation's store path
    activating: bool = False  # an activation (deploy-rs's activate-rs activate/revoke) still runs on the host


@dataclass(frozen=True, kw_only=True)
class NodeState(Event):
    """A node's running system before or after the deploy (from the optional probe)."""

    kind: ClassVar[str] = "node_state"
    node: str
    when: Literal["before", "after"]
    path: str | None = None  # what runs (/run/current-system)
    generation: int | None = None  # its generation number, when it is one of the system profile's
    profile_generation: int | None = None  # the system profile's generation (boots next)
    profile_path: str | None = None
    error: str = ""


@dataclass(frozen=True, kw_only=True)
class CheckResultEvent(Event):
    """One health check finished on a node (after its retries)."""

    kind: ClassVar[str] = "check_result"
    node: str
    check: str  # the check's name
    check_kind: str  # unit | http | tcp | command | disk | memory | load | failed-units
    ok: bool
    attempts: int
    message: str
    duration: float


@dataclass(frozen=True, kw_only=True)
class RebootProgress(Event):
    """A host moved one step through reboot → back to service."""

    kind: ClassVar[str] = "reboot_progress"
    node: str
    phase: str  # a RebootPhase
    message: str = ""
    elapsed: float = 0.0


@dataclass(frozen=True, kw_only=True)
class RollbackResult(Event):
    """A generation switch (manual rollback or health-gate rollback) finished."""

    kind: ClassVar[str] = "rollback_result"
    node: str
    from_generation: int | None
    to_generation: int
    ok: bool
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class RunningBuild:
    """A derivation being built for a node (shared derivations are listed for every node that needs them)."""

    drv: str
    name: str  # the derivation's name without hash and `.drv` (what `nix build -L` prefixes its lines with)
    phase: str = ""  # stdenv's phase when the builder reports it
    last_line: str = ""  # the builder's last log line (ANSI kept; faces make it harmless)
    started: float = 0.0


@dataclass(frozen=True, kw_only=True)
class FailedBuild:
    drv: str
    name: str
    reason: str  # Nix's words: `with exit code 1`, `1 dependency failed`
    tail: list[str] = field(default_factory=list)  # the builder's last log lines


@dataclass(frozen=True, kw_only=True)
class BuildProgress(Event):
    """Where a node's build stands while labtui builds the profiles (one `nix-store --realise` for all nodes)."""

    kind: ClassVar[str] = "build_progress"
    node: str
    built: int  # derivations of this node built so far
    to_build: int  # derivations of this node this build builds (its share of Nix's plan)
    fetched: int = 0  # store paths of this node substituted so far
    to_fetch: int = 0
    bytes_fetched: int = 0  # unpacked (NAR) bytes
    bytes_to_fetch: int = 0
    running: list[RunningBuild] = field(default_factory=list)
    failed: list[FailedBuild] = field(default_factory=list)
    done: bool = False  # Nix is done with this node's share (see `failed` for how it went)

    @classmethod
    def from_fields(cls, data: dict[str, Any]) -> Event:
        data = dict(data)
        data["running"] = [RunningBuild(**b) for b in data.get("running", [])]
        data["failed"] = [FailedBuild(**b) for b in data.get("failed", [])]
        return super().from_fields(data)


@dataclass(frozen=True, kw_only=True)
class WaveStarted(Event):
    """A wave of the deploy starts (`--waves`): its nodes are deployed now, the next wave waits for their health."""

    kind: ClassVar[str] = "wave_started"
    wave: int  # 1-based
    waves: int  # how many the plan has
    nodes: list[str]


@dataclass(frozen=True, kw_only=True)
class WaveResult(Event):
    """A wave ended: every node of it deployed and healthy (`ok`), or the run stops here."""

    kind: ClassVar[str] = "wave_result"
    wave: int
    ok: bool
    message: str = ""  # why it failed ("" when ok)
    rolled_back: list[str] = field(default_factory=list)  # nodes of the wave rolled back because it failed


@dataclass(frozen=True, kw_only=True)
class ExecResult(Event):
    """A command run on a host by `labtui exec` (or the TUI's exec) ended; its output came as `output` events
    with source `stdout`/`stderr`."""

    kind: ClassVar[str] = "exec_result"
    node: str
    exit_code: int | None  # None: it did not exit by itself (timeout, signal, lost connection, never started)
    duration: float
    timed_out: bool = False
    error: str = ""  # why it did not run or did not finish ("" when it exited)


RunEvent = (RunStarted | RunResult | StageChanged | ConfirmWindow | ActivationWindow | Confirmed | Rollback
            | GenerationSwitched | Prompt | Output | Stall | NodeResult | PasswordPrompt | PromptAnswered
            | NodeState | CheckResultEvent | RebootProgress | RollbackResult | ExecResult | BuildProgress
            | WaveStarted | WaveResult)

EVENT_TYPES: dict[str, type[Event]] = {cls.kind: cls for cls in get_args(RunEvent)}


class UnknownEvent(ValueError):
    """A JSON object that is not an event of this version (a newer labtui wrote it, or it is damaged)."""


def event_from_dict(data: dict[str, Any]) -> RunEvent:
    """The event of a `to_dict()` object; UnknownEvent for a kind `RunEvent` does not have."""
    data = dict(data)
    kind = data.pop("event", None)
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise UnknownEvent(f"unknown event kind {kind!r}")
    try:
        event = cls.from_fields(data)
    except TypeError as exc:  # a required field missing
        raise UnknownEvent(f"malformed {kind} event: {exc}") from None
    return event  # type: ignore[return-value]  # EVENT_TYPES holds exactly the classes of RunEvent

