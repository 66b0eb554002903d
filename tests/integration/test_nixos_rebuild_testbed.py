"""`labtui deploy --method nixos-rebuild` driving the real bash nixos-rebuild (../shared/nixos-rebuild) against testbed
hosts; outcomes checked against each host's real state (read inside its namespaces)."""

from __future__ import annotations

import pytest

from tests.integration.test_deploy_rs_testbed import events_of, results

pytestmark = [pytest.mark.integration, pytest.mark.testbed]


def test_switch_moves_the_host_to_the_new_generation(testbed):
    testbed.flake.configure()
    before = testbed.state("host3")
    proc = testbed.labtui("deploy", "host3", "--method", "nixos-rebuild", "--yes", "--json")
    after = testbed.state("host3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert after.generation == before.generation + 1
    assert after.current_system == after.path != before.current_system
    assert results(events_of(proc.stdout))["host3"]["outcome"] == "succeeded"
