"""`labtui deploy --method nixos-rebuild` driving the real bash nixos-rebuild (../shared/nixos-rebuild, from PATH)
against testbed hosts: switch, boot, test, dry-activate, a build failure, a host that is down, a failing switch and two
hosts in parallel, one failing. Every outcome is checked against the host's real state, read inside its namespaces.
host3 is nixos-rebuild's host (deploy-rs's tests roll back on host1 and host2); the parallel test adds host2 and
leaves it on a whole generation (labtui rollback's tests start from it)."""

from __future__ import annotations

import pytest

from tests.support.testbed import HostState

pytestmark = [pytest.mark.integration, pytest.mark.testbed]


def rebuild(testbed, *args: str):
    return testbed.deploy_json(*args, "--method", "nixos-rebuild", "--yes", timeout=120)


def switched(before: HostState, after: HostState) -> bool:
    assert before.generation is not None
    return after.generation == before.next_generation and after.current_system == after.path != before.current_system


def unchanged(before: HostState, after: HostState) -> bool:
    return (after.generation, after.path, after.current_system) == (before.generation, before.path,
                                                                    before.current_system)


def test_switch_moves_the_host_to_the_new_generation(testbed):
    testbed.flake.configure()
    before = testbed.state("host3")
    run = rebuild(testbed, "host3")
    after = testbed.state("host3")
    assert run.code == 0 and run.outcome("host3") == "succeeded", run
    assert switched(before, after)
    assert run.results()["host3"]["stage"] == "activate"
    assert [s["stage"] for s in run.of("stage", "host3")][-3:] == ["build", "push", "activate"]
    assert run.of("node_state", "host3")[-1]["when"] == "after"
    assert run.of("node_state", "host3")[-1]["path"] == after.current_system
    # ssh's remark about the script's `ssh -t` is no output of the host (point 6)
    assert not any("Pseudo-terminal" in e["line"] for e in run.of("output"))


def test_boot_moves_the_profile_not_the_running_system(testbed):
    testbed.flake.configure()
    before = testbed.state("host3")
    run = rebuild(testbed, "host3", "--boot")
    after = testbed.state("host3")
    assert run.code == 0 and run.outcome("host3") == "succeeded", run
    assert before.generation is not None and after.generation == before.next_generation
    assert after.current_system == before.current_system != after.path
    assert testbed.switches("host3")[-1][0] == "boot"


def test_test_switches_the_running_system_not_the_profile(testbed):
    testbed.flake.configure()
    before = testbed.state("host3")
    run = rebuild(testbed, "host3", "--test")
    after = testbed.state("host3")
    assert run.code == 0 and run.outcome("host3") == "succeeded", run
    assert (after.generation, after.path) == (before.generation, before.path)
    assert after.current_system != before.current_system
    assert testbed.switches("host3")[-1] == ("test", after.current_system)


def test_dry_activate_changes_nothing(testbed):
    testbed.flake.configure()
    before = testbed.state("host3")
    run = rebuild(testbed, "host3", "--dry-activate")
    assert run.code == 0 and run.outcome("host3") == "dry_activated", run
    assert unchanged(before, testbed.state("host3"))
    assert testbed.switches("host3")[-1][0] == "dry-activate"


def test_a_build_failure_changes_nothing(testbed):
    """labtui's own build first (the host is then not deployed), and nixos-rebuild's build (--no-build-first)."""
    testbed.flake.configure(fail_build=["host3"])
    before = testbed.state("host3")
    switches = testbed.switches("host3")
    for flags, outcome in (((), "not_deployed"), (("--no-build-first",), "failed")):
        run = rebuild(testbed, "host3", *flags)
        result = run.results()["host3"]
        assert run.code == 1 and (result["outcome"], result["stage"]) == (outcome, "build"), run
        assert "nixos-system-host3-broken" in result["message"], run
    assert unchanged(before, testbed.state("host3")) and testbed.switches("host3") == switches


def test_a_host_that_is_down_fails_at_the_copy(testbed):
    """Point 6: nix-copy-closure connects before it prints `copying`: the ssh error alone says it is the copy."""
    testbed.flake.configure()
    before = testbed.state("host3")
    testbed.link("host3", down=True)
    run = rebuild(testbed, "host3")
    testbed.link("host3", down=False)
    result = run.results()["host3"]
    assert run.code == 1 and (result["outcome"], result["stage"]) == ("failed", "push"), run
    assert "cannot connect" in result["message"]
    assert unchanged(before, testbed.state("host3"))


def test_a_failing_switch_is_failed_at_activation_with_the_profile_moved(testbed):
    """Point 6: the switch fails after the profile moved: the message says the host boots the new generation next
    while it runs the previous one, which is what the host shows."""
    testbed.flake.configure()
    before = testbed.state("host3")
    testbed.fault("host3", "fail-switch")
    run = rebuild(testbed, "host3")
    after = testbed.state("host3")
    result = run.results()["host3"]
    assert run.code == 1 and (result["outcome"], result["stage"]) == ("failed", "activate"), run
    assert before.generation is not None and after.generation == before.next_generation
    assert after.current_system == before.current_system != after.path
    assert "boots next" in result["message"]


def test_parallel_with_one_failing_switch(testbed):
    """host3 fails (a failed switch leaves its profile ahead of what runs); host2, which the later tests roll back,
    is left on a plain new generation."""
    testbed.flake.configure()
    before = {h: testbed.state(h) for h in ("host2", "host3")}
    testbed.fault("host3", "fail-switch")
    run = rebuild(testbed, "host2", "host3", "--parallel", "2")
    assert run.code == 1, run
    assert len(run.of("run_started")[0]["argvs"]) == 2  # one nixos-rebuild per host
    assert run.outcome("host2") == "succeeded" and switched(before["host2"], testbed.state("host2"))
    assert run.outcome("host3") == "failed"
    assert testbed.state("host3").current_system == before["host3"].current_system
