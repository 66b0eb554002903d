"""labtui's own build before the deploy, with real Nix on the testbed's deploy-rs example flake (extended with fake
packages, tests/support/fleet_flake.py) and the deploy-rs emulator after it: one evaluation and one
`nix-store --realise` for all nodes, progress per node, a failing node named with its derivation and log tail,
the others deployed."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import zlib

import pytest

from labtui.deploy.build import BuildTarget, evaluate, invalid_paths, plan
from labtui.deploy.orchestrator import DeployRun
from labtui.deploy.request import DeployRequest
from labtui.deploy.runner import RunnerTimings
from labtui.inventory import load_inventory
from labtui.runs.events import BuildProgress, NodeResult, Output, RunResult, StageChanged
from tests.deploy.emulated import emulated  # noqa: F401  (fixture)
from tests.support import require_tool
from tests.support.fleet_flake import FleetSettings, make_fleet_flake

pytestmark = pytest.mark.integration

FAST = RunnerTimings(quiet_flush=0.05, exit_drain=0.2, stall_after=None, cancel_grace=(0.5, 0.5), late_output=0.5)


@pytest.fixture
def fleet(tmp_path, request):
    require_tool("nix", "labtui builds with the real Nix")
    tag = f"{request.node.name[:40]}-{secrets.token_hex(4)}"  # a new generation: nothing of it is built yet
    flake = make_fleet_flake(tmp_path / "flake", tmp_path / "tb", hosts=3,
                             settings=FleetSettings(tag=tag, build_lines=3, size=unique_size(tag)))
    flake.tag = tag
    try:
        yield flake
    finally:
        flake.cleanup()


def unique_size(tag: str) -> int:
    """Package contents no other test run built yet (so every run builds them)."""
    return 4096 + zlib.crc32(tag.encode()) % 100_000


def targets(nodes):
    return [BuildTarget(n, "system", ("deploy", "nodes", n, "profiles", "system", "path")) for n in nodes]


async def collect(run: DeployRun) -> list:
    return [event async for event in run.events()]


async def test_one_evaluation_gives_every_target_and_a_failing_one_is_named(fleet):
    fleet.write(FleetSettings(tag=fleet.tag, eval_error=["host3"], size=unique_size(fleet.tag)))
    found, errors = await evaluate(str(fleet.directory), targets(["host1", "host2", "host3"]))
    assert set(found) == {"host1.system", "host2.system"}
    assert found["host1.system"].drv.endswith("-activatable-nixos-system-host1-24.11.20241201.9abcdef.drv")
    assert errors == {"host3.system": "evaluation failed: testbed: evaluation error in host3"}


async def test_each_node_plans_its_share_and_shares_count_for_all(fleet):
    found, _ = await evaluate(str(fleet.directory), targets(["host1", "host2"]))
    plans = await plan(found)
    assert set(plans) == {"host1", "host2"}
    packages = plans["host1"].will_build & plans["host2"].will_build
    assert {p.rsplit("-", 1)[0].split("-", 1)[1] for p in packages} == {"nginx", "openssl", "htop"}
    assert len(plans["host1"].will_build) == 5  # the packages, the system, the profile


async def test_prebuild_then_deploy_with_progress_per_node(fleet, emulated):
    emulated.scenario({"host1": "success", "host2": "success", "host3": "success"})
    inventory = load_inventory(flake=str(fleet.directory))
    run = DeployRun(DeployRequest(targets=[(n, None) for n in ("host1", "host2", "host3")], prebuild=True),
                    inventory, timings=FAST)
    events = await collect(run)
    progress = [e for e in events if isinstance(e, BuildProgress)]
    finals = {e.node: e for e in progress if e.done}
    assert set(finals) == {"host1", "host2", "host3"}
    assert all(f.built == f.to_build == 5 and not f.failed for f in finals.values())
    lines = [e.line for e in events if isinstance(e, Output) and e.source == "build"]
    assert "activatable-nixos-system-host2-24.11.20241201.9abcdef> compiling unit 3 of 3" in lines
    first_build = next(i for i, e in enumerate(events) if isinstance(e, StageChanged) and e.stage == "build")
    last_progress = max(i for i, e in enumerate(events) if isinstance(e, BuildProgress))
    first_push = next(i for i, e in enumerate(events) if isinstance(e, StageChanged) and e.stage == "push")
    assert first_build < last_progress < first_push  # built first, then handed to deploy-rs
    assert {e.node: e.outcome for e in events if isinstance(e, NodeResult)} == dict.fromkeys(finals, "succeeded")
    outs = subprocess.run(["nix", "eval", "--json", f"{fleet.directory}#deploy.nodes", "--apply",
                           "ns: map (n: ns.${n}.profiles.system.path.outPath) (builtins.attrNames ns)"],
                          capture_output=True, text=True, check=True).stdout
    assert await invalid_paths(json.loads(outs)) == set()


async def test_a_failing_build_stops_only_its_node_and_says_why(fleet, emulated):
    fleet.write(FleetSettings(tag=fleet.tag + "f", build_lines=3, fail_build=["host2"], eval_error=["host3"],
                              size=unique_size(fleet.tag + "f")))
    emulated.scenario({"host1": "success", "host2": "success", "host3": "success"})
    inventory = load_inventory(flake=str(fleet.directory))
    run = DeployRun(DeployRequest(targets=[(n, None) for n in ("host1", "host2", "host3")], prebuild=True),
                    inventory, timings=FAST)
    events = await collect(run)
    results = {e.node: e for e in events if isinstance(e, NodeResult)}
    assert results["host1"].outcome == "succeeded"
    assert (results["host2"].outcome, results["host2"].stage) == ("not_deployed", "build")
    assert results["host2"].message == ("build of activatable-nixos-system-host2-24.11.20241201.9abcdef failed "
                                        "(with exit code 1): testbed: intentional build failure of "
                                        "activatable-nixos-system-host2-24.11.20241201.9abcdef")
    assert (results["host3"].outcome, results["host3"].stage) == ("not_deployed", "eval")
    assert "testbed: evaluation error in host3" in results["host3"].message
    deployed = {e.node for e in events if isinstance(e, StageChanged) and e.stage == "push"}
    assert deployed == {"host1"}  # deploy-rs never ran for the others
    (host2_final,) = [e for e in events if isinstance(e, BuildProgress) and e.node == "host2" and e.done]
    assert host2_final.failed[0].tail[-1].startswith("testbed: intentional build failure")
    assert isinstance(events[-1], RunResult) and events[-1].outcome == "failed"


async def test_a_second_build_has_nothing_to_do(fleet, emulated):
    emulated.scenario({"host1": "success"})
    inventory = load_inventory(flake=str(fleet.directory))
    for _ in range(2):
        events = await collect(DeployRun(DeployRequest(targets=[("host1", None)], prebuild=True), inventory,
                                         timings=FAST))
    (final,) = [e for e in events if isinstance(e, BuildProgress)]
    assert final.done and (final.built, final.to_build) == (0, 0)


async def test_cancel_during_the_build_stops_nix(fleet, emulated):
    # A long build log: the cancel comes while it builds.
    fleet.write(FleetSettings(tag=fleet.tag + "c", build_lines=200000, size=unique_size(fleet.tag + "c")))
    emulated.scenario({"host1": "success"})
    inventory = load_inventory(flake=str(fleet.directory))
    run = DeployRun(DeployRequest(targets=[("host1", None)], prebuild=True), inventory, timings=FAST)
    events = []
    async for event in run.events():
        events.append(event)
        if isinstance(event, Output) and event.source == "build":
            asyncio.ensure_future(run.cancel())
    assert events[-1].outcome == "cancelled"
    assert not any(isinstance(e, StageChanged) and e.stage == "push" for e in events)
