"""Event kinds the ops modules add to the deploy stream (and so to the journal).

Importing this module registers them with `labtui.deploy.events`, so `event_from_dict` can replay them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from labtui.deploy.events import Event, register_event

RebootPhase = Literal["waiting", "rebooting", "down", "back", "starting", "checks", "done", "failed", "skipped"]


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


for _cls in (CheckResultEvent, RebootProgress, RollbackResult):
    register_event(_cls)


def describe(event: Event) -> str | None:
    """One line for people (deploy printer, TUI logs) for the ops event kinds; None for other kinds."""
    if isinstance(event, CheckResultEvent):
        tries = f"{event.attempts} attempt{'s' if event.attempts != 1 else ''}, {event.duration:.1f}s"
        verdict = "ok" if event.ok else "FAILED"
        return f"check {event.check}: {verdict}: {event.message} ({tries})"
    if isinstance(event, RebootProgress):
        return f"reboot {event.phase}" + (f": {event.message}" if event.message else "")
    if isinstance(event, RollbackResult):
        return f"rollback to generation {event.to_generation}: {'ok' if event.ok else 'FAILED'}: {event.message}"
    return None
