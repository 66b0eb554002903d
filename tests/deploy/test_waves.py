"""Deploy waves: the plan a `--waves` spec makes, and the orchestrator going on only while every wave is healthy
(deploy-rs emulated, the health gate a scripted hook)."""

from __future__ import annotations

import time

import pytest

from labtui.deploy.orchestrator import DeployRun
from labtui.deploy.request import DeployRequest
from labtui.deploy.waves import describe_plan, plan_waves
from labtui.errors import UserError
from labtui.runs.events import NodeResult, Rollback, RunStarted, StageChanged, WaveResult, WaveStarted
from tests.deploy.cli_harness import make_inventory
from tests.deploy.emulated import emulated  # noqa: F401  (fixture)
from tests.deploy.test_orchestrator import FAST, run_all

HOSTS = [f"h{i:02d}" for i in range(1, 21)]


@pytest.mark.parametrize(("spec", "sizes"), [
    ("1,25%,100%", [1, 4, 15]),
    ("1,25%", [1, 4, 15]),  # the hosts no entry reaches are a last wave, never left out
    ("50%", [10, 10]),
    ("1,2,3", [1, 1, 1, 17]),
    ("100%", [20]),
    ("30", [20]),
    ("1,10%,100%", [1, 1, 18]),
])
def test_wave_sizes(spec, sizes):
    waves = plan_waves(HOSTS, spec)
    assert [len(w) for w in waves] == sizes
    assert [h for w in waves for h in w] == HOSTS  # every host once, in the order given


def test_a_plan_reads_as_one_line():
    assert describe_plan(plan_waves(["a", "b", "c"], "1,100%")) == "wave 1: a · wave 2: b, c"


@pytest.mark.parametrize(("spec", "message"), [
    ("0,100%", "`0` is not a wave size"),
    ("1,abc", "`abc` is not a wave size"),
    ("150%", "`150%` is not a wave size"),
    ("5,3", "`3` adds no host"),
    ("", "`` is not a wave size"),
])
def test_wave_mistakes_are_one_line(spec, message):
    with pytest.raises(UserError, match=message):
        plan_waves(HOSTS, spec)


def test_waves_and_atomic_are_refused():
    inventory = make_inventory("web1,web2")
    with pytest.raises(UserError, match="--waves and --atomic do not go together"):
        DeployRun(DeployRequest(targets=[("web1", None), ("web2", None)], atomic=True, waves=[["web1"], ["web2"]]),
                  inventory)


def test_waves_bring_the_health_gate():
    request = DeployRequest(targets=[("web1", None)], waves=[["web1"]])
    assert request.health_gate == "report"


def gate_failing(*bad: str):
    """A health gate: every node passes but those named."""
    async def gate(node, result):
        yield StageChanged(ts=time.time(), node=node, profile=result.profile, stage="health")
        if node in bad:
            yield NodeResult(ts=time.time(), node=node, profile=result.profile, outcome="failed", stage="health",
                             message="health checks failed: nginx down")
    return gate


async def rollback(node: str, reason: str):
    yield Rollback(ts=time.time(), node=node, profile="system", rollback_kind="health")
    yield NodeResult(ts=time.time(), node=node, profile="system", outcome="rolled_back", stage="health",
                     message=f"{reason}; rolled back to generation 41")


async def test_every_wave_healthy_deploys_all_in_order(emulated):
    nodes = ["web1", "web2", "db1", "db2"]
    emulated.scenario(dict.fromkeys(nodes, "success"))
    run = DeployRun(DeployRequest(targets=[(n, None) for n in nodes], waves=plan_waves(nodes, "1,50%,100%")),
                    make_inventory(",".join(nodes)), timings=FAST, post_node=gate_failing())
    events = await run_all(run)
    assert isinstance(events[0], RunStarted) and events[0].waves == [["web1"], ["web2"], ["db1", "db2"]]
    waves = [(e.wave, e.nodes) for e in events if isinstance(e, WaveStarted)]
    assert waves == [(1, ["web1"]), (2, ["web2"]), (3, ["db1", "db2"])]
    assert [(e.wave, e.ok) for e in events if isinstance(e, WaveResult)] == [(1, True), (2, True), (3, True)]
    first_push = {e.node: i for i, e in reversed(list(enumerate(events)))
                  if isinstance(e, StageChanged) and e.stage == "push"}
    wave1_done = next(i for i, e in enumerate(events) if isinstance(e, WaveResult) and e.wave == 1)
    assert first_push["web1"] < wave1_done < first_push["web2"]  # wave 2 waited for wave 1's gate
    assert events[-1].outcome == "succeeded"


async def test_a_failing_wave_stops_the_run_and_rolls_the_wave_back(emulated):
    nodes = ["web1", "web2", "db1", "db2", "app1"]
    emulated.scenario(dict.fromkeys(nodes, "success"))
    run = DeployRun(DeployRequest(targets=[(n, None) for n in nodes], waves=plan_waves(nodes, "1,3,100%"),
                                  health_gate="rollback"),
                    make_inventory(",".join(nodes)), timings=FAST, post_node=gate_failing("db1"),
                    wave_rollback=rollback)
    events = await run_all(run)
    results = {e.node: e for e in events if isinstance(e, NodeResult)}  # the last word on each node
    assert results["web1"].outcome == "succeeded"  # wave 1 is done and stays
    assert results["db1"].outcome == "failed" and results["web2"].outcome == "rolled_back"
    assert results["web2"].message.startswith("wave 2 failed: db1 failed; rolled back")
    for node in ("db2", "app1"):
        assert (results[node].outcome, results[node].message) == ("not_deployed", "not deployed: wave 2 failed: "
                                                                                  "db1 failed")
    (failed,) = [e for e in events if isinstance(e, WaveResult) and not e.ok]
    assert failed.wave == 2 and failed.rolled_back == ["web2"]
    assert not any(isinstance(e, StageChanged) and e.node in ("db2", "app1") for e in events)
    assert events[-1].outcome == "failed"


async def test_a_deploy_failure_stops_the_waves_too(emulated):
    nodes = ["web1", "web2", "db1"]
    emulated.scenario({"web1": "activation-fails", "web2": "success", "db1": "success"})
    run = DeployRun(DeployRequest(targets=[(n, None) for n in nodes], waves=plan_waves(nodes, "1,100%")),
                    make_inventory(",".join(nodes)), timings=FAST, post_node=gate_failing())
    events = await run_all(run)
    results = {e.node: e.outcome for e in events if isinstance(e, NodeResult)}
    assert results == {"web1": "rolled_back", "web2": "not_deployed", "db1": "not_deployed"}
