"""The event union: every kind round-trips through JSON; unknown kinds are refused, not guessed."""

from __future__ import annotations

import json
from typing import get_args

import pytest

from labtui.runs.events import (
    EVENT_TYPES,
    ActivationWindow,
    BuildProgress,
    CheckResultEvent,
    Confirmed,
    ConfirmWindow,
    ExecResult,
    FailedBuild,
    GenerationSwitched,
    NodeResult,
    NodeState,
    Output,
    PasswordPrompt,
    PlanEntry,
    Prompt,
    PromptAnswered,
    RebootProgress,
    Rollback,
    RollbackResult,
    RunEvent,
    RunningBuild,
    RunResult,
    RunStarted,
    StageChanged,
    Stall,
    UnknownEvent,
    WaveResult,
    WaveStarted,
    event_from_dict,
)

ONE_OF_EACH: list[RunEvent] = [
    RunStarted(ts=1.0, run_id="r", method="deploy-rs", nodes=["web1"], argv=["deploy", ".#web1"],
               argvs=[["deploy", ".#web1"]], waves=[["web1"]]),
    WaveStarted(ts=1.0, wave=1, waves=2, nodes=["web1"]),
    WaveResult(ts=2.0, wave=1, ok=False, message="wave 1 failed: web1 failed", rolled_back=["web1"]),
    RunResult(ts=2.0, outcome="failed", exit_code=None, message="web1 rolled back"),
    StageChanged(ts=1.1, node=None, profile=None, stage="eval"),
    ConfirmWindow(ts=1.2, node="web1", profile="system", seconds=30),
    ActivationWindow(ts=1.2, node="web1", profile="system", seconds=240),
    Confirmed(ts=1.3, node="web1", profile="system"),
    Rollback(ts=1.4, node="web1", profile="system", rollback_kind="magic", generation_removed=42),
    GenerationSwitched(ts=1.4, node="web1", from_generation=42, to_generation=41),
    Prompt(ts=1.0, plan=[PlanEntry(node="web1", profile="system", path="/nix/store/x", ssh_opts=["-p", "2"])]),
    Output(ts=1.0, node="web1", stage="build", line="building", source="raw"),
    Stall(ts=1.0, node=None, stage="push", seconds=60.0, hint="ControlMaster"),
    NodeResult(ts=1.5, node="web1", profile="system", outcome="rolled_back", stage="activate", message="m"),
    PasswordPrompt(ts=1.0, node="web1", hostname="web1.lan"),
    PromptAnswered(ts=1.0, node=None, yes=True),
    NodeState(ts=1.0, node="web1", when="after", path="/nix/store/y", generation=43),
    CheckResultEvent(ts=1.0, node="web1", check="nginx", check_kind="unit", ok=False, attempts=4, message="failed",
                     duration=2.5),
    RebootProgress(ts=1.0, node="web1", phase="down", message="SSH went away", elapsed=3.0),
    RollbackResult(ts=1.0, node="web1", from_generation=43, to_generation=42, ok=True, message="switched"),
    ExecResult(ts=1.0, node="web1", exit_code=None, duration=2.0, timed_out=True, error="did not finish"),
    BuildProgress(ts=1.0, node="web1", built=2, to_build=5, fetched=1, to_fetch=3, bytes_fetched=10,
                  bytes_to_fetch=30, running=[RunningBuild(drv="/nix/store/a-x.drv", name="x", phase="buildPhase",
                                                           last_line="cc -c x.c", started=0.5)],
                  failed=[FailedBuild(drv="/nix/store/b-y.drv", name="y", reason="with exit code 1", tail=["e"])]),
]


def test_every_kind_of_the_union_round_trips_through_json():
    assert {type(e) for e in ONE_OF_EACH} == set(get_args(RunEvent)) == set(EVENT_TYPES.values())
    for event in ONE_OF_EACH:
        assert event_from_dict(json.loads(json.dumps(event.to_dict()))) == event


def test_documented_field_names():
    rollback = Rollback(ts=1.0, node="a", profile=None, rollback_kind="auto").to_dict()
    assert rollback["event"] == "rollback" and rollback["kind"] == "auto" and "rollback_kind" not in rollback


def test_unknown_or_damaged_events_are_refused():
    with pytest.raises(UnknownEvent):
        event_from_dict({"event": "from_the_future", "ts": 1.0})
    with pytest.raises(UnknownEvent):
        event_from_dict({"ts": 1.0})
    with pytest.raises(UnknownEvent):
        event_from_dict({"event": "node_result", "ts": 1.0})  # no node, no outcome
    # Fields a newer version added are dropped, the event stays readable.
    assert event_from_dict({"event": "confirmed", "ts": 1.0, "node": "a", "profile": "s", "new": 1}) == Confirmed(
        ts=1.0, node="a", profile="s")
