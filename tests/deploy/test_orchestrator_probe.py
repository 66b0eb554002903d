"""The probe after a deploy (issue 10 points 5 and 7): the `after` node_state is in the run's event stream before its
result, a host where an activation still runs is asked again until it is done, and when the host contradicts the
tool's report the probe wins and a new node_result says so (labtui.deploy.probe.judge)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from labtui.deploy import orchestrator
from labtui.deploy.probe import judge, probe_node
from labtui.ops.generations import SYSTEM_STATE_SCRIPT, parse_system_state
from labtui.runs.events import NodeResult, NodeState, Output, RunResult, SystemState
from tests.deploy.emulated import emulated  # noqa: F401  (fixture)
from tests.deploy.test_orchestrator import deploy, outcomes, run_all

OLD = SystemState(path="/nix/store/a-system", generation=7, profile_generation=7, profile_path="/nix/store/a-system")
NEW = SystemState(path="/nix/store/b-system", generation=8, profile_generation=8, profile_path="/nix/store/b-system")
# deploy-rs: the profile holds the activatable wrapper, /run/current-system the system inside it
WRAPPED_OLD = SystemState(path="/nix/store/a-system", generation=7, profile_generation=7,
                          profile_path="/nix/store/w-activatable-a")
WRAPPED_NEW = SystemState(path="/nix/store/b-system", generation=8, profile_generation=8,
                          profile_path="/nix/store/x-activatable-b")


def result(outcome: str, message: str = "deploy-rs said so") -> NodeResult:
    return NodeResult(ts=1.0, node="web1", profile="system", outcome=outcome, stage="activate",  # type: ignore[arg-type]
                      message=message)


def test_a_claimed_rollback_of_a_host_that_kept_the_new_generation():
    verdict = judge(result("rolled_back"), WRAPPED_OLD, WRAPPED_NEW, "switch", planned="/nix/store/x-activatable-b")
    assert verdict is not None and verdict.outcome == "failed"
    assert "the probe wins" in verdict.message and "generation 8" in verdict.message
    assert "deploy-rs said so" in verdict.message


def test_a_failure_on_a_host_back_on_its_old_system_is_a_rollback():
    verdict = judge(result("failed", "the rollback failed too"), OLD, OLD, "switch")
    assert verdict is not None and verdict.outcome == "rolled_back" and "as before the deploy" in verdict.message


def test_a_failure_the_host_kept_says_so():
    verdict = judge(result("failed", "check the host"), OLD, NEW, "switch")
    assert verdict is not None and verdict.outcome == "failed" and "nothing rolled it back" in verdict.message


def test_a_failed_switch_that_moved_only_the_profile():
    half = SystemState(path=OLD.path, generation=7, profile_generation=8, profile_path="/nix/store/b-system")
    verdict = judge(result("failed"), OLD, half, "switch")
    assert verdict is not None and "profile is on the new generation 8 (it boots next)" in verdict.message


def test_a_claimed_success_of_a_host_not_on_the_deployed_system():
    verdict = judge(result("succeeded"), WRAPPED_OLD, WRAPPED_OLD, "switch", planned="/nix/store/x-activatable-b")
    assert verdict is not None and verdict.outcome == "rolled_back"


@pytest.mark.parametrize("outcome, before, after, action, planned", [
    ("succeeded", WRAPPED_OLD, WRAPPED_NEW, "switch", "/nix/store/x-activatable-b"),
    ("succeeded", OLD, OLD, "switch", "/nix/store/a-system"),  # the same closure again: nothing to move
    ("succeeded", OLD, OLD, "switch", None),  # without the plan, a success is not second-guessed
    ("rolled_back", OLD, OLD, "switch", None),
    ("succeeded", OLD, SystemState(path=OLD.path, generation=7, profile_generation=8,
                                   profile_path="/nix/store/b-system"), "boot", None),
    ("dry_activated", OLD, OLD, "dry-activate", None),
    ("failed", None, NEW, "switch", None),  # no before state: nothing to compare
])
def test_agreement_leaves_the_result_alone(outcome, before, after, action, planned):
    assert judge(result(outcome), before, after, action, planned) is None


def test_system_state_of_a_deploy_rs_host():
    """The probe script's lines: the running generation through the activatable wrapper, and an activation."""
    stdout = ("current\t/nix/store/b-system\nprofile\tsystem-8-link\t/nix/store/x-activatable-b\nrunning\t8\n"
              "activating\t1\n")
    assert parse_system_state(stdout) == SystemState(path="/nix/store/b-system", generation=8, profile_generation=8,
                                                     profile_path="/nix/store/x-activatable-b", activating=True)
    # a system that is none of the generations (nixos-rebuild test) still has its path: never an empty probe
    state = parse_system_state("current\t/nix/store/t-test\nprofile\tsystem-8-link\t/nix/store/b\nactivating\t0\n")
    assert (state.path, state.generation, state.profile_generation) == ("/nix/store/t-test", None, 8)


def test_the_probe_script_never_sees_itself_as_an_activation():
    """It looks for `…/activate activate …` among the host's command lines, its own included: its text must not
    contain what it looks for."""
    for words in ("/activate activate ", "/activate revoke ", "/activate-rs activate ", "/activate-rs revoke "):
        assert words not in SYSTEM_STATE_SCRIPT


def test_the_probe_script_counts_activations_in_its_own_mount_namespace_only():
    """A testbed host (or a container) shares the machine's process table: the deploying side's own `ssh host
    …/activate-rs activate …` is no activation on the host. Run for real, in this namespace and in a new one."""
    if not Path("/nix/var/nix/profiles").is_dir():
        pytest.skip("no /nix/var/nix/profiles (nix is not installed)")
    sleeper = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()", "/nix/store/x/activate-rs",
                                "activate", "/nix/store/y"], stdin=subprocess.PIPE)
    try:  # Popen returns once the child exec'd: its command line is in /proc
        here = subprocess.run(["/bin/sh", "-c", SYSTEM_STATE_SCRIPT], capture_output=True, text=True, check=True)
        assert parse_system_state(here.stdout).activating
        if os.geteuid() == 0:
            elsewhere = subprocess.run(["unshare", "--mount", "/bin/sh", "-c", SYSTEM_STATE_SCRIPT],
                                       capture_output=True, text=True, check=True)
            assert not parse_system_state(elsewhere.stdout).activating
            assert elsewhere.stderr == ""
    finally:
        sleeper.communicate(b"")


async def test_a_probe_never_comes_back_empty_without_a_reason():
    """Point 7: a reachable host that names no running system gets an error saying so, not `path: null` alone."""
    async def nothing_runs(node: str) -> SystemState:
        return SystemState(path=None, generation=None, profile_generation=3, profile_path="/nix/store/p")

    event, state = await probe_node(nothing_runs, "web1", "before")
    assert event.path is None and event.error == "the host names no running system (no /run/current-system)"
    assert state is not None and state.profile_generation == 3
    event, _ = await probe_node(lambda node: _answer(NEW), "web1", "after")
    assert event.error == "" and event.path == NEW.path


async def _answer(state: SystemState) -> SystemState:
    return state


class ScriptedProbe:
    """Answers from a list per node and call (the last answer repeats)."""

    def __init__(self, answers: dict[str, list[SystemState]]) -> None:
        self.answers = answers
        self.calls: dict[str, int] = {}

    async def __call__(self, node: str) -> SystemState:
        n = self.calls.get(node, 0)
        self.calls[node] = n + 1
        seq = self.answers[node]
        return seq[min(n, len(seq) - 1)]


async def test_the_after_probe_beats_a_claimed_rollback(emulated):
    emulated.scenario({"web1": "activation-fails"})  # the emulator's deploy-rs reports an automatic rollback
    probe = ScriptedProbe({"web1": [OLD, NEW]})
    run = deploy(["web1"])
    run.probe = probe
    events = await run_all(run)
    results = [e for e in events if isinstance(e, NodeResult)]
    assert [r.outcome for r in results] == ["rolled_back", "failed"]
    assert "the probe wins" in results[-1].message
    states = [(e.when, e.generation) for e in events if isinstance(e, NodeState)]
    assert states == [("before", 7), ("after", 8)]
    assert isinstance(events[-1], RunResult) and events[-1].outcome == "failed"
    assert events.index(results[-1]) < len(events) - 1


async def test_a_host_still_activating_is_asked_again(emulated, monkeypatch):
    monkeypatch.setattr(orchestrator, "SETTLE_POLL", 0.01)
    emulated.scenario({"web1": "success"})
    busy = SystemState(path=NEW.path, generation=8, profile_generation=8, activating=True)
    probe = ScriptedProbe({"web1": [OLD, busy, busy, NEW]})
    run = deploy(["web1"])
    run.probe = probe
    events = await run_all(run)
    assert probe.calls["web1"] == 4
    notes = [e.line for e in events if isinstance(e, Output) and e.source == "labtui"]
    assert any("an activation still runs on web1" in n for n in notes)
    after = [e for e in events if isinstance(e, NodeState) and e.when == "after"]
    assert len(after) == 1 and after[0].generation == 8
    assert outcomes(events) == {"web1": "succeeded"}


async def test_nodes_not_deployed_are_not_probed_after(emulated):
    emulated.scenario({"web1": "build-fails"})
    probe = ScriptedProbe({"web1": [OLD]})
    run = deploy(["web1"])
    run.probe = probe
    events = await run_all(run)
    assert [e.when for e in events if isinstance(e, NodeState)] == ["before"]
