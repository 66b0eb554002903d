"""DeployRsParser on output recorded from the real deploy-rs 1.0 (d5eff7f) with Nix 2.8 on the testbed
(tests/deploy/logs/real, see its README): every outcome is checked against the host's real state, not against
deploy-rs's words."""

from __future__ import annotations

import pytest

from labtui.deploy.parse.deploy_rs import DeployRsParser
from labtui.runs.events import (
    ActivationWindow,
    ConfirmWindow,
    NodeResult,
    Output,
    Rollback,
    RunResult,
    StageChanged,
)
from tests.deploy.real_logs import names, recorded, replay, targets_of

H1 = ("host1", "system")
H2 = ("host2", "system")
H3 = ("host3", "system")

# scenario -> {target: (outcome, stage)}; what the parser alone (no probe) must conclude.
EXPECTED = {
    "success-single": {H1: ("succeeded", "confirm")},
    "success-debug": {H1: ("succeeded", "confirm")},
    "success-with-wait": {H1: ("succeeded", "confirm")},
    "canary-exists": {H1: ("succeeded", "confirm")},
    "success-two-nodes": {H1: ("succeeded", "confirm"), H2: ("succeeded", "confirm")},
    "prime-three-nodes": {H1: ("succeeded", "confirm"), H2: ("succeeded", "confirm"), H3: ("succeeded", "confirm")},
    "skip-checks": {H1: ("succeeded", "confirm")},
    "stale-canary": {H1: ("succeeded", "confirm")},
    "killed-session": {H1: ("succeeded", "confirm")},
    "interactive-yes": {H1: ("succeeded", "confirm")},
    "boot": {H1: ("succeeded", "activate")},
    "dry-activate": {H1: ("dry_activated", "activate")},
    "parallel-one-failing-a": {H1: ("succeeded", "confirm")},
    "activation-failure": {H1: ("rolled_back", "activate")},
    "activation-failure-orphan-wait": {H1: ("rolled_back", "activate")},
    "parallel-one-failing-b": {H2: ("rolled_back", "activate")},
    "magic-rollback": {H1: ("rolled_back", "confirm")},
    "magic-rollback-backtrace": {H1: ("rolled_back", "confirm")},
    "link-cut-confirm": {H1: ("rolled_back", "confirm")},
    "activation-timeout": {H1: ("rolled_back", "confirm")},
    "atomic-revoke": {H1: ("rolled_back", "revoke"), H2: ("rolled_back", "activate")},
    # confirmed, then the activation session was killed: the host keeps the new generation
    "killed-session-confirm-window": {H1: ("succeeded", "confirm")},
    # the session died before anything was confirmed: only the host can tell (the after-probe does, see
    # tests/deploy/test_orchestrator_probe.py); the parser must not claim a rollback
    "killed-session-now": {H1: ("failed", "activate")},
    # the profile went back, but re-activating the old (non-deploy-rs) generation failed: the parser cannot know
    # what runs; the after-probe can
    "activation-failure-first-deploy": {H1: ("failed", "activate")},
    "activation-failure-first-deploy-orphan-wait": {H1: ("failed", "activate")},
    # a build or copy failure: `failed` at that stage for its target, the others `not_deployed`
    "host-down": {H1: ("failed", "push")},
    "build-failure": {H1: ("failed", "build")},
    "build-failure-two-nodes": {H1: ("not_deployed", "build"), H2: ("failed", "build")},
    "eval-error": {("host1", None): ("not_deployed", "eval")},
    "flake-check-fail": {("host1", None): ("not_deployed", "check")},
    "no-such-node": {("host9", None): ("not_deployed", "eval")},
    "interactive-no": {H1: ("not_deployed", "eval")},
    "usage-error": {("host1", None): ("not_deployed", None)},
}
NOT_RUNS = {"deploy-rs/help", "deploy-rs/version"}


def parse(name: str) -> tuple[DeployRsParser, list]:
    run = recorded(f"deploy-rs/{name}")
    argv = run.argv
    parser = DeployRsParser(targets_of(argv) or None, dry_activate="--dry-activate" in argv, boot="--boot" in argv)
    return parser, replay(parser, run)


def finals(events) -> dict:
    return {(e.node, e.profile): (e.outcome, e.stage) for e in events if isinstance(e, NodeResult)}


def test_every_recorded_run_has_an_expectation():
    assert {f"deploy-rs/{n}" for n in EXPECTED} == set(names("deploy-rs")) - NOT_RUNS


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_outcome_of_each_recorded_run(name):
    parser, events = parse(name)
    assert finals(events) == EXPECTED[name]
    run = recorded(f"deploy-rs/{name}")
    results = [e for e in events if isinstance(e, RunResult)]
    assert len(results) == 1
    good = all(o in ("succeeded", "dry_activated") for o, _ in EXPECTED[name].values())
    assert results[0].outcome == ("succeeded" if good else "cancelled" if name == "interactive-no" else "failed")
    assert results[0].exit_code == run.exit_code


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_outcomes_agree_with_the_hosts_real_state(name):
    """succeeded (switch) <=> the host runs a new generation; rolled_back / not_deployed / dry_activated => it does
    not. (`failed` is what the parser says when only the host knows; boot moves the profile, not the system.)"""
    run = recorded(f"deploy-rs/{name}")
    for (node, _profile), (outcome, _stage) in finals(parse(name)[1]).items():
        if node not in run.hosts:
            continue
        if outcome == "succeeded" and "--boot" not in run.argv:
            assert run.changed(node) and run.running_changed(node), node
        elif outcome in ("rolled_back", "not_deployed", "dry_activated") or _stage in ("build", "push"):
            assert not run.running_changed(node), node


def test_the_panic_with_a_thread_id_is_not_output():
    """Point 1: a current rustc prints `thread '…' (PID) panicked at …` after an empty line."""
    _parser, events = parse("magic-rollback")
    shown = [e.line for e in events if isinstance(e, Output)]
    assert not any("panicked at" in line or "SSHActivateExit" in line or "RUST_BACKTRACE" in line for line in shown)
    _parser, events = parse("magic-rollback-backtrace")
    shown = [e.line for e in events if isinstance(e, Output)]
    assert not any("stack backtrace" in line or "details are omitted" in line for line in shown)


def test_a_magic_rollback_without_the_targets_lines_is_still_one():
    """Point 1: the panic's `SSHActivateExit(Some(1))` alone says the target timed out and rolled back."""
    run = recorded("deploy-rs/magic-rollback")
    keep = [i for i, line in enumerate(run.lines) if "[activate]" not in line and "profile version" not in line
            and line != "activating the configuration..."]
    cut = type(run)(name=run.name, argv=run.argv, exit_code=run.exit_code, exit_at=run.exit_at,
                    lines=[run.lines[i] for i in keep], times=[run.times[i] for i in keep],
                    lines_before_exit=len(keep), hosts=run.hosts)
    events = replay(DeployRsParser([H1]), cut)
    assert finals(events) == {H1: ("rolled_back", "confirm")}
    assert [e.rollback_kind for e in events if isinstance(e, Rollback)] == ["magic"]


def test_activation_timeout_follows_the_target_to_its_rollback():
    """Point 2: deploy-rs exits at +5.2 s; the target's success, confirm window and rollback come until +27.4 s."""
    run = recorded("deploy-rs/activation-timeout")
    parser = DeployRsParser([H1], activation_timeouts={H1: 3}, activation_sources={H1: "--activation-timeout"},
                            confirm_timeouts={H1: 10}, confirm_sources={H1: "--confirm-timeout"})
    events = replay(parser, run)
    (result,) = [e for e in events if isinstance(e, NodeResult)]
    assert (result.outcome, result.stage) == ("rolled_back", "confirm")
    assert result.ts > run.exit_at + 20  # decided by the target's late lines, not at deploy-rs's exit
    assert "activation timeout of 3 s (--activation-timeout)" in result.message
    assert "not confirmed within 10 s (--confirm-timeout)" in result.message
    assert "240" not in result.message
    # the target's confirm window after the exit is shown (a countdown to its rollback)
    assert [e.seconds for e in events if isinstance(e, ConfirmWindow)] == [10]
    assert not recorded("deploy-rs/activation-timeout").changed("host1")


def test_activation_timeout_follow_is_bounded():
    run = recorded("deploy-rs/activation-timeout")
    before = run.lines_before_exit
    parser = DeployRsParser([H1], confirm_timeouts={H1: 10})
    events = []
    for line, ts in zip(run.lines[:before], run.times[:before], strict=True):
        events += parser.feed(line.removesuffix("\r"), ts)
    assert parser.follow_after_exit == 10 + 60
    events += parser.finish(1, run.exit_at + 70)  # the follow ended without the target's end
    (result,) = [e for e in events if isinstance(e, NodeResult)]
    assert result.outcome == "failed" and "output ended before it did" in result.message
    assert parser.follow_after_exit is None


@pytest.mark.parametrize("name", ["canary-exists", "stale-canary", "success-single", "atomic-revoke"])
def test_activation_countdown_starts_from_the_waiter_line(name):
    """Point 3: no `[wait]` line when the canary exists first; the countdown starts at `Creating activation waiter`."""
    run = recorded(f"deploy-rs/{name}")
    _parser, events = parse(name)
    windows = [e for e in events if isinstance(e, ActivationWindow)]
    waiters = [t for line, t in zip(run.lines, run.times, strict=True) if "Creating activation waiter" in line]
    assert [w.ts for w in windows] == waiters
    assert all(w.seconds == 240 and w.source == "deploy-rs's default" for w in windows)
    if name in ("canary-exists", "stale-canary"):
        assert not any("[wait]" in line for line in run.lines)


def test_timeouts_learned_from_a_debug_log_say_so():
    _parser, events = parse("success-debug")
    (window,) = [e for e in events if isinstance(e, ConfirmWindow)]
    assert (window.seconds, window.source) == (30, "log")


def test_killed_session_messages_do_not_repeat_deploy_rs_claim():
    """Point 5 (parser side): deploy-rs says `rolled back to previous generation`; the host kept the new one."""
    _parser, events = parse("killed-session-confirm-window")
    (result,) = [e for e in events if isinstance(e, NodeResult)]
    assert "keeps the new generation" in result.message
    _parser, events = parse("killed-session-now")
    (result,) = [e for e in events if isinstance(e, NodeResult)]
    assert "ssh session died" in result.message and "check the host" in result.message
    assert not any(isinstance(e, Rollback) for e in events)


def test_stages_of_a_real_run_come_in_deploy_rs_order():
    _parser, events = parse("success-two-nodes")
    stages = [(e.node, e.stage) for e in events if isinstance(e, StageChanged)]
    assert stages[:2] == [(None, "check"), (None, "eval")]
    assert [s for _, s in stages[2:]] == ["build", "build", "push", "push", "activate", "confirm", "activate",
                                          "confirm"]
