"""`labtui deploy` driving the real deploy-rs against testbed hosts; outcomes checked against each host's real state
(read inside its namespaces), never against deploy-rs's words."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.testbed]


def events_of(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def results(events: list[dict]) -> dict[str, dict]:
    """The last node_result of each node."""
    return {e["node"]: e for e in events if e["event"] == "node_result"}


def test_success_moves_the_host_to_the_new_generation(testbed):
    testbed.flake.configure()
    before = testbed.state("host1")
    proc = testbed.labtui("deploy", "host1", "--yes", "--json", "--skip-checks")
    events = events_of(proc.stdout)
    after = testbed.state("host1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert after.generation == before.generation + 1
    assert after.current_system == after.path != before.current_system
    assert results(events)["host1"]["outcome"] == "succeeded"
    assert events[-1]["event"] == "run_result" and events[-1]["outcome"] == "succeeded"
