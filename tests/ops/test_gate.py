from __future__ import annotations

from dataclasses import replace

import pytest

from labtui.errors import UserError
from labtui.ops.gate import make_post_deploy_gate, snapshot_before
from labtui.runs.events import CheckResultEvent, NodeResult, Rollback, RollbackResult, event_from_dict
from labtui.sim.state import Generation, fake_store_path


def deploy_new_generation(lab, name, *, breaks=()):
    """What a deploy does to a simulated host: a new current generation, maybe with broken units."""
    with lab.update(name) as sim:
        number = max(g.number for g in sim.generations) + 1
        sim.generations.append(Generation(number, "2026-11-26T12:00:00Z", fake_store_path(f"sys-{number}"),
                                          "24.05.9", sim.generation(sim.current).kernel))
        sim.current = number
        for unit in breaks:
            sim.units[unit] = "failed"


def succeeded(node):
    return NodeResult(ts=0, node=node, profile="system", outcome="succeeded", stage="confirm")


async def test_gate_rolls_back_on_new_failed_unit(lab, shell, inventory, clock):
    before = await snapshot_before(list(inventory.hosts), shell)
    assert before["web1"] == frozenset()
    deploy_new_generation(lab, "web1", breaks=("nginx.service",))
    gate = make_post_deploy_gate(inventory, shell, "rollback", before=before, clock=clock)
    events = [e async for e in gate("web1", succeeded("web1"))]
    checks = {e.check: e.ok for e in events if isinstance(e, CheckResultEvent)}
    assert checks == {"nginx up": False, "no new failed units": False}
    rollback = [e for e in events if isinstance(e, Rollback)]
    assert rollback and rollback[0].rollback_kind == "health"
    result = [e for e in events if isinstance(e, RollbackResult)][0]
    assert (result.from_generation, result.to_generation, result.ok) == (4, 3, True)
    final = events[-1]
    assert isinstance(final, NodeResult) and final.outcome == "rolled_back" and final.stage == "health"
    assert lab.load("web1").current == 3
    # Every event survives the journal's JSON round trip.
    for event in events:
        assert event_from_dict(event.to_dict()) == event


async def test_gate_report_policy_only_reports(lab, shell, inventory, clock):
    deploy_new_generation(lab, "web1", breaks=("nginx.service",))
    gate = make_post_deploy_gate(inventory, shell, "report", clock=clock)
    events = [e async for e in gate("web1", succeeded("web1"))]
    assert events[-1].outcome == "failed" and "nginx.service is failed" in events[-1].message
    assert lab.load("web1").current == 4


async def test_gate_passes_healthy_hosts_and_skips_failed_deploys(lab, shell, inventory, clock):
    deploy_new_generation(lab, "web2")
    gate = make_post_deploy_gate(inventory, shell, "rollback", before={"web2": frozenset()}, clock=clock)
    events = [e async for e in gate("web2", succeeded("web2"))]
    assert not [e for e in events if isinstance(e, NodeResult)]
    assert events[-1].line == "all 2 health checks passed"
    failed = replace(succeeded("web2"), outcome="failed")
    assert [e async for e in gate("web2", failed)] == []


async def test_gate_check_recovers_within_window(lab, shell, inventory, clock):
    deploy_new_generation(lab, "web1", breaks=("nginx.service",))

    def recover(c):
        with lab.update("web1") as sim:
            sim.units["nginx.service"] = "active"

    clock.on_sleep = recover
    gate = make_post_deploy_gate(inventory, shell, "rollback", clock=clock)
    events = [e async for e in gate("web1", succeeded("web1"))]
    [check] = [e for e in events if isinstance(e, CheckResultEvent)]
    assert check.ok and check.attempts == 2
    assert lab.load("web1").current == 4


def test_bad_policy():
    with pytest.raises(UserError, match="policy"):
        make_post_deploy_gate(None, None, "panic")


async def test_gate_as_orchestrator_hook(lab, shell, clock, tmp_path, monkeypatch):
    """The gate plugged into a real DeployRun (deploy-rs emulator): a broken host ends `rolled_back`."""
    pytest.importorskip("labtui.sim.deploy_rs")  # the deploy-rs emulator
    from labtui.cli.supervise import health_gate_for
    from labtui.deploy.orchestrator import DeployRun
    from labtui.deploy.request import DeployRequest
    from labtui.deploy.runner import RunnerTimings
    from tests.deploy.cli_harness import make_inventory
    from tests.deploy.emulated import Emulated

    emulated = Emulated(tmp_path, monkeypatch)
    emulated.scenario({"web1": "success", "web2": "success"})
    inventory = make_inventory("web1,web2")
    request = DeployRequest(targets=[("web1", None), ("web2", None)], health_gate="rollback")
    gate = health_gate_for(request, inventory, shell)
    gate.clock = clock
    # The deploy "breaks" nginx on web1 once it activates: before the gate runs, after the snapshot.
    await gate._wait_snapshot()
    assert gate.before == {"web1": frozenset(), "web2": frozenset()}
    deploy_new_generation(lab, "web1", breaks=("nginx.service",))
    run = DeployRun(request, inventory, timings=RunnerTimings(quiet_flush=0.05, cancel_grace=(1.0, 1.0),
                                                              late_output=1.0, stall_after=None))
    run.post_node = gate
    events = [e async for e in run.events()]
    final = {e.node: e.outcome for e in events if isinstance(e, NodeResult)}
    assert final == {"web1": "rolled_back", "web2": "succeeded"}
    assert lab.load("web1").current == 3
    assert any(isinstance(e, Rollback) and e.rollback_kind == "health" for e in events)
    boot = DeployRequest(targets=[("web1", None)], action="boot", health_gate="rollback")
    assert health_gate_for(boot, inventory, shell) is None


def test_describe_ops_events():
    from labtui.cli.printer import describe_check, describe_reboot
    from labtui.runs.events import CheckResultEvent, RebootProgress

    check = CheckResultEvent(ts=0, node="web1", check="nginx up", check_kind="unit", ok=False, attempts=4,
                             message="nginx.service is failed", duration=21.04)
    assert describe_check(check) == "check nginx up: FAILED: nginx.service is failed (4 attempts, 21.0s)"
    assert describe_reboot(RebootProgress(ts=0, node="a", phase="down", message="SSH went away")) == \
        "reboot down: SSH went away"
